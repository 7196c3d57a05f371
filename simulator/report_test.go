package simulator

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestNum(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {1234567, "1,234,567"}, {-12345, "-12,345"}} {
		if got := num(tc.n); got != tc.want {
			t.Errorf("num(%d) = %q; want %q", tc.n, got, tc.want)
		}
	}
}

func TestTable(t *testing.T) {
	var b strings.Builder
	table{{"name", "count"}, {"a long label", "1"}, {"x", "1,000"}}.write(&b)
	want := "name          count\na long label      1\nx             1,000\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestReport(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 2
	sc.Rate = 100
	sc.ControlShare = 0.5
	rep, _ := runEngine(t, sc, 2, &Options{Campaign: &testCampaign{steps: []int64{0}}})

	// The funnel's parts add up.
	f := rep.Funnel
	var byAuth, byDevice, byChannel, reasons, byHour, byDay int64
	for _, g := range rep.ByAuth {
		byAuth += g.Created
	}
	for _, g := range rep.ByDevice {
		byDevice += g.Created
	}
	for _, g := range rep.ByChannel {
		byChannel += g.Created
	}
	for _, n := range rep.Reasons {
		reasons += n
	}
	for _, n := range rep.CreatedByHour {
		byHour += n
	}
	for _, n := range rep.CreatedByDay {
		byDay += n
	}
	for name, got := range map[string]int64{"by auth": byAuth, "by device": byDevice, "by channel": byChannel, "by hour": byHour, "by day": byDay} {
		if got != f.Created {
			t.Errorf("%s adds up to %d baskets; want %d", name, got, f.Created)
		}
	}
	if reasons != f.Abandoned {
		t.Errorf("reasons add up to %d; want the %d abandoned", reasons, f.Abandoned)
	}
	var events int64
	for _, n := range rep.EventsByType {
		events += n
	}
	if events != rep.Events || rep.EventsByType["created"] != f.Created || rep.EventsByType["completed"] > f.Completed {
		t.Errorf("events by type %v for %d events, %d created, %d completed", rep.EventsByType, rep.Events, f.Created, f.Completed)
	}
	if f.Abandoned+f.Completed-f.Returned-f.Recovered > f.Created || f.Abandoned+f.Completed < f.Created-rep.InCheckout {
		t.Errorf("funnel %+v does not add up", f)
	}

	// JSON round trip.
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, rep) {
		t.Errorf("JSON round trip changed the report:\n%+v\n%+v", rep, &back)
	}
	for _, key := range []string{`"funnel":`, `"abandonmentRate":`, `"byAuth":{"anonymous":`, `"campaign":{"sent":`, `"engine":{`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON report lacks %s", key)
		}
	}

	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, want := range []string{
		"Simulated 2025-01-06 00:00 to 2025-01-08 00:00 UTC (2 days), seed 2, 100 baskets in an average hour",
		"\ncreated ", "abandoned", "returned on their own", "recovered by reminders",
		"by auth", "sso", "anonymous", "by device", "mobile", "by channel", "newsletter",
		"abandonment reasons: browsing", "baskets created by hour of day", "withheld (control group)",
		"control group", "uplift:", "engine now:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "@") {
		t.Error("the text report shows an email")
	}
}
