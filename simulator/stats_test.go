package simulator

import (
	"math"
	"testing"
	"time"
)

// TestStatistics runs the default scenario for two weeks (plus a month's
// drain, so that every return happens) and checks that the funnel lands on
// the scenario's targets. Tolerances are several standard deviations at
// the smaller, race-detector size, so that the test is stable for any seed,
// yet a generator that is wrong by a few points fails it.
func TestStatistics(t *testing.T) {
	sc := DefaultScenario()
	sc.Start = time.Date(2025, time.January, 20, 0, 0, 0, 0, time.UTC) // a Monday; the period covers the month's end
	sc.Days = 14
	sc.Rate = float64(big(400, 150))
	rec := &recorder{}
	sim, err := New(&Options{Scenario: &sc, Seed: 20250120, Sink: rec, Drain: 31 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := sim.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rec.err != nil {
		t.Fatalf("the event stream: %v", rec.err)
	}
	f := rep.Funnel
	t.Logf("%d baskets, %d events; abandonment %.4f, contactable %.4f, returns %.4f",
		f.Created, rep.Events, f.AbandonmentRate, f.ShareContactable, f.ReturnRate)
	if rep.InCheckout != 0 {
		t.Errorf("InCheckout = %d after the drain; want 0", rep.InCheckout)
	}
	if n := int64(len(rec.events)); n != rep.Events {
		t.Errorf("report counts %d events, the sink got %d", rep.Events, n)
	}
	sso := rep.ByAuth["sso"]
	mobile, desktop := rep.ByDevice["mobile"], rep.ByDevice["desktop"]
	for _, c := range []struct {
		name      string
		got, want float64
		tol       float64
	}{
		// σ ≈ 0.002 at 50,000 baskets.
		{"abandonment rate", f.AbandonmentRate, sc.AbandonRate, 0.015},
		// σ ≈ 0.003 at 35,000 abandoned.
		{"share contactable", f.ShareContactable, 1 - sc.LeaveBeforeEmail, 0.02},
		{"SSO share", ratio(sso.Created, f.Created), sc.SSOShare, 0.015},
		// σ ≈ 0.0015.
		{"return rate", f.ReturnRate, sc.SelfReturn.Share, 0.012},
		{"mobile share", ratio(mobile.Created, f.Created), sc.Devices[0].Share, 0.015},
		{"browsing share of reasons", ratio(rep.Reasons["browsing"], f.Abandoned), 0.43, 0.02},
		{"contactable among SSO abandoners", sso.ShareContactable, 1 - sc.LeaveBeforeEmail, 0.03},
		// Every completer gives an email; abandoners 55% of the time.
		{"contactable of created", ratio(f.Contactable, f.Created), 1 - sc.AbandonRate + sc.AbandonRate*(1-sc.LeaveBeforeEmail), 0.02},
	} {
		if math.Abs(c.got-c.want) > c.tol {
			t.Errorf("%s = %.4f; want %.4f ± %.3f", c.name, c.got, c.want, c.tol)
		}
	}
	// Desktop completes about twice as often as mobile (42% vs 20%).
	if mc, dc := 1-mobile.AbandonmentRate, 1-desktop.AbandonmentRate; !(dc > 1.6*mc && dc < 2.6*mc) {
		t.Errorf("completion: desktop %.3f, mobile %.3f; want desktop about twice mobile", dc, mc)
	}

	// Hour of day: each hour's share of baskets within 12% of the profile
	// (σ is about 2.5% of it for the smallest hour at the smaller size).
	tg, _ := sc.Targets()
	for h, n := range rep.CreatedByHour {
		got, want := ratio(n, f.Created), tg.HourShare[h]
		if math.Abs(got-want) > 0.12*want {
			t.Errorf("hour %02d: share %.4f; want %.4f ± 12%%", h, got, want)
		}
	}
	if rep.CreatedByHour[4]*4 > rep.CreatedByHour[13] {
		t.Errorf("4 am has %d baskets, 1 pm %d; want the night trough under a quarter of the peak", rep.CreatedByHour[4], rep.CreatedByHour[13])
	}

	// Calendar: each day's count, relative to the mean day, follows the
	// weekday and month-end multipliers within 6% (σ ≈ 1.5%).
	want := make([]float64, sc.Days)
	sum, got := 0.0, 0.0
	for d := range want {
		day := sc.Start.AddDate(0, 0, d)
		w := sc.Weekday[(int(day.Weekday())+6)%7]
		if day.Day() >= 28 || day.Day() == 1 {
			w *= sc.MonthEnd
		}
		want[d] = w
		sum += w
		got += float64(rep.CreatedByDay[d])
	}
	for d := range want {
		g, w := float64(rep.CreatedByDay[d])/got*float64(sc.Days), want[d]/sum*float64(sc.Days)
		if math.Abs(g-w) > 0.06*w {
			t.Errorf("day %d (%s): %.3f of the mean day; want %.3f ± 6%%", d, sc.Start.AddDate(0, 0, d).Format("Mon Jan 2"), g, w)
		}
	}
}

// TestPeakDay checks that a peak day gets its multiple of an ordinary one.
func TestPeakDay(t *testing.T) {
	data := readTestdata(t, "black-friday.json")
	sc, err := ParseScenario(data)
	if err != nil {
		t.Fatal(err)
	}
	sc.Rate = float64(big(200, 100))
	rep, _ := runEngine(t, sc, 7, nil)
	// Thursday is an ordinary weekday; Friday and Monday replace the
	// weekday and month-end multipliers with theirs.
	thu, fri, mon := rep.CreatedByDay[0], rep.CreatedByDay[1], rep.CreatedByDay[4]
	for _, c := range []struct {
		day  string
		n    int64
		mult float64
	}{{"Black Friday", fri, 2.7}, {"Cyber Monday", mon, 3.4}} {
		want := c.mult / sc.Weekday[3]
		if r := ratio(c.n, thu); math.Abs(r-want) > 0.1*want {
			t.Errorf("%s has %.2f× the Thursday's baskets; want %.2f ± 10%%", c.day, r, want)
		}
	}
}
