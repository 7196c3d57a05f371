package campaign

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

var update = flag.Bool("update", false, "rewrite the golden files of the reports")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", name, got)
	}
}

// fixedReport is a report with every part: steps, a holdout, skips,
// deferrals and a message in doubt.
func fixedReport() *Report {
	steps := []StepReport{
		{Step: 1, After: "1h0m0s", Sent: 900, Failed: 3, Clicked: 120, Recovered: 60},
		{Step: 2, After: "24h0m0s", Sent: 700, Failed: 1, InDoubt: 1, Opened: 210, Clicked: 70, Recovered: 30},
		{Step: 3, After: "72h0m0s", Sent: 500, Clicked: 25, Recovered: 10},
	}
	rep := &Report{Campaign: "winback <spring>", At: time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC),
		ActivatedAt: time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC), Watermark: 1200, Checkpoint: 9800,
		TookIn: 1100, Running: 40, Watched: 300, Suppressed: 12, Messaged: 900, Completed: 210,
		Skipped:           map[Reason]int64{ReasonCompleted: 150, ReasonSuppressed: 4, ReasonHoldout: 260, ReasonOvertaken: 7},
		Deferred:          map[Reason]int64{ReasonQuietHours: 80, ReasonDeduplicated: 15},
		InDoubt:           []DoubtRef{{BasketID: "b-17", Step: 2, Key: "c1-0123456789abcdef0123456789abcdef"}},
		Holdout:           newHoldoutReport(0.1, groupCounts{Mailed: 900, MailedRecovered: 171, Holdout: 100, HoldoutRecovered: 12}),
		AttributionWindow: DefaultAttributionWindow}
	for _, s := range steps {
		s.rates()
		rep.Steps = append(rep.Steps, s)
		rep.Total.Sent += s.Sent
		rep.Total.Failed += s.Failed
		rep.Total.InDoubt += s.InDoubt
		rep.Total.Opened += s.Opened
		rep.Total.Clicked += s.Clicked
		rep.Total.Recovered += s.Recovered
	}
	rep.Total.rates()
	return rep
}

// TestReportHTMLGolden: the HTML report, whole and empty, is as the golden
// files show it, and stands alone.
func TestReportHTMLGolden(t *testing.T) {
	empty := &Report{Campaign: "abandoned-basket", Skipped: map[Reason]int64{}, Deferred: map[Reason]int64{},
		Steps: []StepReport{{Step: 1, After: "1h0m0s"}}, AttributionWindow: DefaultAttributionWindow}
	dry := fixedReport()
	dry.DryRun, dry.Holdout, dry.InDoubt = true, nil, nil
	for i := range dry.Steps {
		dry.Steps[i].WouldSend, dry.Steps[i].Sent = dry.Steps[i].Sent, 0
	}
	dry.Total.WouldSend, dry.Total.Sent = dry.Total.Sent, 0
	for _, tc := range []struct {
		file string
		rep  *Report
		want []string
	}{
		{"report.html.golden", fixedReport(), []string{"winback &lt;spring&gt;", "Holdout", "&#43;7.0 points", "b-17", "overtaken", "Messages by step"}},
		{"report-empty.html.golden", empty, []string{"Not activated yet."}},
		{"report-dry.html.golden", dry, []string{"Dry run: nothing was sent", "would send"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.rep.WriteHTML(&b); err != nil {
				t.Fatal(err)
			}
			if err := plot.CheckSelfContained(b.String()); err != nil {
				t.Errorf("the HTML report is not self-contained: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("the HTML report lacks %q", w)
				}
			}
			for _, bad := range []string{"<script", "<link", "@import", "0001-01-01"} {
				if strings.Contains(b.String(), bad) {
					t.Errorf("the HTML report holds %q", bad)
				}
			}
			golden(t, tc.file, b.Bytes())
		})
	}
}

// TestReportHTMLFromRunner: a runner's own report renders (the numbers
// the golden test does not hold come from a real run).
func TestReportHTMLFromRunner(t *testing.T) {
	f := newFixture(t, &Options{Holdout: 0.5}, nil)
	f.tick()
	for _, id := range []string{"b-1", "b-2", "b-3", "b-4"} {
		f.basket(id, id+"@example.com", nil)
	}
	f.run(2*time.Hour, 10*time.Minute)
	rep := f.r.Report()
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if err := plot.CheckSelfContained(b.String()); err != nil {
		t.Errorf("not self-contained: %v", err)
	}
	if !strings.Contains(b.String(), "<h2>Holdout</h2>") || !strings.Contains(b.String(), "<svg") {
		t.Errorf("the runner's HTML report lacks the holdout or the charts:\n%s", b.String())
	}
}
