package simulator

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket/plot"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixedReport is a report of fixed content, with a campaign and the
// engine's state.
func fixedReport() *Report {
	g := func(created, contactable, completed, abandoned, abandonedC, returned int64) Funnel {
		c := counts{created, contactable, completed, abandoned, abandonedC, returned, 0}
		return c.funnel()
	}
	f := g(24000, 9000, 7000, 17000, 6000, 2000)
	f.Recovered = 300
	var byHour [24]int64
	var share [24]float64
	for h := range byHour {
		share[h] = (1 + float64((h+6)%24)) / 300
		byHour[h] = int64(24000 * share[h])
	}
	return &Report{
		Seed: 7, Start: time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 1, 9, 0, 0, 0, 0, time.UTC),
		Days: 3, Rate: 333, Events: 123456, Customers: 20000, InCheckout: 12,
		Funnel: f,
		ByAuth: map[string]Funnel{"sso": g(8000, 8000, 4000, 4000, 4000, 800), "anonymous": g(16000, 1000, 3000, 13000, 2000, 1200)},
		ByDevice: map[string]Funnel{"mobile": g(14000, 4000, 3000, 11000, 3000, 1000), "desktop": g(8000, 4000, 3500, 4500, 2500, 800),
			"tablet": g(2000, 1000, 500, 1500, 500, 200)},
		ByChannel: map[string]Funnel{"newsletter": g(6000, 4000, 2500, 3500, 2500, 500), "direct": g(10000, 3000, 3000, 7000, 2000, 900),
			"social": g(5000, 1000, 1000, 4000, 1000, 400), "search": g(3000, 1000, 500, 2500, 500, 200)},
		Reasons:       map[string]int64{"browsing": 9000, "price": 5000, "payment failed": 2000, "login wall": 1000},
		CreatedByHour: byHour,
		CreatedByDay:  []int64{7000, 8000, 9000},
		Targets:       Targets{AbandonRate: 0.7, ShareContactable: 0.35, SSOShare: 0.33, ReturnRate: 0.12, HourShare: share},
		Campaign: &CampaignReport{Sent: 5000, SentByStep: []int64{4000, 1000}, Withheld: 600, Undeliverable: 20, Opened: 2000,
			Clicked: 600, Purchased: 300, DeadLinks: 3, AlreadyBought: 40,
			Treatment: Conversion{Abandoned: 5400, Converted: 700, Rate: 700.0 / 5400}, Control: Conversion{Abandoned: 600, Converted: 50, Rate: 50.0 / 600},
			Uplift: 700.0/5400 - 50.0/600},
		Engine: &EngineState{Open: 40, Contactable: 3000, Abandoned: 14000, Completed: 7300, Expired: 0, Erased: 5},
	}
}

func TestReportHTMLGolden(t *testing.T) {
	var b bytes.Buffer
	if err := fixedReport().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "report.html.golden")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("the HTML report differs from %s (run with -update to accept):\n%s", path, b.Bytes())
	}
}

// TestReportHTML writes the page of a real run: self-contained, with every
// chart and the numbers on hover.
func TestReportHTML(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 2
	sc.Rate = 100
	rep, _ := runEngine(t, sc, 2, &Options{Campaign: &testCampaign{steps: []int64{0}}})
	for name, r := range map[string]*Report{"run": rep, "fixed": fixedReport()} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := r.WriteHTML(&b); err != nil {
				t.Fatal(err)
			}
			s := b.String()
			if err := plot.CheckSelfContained(s); err != nil {
				t.Error(err)
			}
			if got, want := strings.Count(s, "<svg "), 8; got != want {
				t.Errorf("%d charts; want %d", got, want)
			}
			f := r.Funnel
			for _, want := range []string{
				">Funnel</text>", ">Baskets created by hour of day</text>", ">Baskets created by day</text>", ">By channel</text>",
				">By device</text>", ">By sign-in</text>", ">Reasons of abandonment</text>", ">Reminders</text>",
				"<title>created\nbaskets: " + num(f.Created) + "</title>",
				"<title>abandoned\nbaskets: " + num(f.Abandoned) + " · " + pct(f.AbandonmentRate) + " of created (target ",
				"<title>12\ncreated: " + num(r.CreatedByHour[12]) + "</title>",
				"<title>mobile\ncreated: " + num(r.ByDevice["mobile"].Created) + " · ",
				"uplift of ", "The engine now holds",
			} {
				if !strings.Contains(s, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			if strings.Contains(s, "@") {
				t.Error("the page shows an email")
			}
		})
	}
}
