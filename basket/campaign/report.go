package campaign

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a campaign did: messages by step with their clicks and
// recoveries, skips and deferrals by reason, and what is under way.
type Report struct {
	Campaign    string    `json:"campaign"`
	At          time.Time `json:"at"`          // the time of the report
	ActivatedAt time.Time `json:"activatedAt"` // zero if not activated yet
	Watermark   uint64    `json:"watermark"`   // the feed position at activation
	Checkpoint  uint64    `json:"checkpoint"`  // the feed position read up to

	TookIn     int64 `json:"tookIn"`     // abandonments taken in
	Running    int   `json:"running"`    // sequences under way
	Watched    int   `json:"watched"`    // baskets whose outcome is not known yet
	Suppressed int   `json:"suppressed"` // addresses on the suppression list

	// Steps count each step's messages. Opened is known only where the
	// sender reports opens (Runner.Opened); Clicked counts baskets whose
	// newest recovery click followed the step's message; Recovered those
	// of them completed within the attribution window after the click.
	Steps []StepReport `json:"steps"`
	Total StepReport   `json:"total"`

	// Messaged counts baskets with at least one message; Completed those
	// of them completed by any path (recovered or not).
	Messaged  int64 `json:"messaged"`
	Completed int64 `json:"completed"`

	// Skipped counts steps dropped, by reason; Deferred steps held back
	// (quiet hours, the one-message window), once per step and reason.
	Skipped  map[Reason]int64 `json:"skipped"`
	Deferred map[Reason]int64 `json:"deferred"`

	// InDoubt lists the messages whose delivery is in doubt (a crash
	// after the point of no return): never sent again, for an operator to
	// look at. They stay listed, even once their basket is forgotten,
	// until resolved (Runner.ResolveInDoubt).
	InDoubt []DoubtRef `json:"inDoubt,omitempty"`

	AttributionWindow time.Duration `json:"attributionWindowNs"`
}

// StepReport counts a step's messages.
type StepReport struct {
	Step         int     `json:"step"` // from 1; 0 in Total
	Sent         int64   `json:"sent"`
	Failed       int64   `json:"failed"`
	InDoubt      int64   `json:"inDoubt"`
	Opened       int64   `json:"opened"`
	Clicked      int64   `json:"clicked"`
	Recovered    int64   `json:"recovered"`
	ClickRate    float64 `json:"clickRate"`    // Clicked / Sent
	RecoveryRate float64 `json:"recoveryRate"` // Recovered / Sent
}

// DoubtRef names a message in doubt.
type DoubtRef struct {
	BasketID string `json:"basketId"`
	Step     int    `json:"step"`
	Key      string `json:"key"`
}

// Report returns the campaign's report as of its last turn: settled
// outcomes plus, for baskets still watched, what the last look saw.
func (r *Runner) Report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	steps, skipped, deferred := st.counters()
	for len(steps) < len(r.cfg.Steps) {
		steps = append(steps, stepCounts{})
	}
	rep := Report{
		Campaign: r.cfg.Name, Watermark: st.Watermark, Checkpoint: st.Checkpoint, TookIn: st.TookIn,
		Suppressed: len(st.Suppressed), Messaged: st.Messaged, Completed: st.Completed,
		Skipped: map[Reason]int64{}, Deferred: map[Reason]int64{}, AttributionWindow: r.cfg.AttributionWindow,
	}
	if st.Activated {
		rep.ActivatedAt = time.UnixMilli(st.ActivatedAt).UTC()
	}
	for _, t := range r.sortedTracks() {
		rep.Watched++
		if _, ok := r.due(t); ok || t.Intent != 0 || (t.held && !t.Done && t.Next < len(r.cfg.Steps)) {
			rep.Running++
		}
		if t.lastSent() != 0 {
			rep.Messaged++
			if t.seenCompleted != 0 {
				rep.Completed++
			}
			if i, rec := attribution(t, t.seenCompleted, t.seenRecovered, st.attrWindow); i >= 0 {
				for len(steps) <= i {
					steps = append(steps, stepCounts{})
				}
				steps[i].Clicked++
				if rec {
					steps[i].Recovered++
				}
			}
		}
	}
	for key, d := range st.Doubts {
		rep.InDoubt = append(rep.InDoubt, DoubtRef{d.BasketID, d.Step + 1, key})
	}
	slices.SortFunc(rep.InDoubt, func(a, b DoubtRef) int {
		return cmp.Or(strings.Compare(a.BasketID, b.BasketID), cmp.Compare(a.Step, b.Step))
	})
	for k, v := range skipped {
		rep.Skipped[Reason(k)] = v
	}
	for k, v := range deferred {
		rep.Deferred[Reason(k)] = v
	}
	for i, c := range steps {
		s := StepReport{Step: i + 1, Sent: c.Sent, Failed: c.Failed, InDoubt: c.InDoubt, Opened: c.Opened,
			Clicked: c.Clicked, Recovered: c.Recovered}
		s.rates()
		rep.Steps = append(rep.Steps, s)
		rep.Total.Sent += c.Sent
		rep.Total.Failed += c.Failed
		rep.Total.InDoubt += c.InDoubt
		rep.Total.Opened += c.Opened
		rep.Total.Clicked += c.Clicked
		rep.Total.Recovered += c.Recovered
	}
	rep.Total.rates()
	return rep
}

func (s *StepReport) rates() {
	if s.Sent > 0 {
		s.ClickRate = float64(s.Clicked) / float64(s.Sent)
		s.RecoveryRate = float64(s.Recovered) / float64(s.Sent)
	}
}

// SkippedTotal returns the number of steps skipped for any reason.
func (rep *Report) SkippedTotal() int64 {
	var n int64
	for _, v := range rep.Skipped {
		n += v
	}
	return n
}

// WriteJSON writes the report as one JSON document.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteText writes the report as a table.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "campaign %s", rep.Campaign)
	if rep.ActivatedAt.IsZero() {
		b.WriteString(" (not activated yet)\n")
	} else {
		fmt.Fprintf(&b, ", activated %s at feed position %d, read up to %d\n",
			rep.ActivatedAt.Format(time.RFC3339), rep.Watermark, rep.Checkpoint)
	}
	fmt.Fprintf(&b, "abandonments taken in %d, sequences running %d, baskets watched %d, addresses suppressed %d\n\n",
		rep.TookIn, rep.Running, rep.Watched, rep.Suppressed)
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tsent\tfailed\tin doubt\topened\tclicked\trecovered\tclick rate\trecovery rate\t")
	row := func(name string, s StepReport) {
		opened := "-"
		if s.Opened > 0 {
			opened = fmt.Sprint(s.Opened)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%d\t%.2f%%\t%.2f%%\t\n", name, s.Sent, s.Failed, s.InDoubt, opened,
			s.Clicked, s.Recovered, 100*s.ClickRate, 100*s.RecoveryRate)
	}
	for _, s := range rep.Steps {
		row(fmt.Sprint(s.Step), s)
	}
	row("all", rep.Total)
	tw.Flush()
	rate := 0.0
	if rep.Messaged > 0 {
		rate = float64(rep.Total.Recovered) / float64(rep.Messaged)
	}
	fmt.Fprintf(&b, "\nbaskets messaged %d: completed by any path %d, recovered by the campaign %d (%.2f%%; completion within %s of a click)\n",
		rep.Messaged, rep.Completed, rep.Total.Recovered, 100*rate, rep.AttributionWindow)
	b.WriteString("skipped:")
	for _, r := range Reasons {
		fmt.Fprintf(&b, " %s %d", r, rep.Skipped[r])
	}
	b.WriteString("\ndeferred:")
	for _, r := range Reasons {
		if r == ReasonQuietHours || r == ReasonDeduplicated {
			fmt.Fprintf(&b, " %s %d", r, rep.Deferred[r])
		}
	}
	b.WriteString("\n")
	if len(rep.InDoubt) > 0 {
		fmt.Fprintf(&b, "in doubt (delivery unknown after a crash; not sent again): %d\n", len(rep.InDoubt))
		for _, d := range rep.InDoubt {
			fmt.Fprintf(&b, "  basket %s step %d key %s\n", d.BasketID, d.Step, d.Key)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
