package simulator

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultScenario(t *testing.T) {
	sc := DefaultScenario()
	if err := sc.Validate(); err != nil {
		t.Fatalf("DefaultScenario().Validate() = %v", err)
	}
	tg, err := sc.Targets()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, s := range tg.HourShare {
		sum += s
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("hour shares sum to %v; want 1", sum)
	}
	// Trough at 4-5 am, high from noon to 10 pm (the calibrated default shape of a day).
	if tg.HourShare[4] > tg.HourShare[13]/5 {
		t.Errorf("hour shares: 4 am %.4f, 1 pm %.4f; want a deep night trough", tg.HourShare[4], tg.HourShare[13])
	}
	m, _ := compile(&sc)
	// The chance to complete, averaged over the device mix, gives the
	// target abandonment once returning customers' new baskets count.
	avg := 0.0
	for i, d := range sc.Devices {
		avg += d.Share * m.completion[i]
	}
	if pa := 1 - avg; pa < sc.AbandonRate || pa > sc.AbandonRate+0.03 {
		t.Errorf("per-journey abandonment %.4f; want a little above the target %.2f", pa, sc.AbandonRate)
	}
	if m.completion[1] < 2*m.completion[0] || m.completion[1] > 2.2*m.completion[0] {
		t.Errorf("completion desktop %.3f vs mobile %.3f; want 42:20", m.completion[1], m.completion[0])
	}
}

func TestParseScenario(t *testing.T) {
	sc, err := ParseScenario([]byte(`{"days": 3, "rate": 50.5, "hourProfile": "news", "selfReturn": {"share": 0.1},
		"checkout": {"completeMedian": "2m30s"}, "start": "2025-06-01T12:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultScenario()
	if sc.Days != 3 || sc.Rate != 50.5 || sc.HourProfile != "news" || sc.SelfReturn.Share != 0.1 ||
		sc.Checkout.CompleteMedian.D() != 150*time.Second || !sc.Start.Equal(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseScenario kept %+v; want the fields given", sc)
	}
	// Fields left out keep their defaults, within nested objects too.
	if sc.SelfReturn.Median != d.SelfReturn.Median || sc.Checkout.AbandonMedian != d.Checkout.AbandonMedian ||
		!reflect.DeepEqual(sc.Offers, d.Offers) || sc.AbandonRate != d.AbandonRate {
		t.Errorf("ParseScenario lost defaults: %+v", sc)
	}
	// A list given replaces the default one.
	sc, err = ParseScenario([]byte(`{"channels": [{"name": "radio", "weight": 1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Channels) != 1 || sc.Channels[0].Name != "radio" {
		t.Errorf("channels = %+v; want the one given", sc.Channels)
	}
}

func TestParseScenarioErrors(t *testing.T) {
	tests := []struct{ json, want string }{
		{``, "empty input"},
		{`{`, "truncated JSON"},
		{`{"days": 3} {}`, "unexpected data after"},
		{`{"dayz": 3}`, `unknown field "dayz"`},
		{`{"days": "3"}`, "days: expected int"},
		{`{"days": 0}`, "days: 0 is not from 1 to 3660"},
		{`{"rate": -1}`, "rate: -1 is not"},
		{`{"start": "yesterday"}`, "scenario:"},
		{`{"start": "1999-12-31T00:00:00Z"}`, "start: year 1999"},
		{`{"timeZone": "Mars/Olympus"}`, `timeZone: unknown time zone "Mars/Olympus"`},
		{`{"hourProfile": "sports"}`, `hourProfile: "sports" is not one of news, retail`},
		{`{"hourly": [1, 2, 3]}`, "hourly: has 3 values, want 24"},
		{`{"hourly": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`, "all 24 multipliers are 0"},
		{`{"weekday": [1, 1]}`, "weekday: has 2 values, want 7"},
		{`{"weekday": [1, 1, 1, 1, 1, 1, -1]}`, "weekday[6]: -1 is not"},
		{`{"peakDays": [{"date": "2025-13-01", "multiplier": 2}]}`, "peakDays[0].date"},
		{`{"peakDays": [{"date": "2025-11-28", "multiplier": 2}, {"date": "2025-11-28", "multiplier": 3}]}`, "peakDays[1].date: 2025-11-28 appears twice"},
		{`{"offers": []}`, "offers: empty"},
		{`{"offers": [{"name": "A", "path": "", "weight": 1}]}`, "offers[0].path: missing"},
		{`{"offers": [{"name": "A", "path": "/a", "weight": 0}]}`, "offers: weights sum to 0"},
		{`{"offers": [{"name": "A", "path": "/a", "weight": 1}, {"name": "B", "path": "/a", "weight": 1}]}`, `offers[1].path: "/a" appears twice`},
		{`{"offers": [{"name": "A\u0001", "path": "/a", "weight": 1}]}`, "offers[0].name: contains a control"},
		{`{"promoCodes": [{"code": "X", "share": 0.7}, {"code": "Y", "share": 0.7}]}`, "promoCodes: shares sum to 1.4"},
		{`{"channels": [{"name": "a", "weight": 1}, {"name": "a", "weight": 1}]}`, `channels[1].name: "a" appears twice`},
		{`{"devices": [{"name": "phone", "share": -1, "completion": 1}]}`, "devices[0]: weight -1"},
		{`{"abandonRate": 0.1, "devices": [{"name": "a", "share": 0.5, "completion": 1}, {"name": "b", "share": 0.5, "completion": 100}]}`, "devices[1].completion: gives b a chance to complete above 1"},
		{`{"abandonRate": 1.5}`, "abandonRate: 1.5 is not a probability"},
		{`{"ssoShare": -0.1}`, "ssoShare: -0.1 is not a probability"},
		{`{"checkout": {"completeMedian": "0s"}}`, "checkout.completeMedian: 0s is not from 1s"},
		{`{"checkout": {"completeMedian": 150}}`, "a duration is a string"},
		{`{"checkout": {"completeMedian": "fast"}}`, `bad duration "fast"`},
		{`{"checkout": {"abandonSigma": 9}}`, "checkout.abandonSigma: 9 is not from 0 to 5"},
		{`{"selfReturn": {"median": "1000h"}}`, "selfReturn.median"},
		{`{"reminders": {"open": 0.1, "click": 0.2}}`, "reminders.click: 0.2 is above reminders.open"},
		{`{"reminders": {"stepFactors": []}}`, "reminders.stepFactors: empty"},
		{`{"reminders": {"stepFactors": [1, 9]}}`, "reminders.stepFactors[1]"},
		{`{"emailDomains": ["localhost"]}`, `emailDomains[0]: "localhost" is not a usable email domain`},
		{`{"emailDomains": []}`, "emailDomains: empty"},
		{`{"customerPool": 0}`, "customerPool: 0"},
		{`{"basketTTL": "1h"}`, "basketTTL: 1h0m0s is not from 2h"},
		{`{"abandonRate": 0.99, "selfReturn": {"share": 1, "sameBasket": 0}}`, "abandonRate: 0.99 cannot be reached"},
	}
	for _, tc := range tests {
		_, err := ParseScenario([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseScenario(%s) = %v; want an error containing %q", tc.json, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "scenario: ") {
			t.Errorf("ParseScenario(%s) = %q; want it to start with \"scenario: \"", tc.json, err)
		}
	}
}

// TestScenarioRoundTrip checks that a scenario written as JSON reads back
// the same, so that a printed default is a starting point for a file.
func TestScenarioRoundTrip(t *testing.T) {
	for _, sc := range []Scenario{DefaultScenario(), mustParse(t, readTestdata(t, "black-friday.json"))} {
		data, err := json.Marshal(sc)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseScenario(data)
		if err != nil {
			t.Fatalf("ParseScenario(Marshal(sc)) = %v", err)
		}
		if !reflect.DeepEqual(back, sc) {
			t.Errorf("round trip changed the scenario:\n%+v\n%+v", sc, back)
		}
	}
}

func mustParse(t testing.TB, data []byte) Scenario {
	t.Helper()
	sc, err := ParseScenario(data)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestTimeZone(t *testing.T) {
	if _, err := time.LoadLocation("Europe/London"); err != nil {
		t.Fatalf("no time zone data on this machine: %v", err)
	}
	sc := DefaultScenario()
	sc.TimeZone = "America/New_York"
	sc.Days = 2
	sc.Rate = float64(big(300, 150))
	rep, _ := runEngine(t, sc, 1, nil)
	// The report counts hours in New York time: the trough is at 4 am there.
	if rep.CreatedByHour[4]*4 > rep.CreatedByHour[13] {
		t.Errorf("local 4 am %d, 1 pm %d; want the trough in local time", rep.CreatedByHour[4], rep.CreatedByHour[13])
	}
	// In UTC, the busiest hours come five hours later than in New York.
	utc := DefaultScenario()
	utc.Days = sc.Days
	utc.Rate = sc.Rate
	rep2, _ := runEngine(t, utc, 1, nil)
	if rep.CreatedByHour[4] > 2*rep2.CreatedByHour[4]+50 || rep2.CreatedByHour[4] > 2*rep.CreatedByHour[4]+50 {
		t.Errorf("4 am local: %d in New York, %d in UTC; want alike", rep.CreatedByHour[4], rep2.CreatedByHour[4])
	}
}
