package campaign

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a campaign did: messages by step with their clicks and
// recoveries, skips and deferrals by reason, the holdout's comparison, and
// what is under way. Its JSON form writes times only when they are set,
// and durations as Go writes them ("120h0m0s"), which a configuration file
// reads back.
type Report struct {
	Campaign    string    `json:"campaign"`
	At          time.Time `json:"at,omitzero"`          // the time of the runner's latest turn; zero if none (a report read from a state)
	ActivatedAt time.Time `json:"activatedAt,omitzero"` // zero if not activated yet
	Watermark   uint64    `json:"watermark"`            // the feed position at activation
	Checkpoint  uint64    `json:"checkpoint"`           // the feed position read up to

	// DryRun: the sender delivered nothing (a dry run). The steps' Sent
	// are then zero, and WouldSend counts what would have been sent.
	DryRun bool `json:"dryRun,omitempty"`

	TookIn     int64 `json:"tookIn"`     // abandonments taken in
	Running    int   `json:"running"`    // sequences under way
	Watched    int   `json:"watched"`    // baskets whose outcome is not known yet
	Suppressed int   `json:"suppressed"` // addresses on the campaign's own suppression list (the engine's is not counted)

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

	// Holdout compares the customers mailed with those held out; nil if
	// the campaign has no holdout and never had one.
	Holdout *HoldoutReport `json:"holdout,omitempty"`

	// AttributionWindow is the campaign's: written as "120h0m0s".
	AttributionWindow time.Duration `json:"-"`
}

// HoldoutReport compares the recovered share of the baskets mailed with
// that of the baskets held out (Options.Holdout). Here a basket counts as
// recovered if it was completed within the attribution window after its
// first message or, held out, after the moment its first message would
// have been sent, by whatever path: the two groups are measured alike.
type HoldoutReport struct {
	Share   float64     `json:"share"` // the configured share, 0.1 for 10%
	Mailed  GroupReport `json:"mailed"`
	Holdout GroupReport `json:"holdout"`
	// Difference is Mailed.Rate - Holdout.Rate: what the messages added
	// to the recovered share. StdErr is its standard error (two
	// independent proportions); 0 while a group is empty.
	Difference float64 `json:"difference"`
	StdErr     float64 `json:"standardError"`
}

// GroupReport counts a group's baskets and those recovered.
type GroupReport struct {
	Baskets   int64   `json:"baskets"`
	Recovered int64   `json:"recovered"`
	Rate      float64 `json:"rate"` // Recovered / Baskets
}

// Interval returns the 95% confidence interval of the difference (normal
// approximation); ok false while a group is empty.
func (h *HoldoutReport) Interval() (lo, hi float64, ok bool) {
	if h.Mailed.Baskets == 0 || h.Holdout.Baskets == 0 {
		return 0, 0, false
	}
	return h.Difference - 1.96*h.StdErr, h.Difference + 1.96*h.StdErr, true
}

func newHoldoutReport(share float64, g groupCounts) *HoldoutReport {
	h := &HoldoutReport{Share: share, Mailed: GroupReport{Baskets: g.Mailed, Recovered: g.MailedRecovered},
		Holdout: GroupReport{Baskets: g.Holdout, Recovered: g.HoldoutRecovered}}
	for _, x := range []*GroupReport{&h.Mailed, &h.Holdout} {
		if x.Baskets > 0 {
			x.Rate = float64(x.Recovered) / float64(x.Baskets)
		}
	}
	if h.Mailed.Baskets > 0 && h.Holdout.Baskets > 0 {
		p1, n1, p2, n2 := h.Mailed.Rate, float64(h.Mailed.Baskets), h.Holdout.Rate, float64(h.Holdout.Baskets)
		h.Difference = p1 - p2
		h.StdErr = math.Sqrt(p1*(1-p1)/n1 + p2*(1-p2)/n2)
	}
	return h
}

// reportJSON is a Report as JSON writes it.
type reportJSON struct {
	reportFields
	AttributionWindow string `json:"attributionWindow"`
}

type reportFields Report // Report without its methods

// MarshalJSON writes the report with its durations as Go writes them.
func (rep Report) MarshalJSON() ([]byte, error) {
	return json.Marshal(reportJSON{reportFields(rep), rep.AttributionWindow.String()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (rep *Report) UnmarshalJSON(b []byte) error {
	var v reportJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*rep = Report(v.reportFields)
	if v.AttributionWindow != "" {
		d, err := time.ParseDuration(v.AttributionWindow)
		if err != nil {
			return fmt.Errorf("campaign: report: attributionWindow %q: %v", truncate(v.AttributionWindow), err)
		}
		rep.AttributionWindow = d
	}
	return nil
}

// StepReport counts a step's messages.
type StepReport struct {
	Step         int     `json:"step"`            // from 1; 0 in Total
	After        string  `json:"after,omitempty"` // the step's time after the abandonment ("24h0m0s"); "" in Total
	Sent         int64   `json:"sent"`
	WouldSend    int64   `json:"wouldSend,omitempty"` // a dry run's: what would have been sent`
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
	if r.lastTurn != 0 {
		rep.At = time.UnixMilli(r.lastTurn).UTC()
	}
	groups := st.Groups
	for _, t := range r.sortedTracks() {
		groups.count(t, t.seenCompleted, st.attrWindow)
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
		if i < len(r.cfg.Steps) {
			s.After = r.cfg.offset(i).String()
		}
		if r.dryRun {
			s.Sent, s.WouldSend = 0, c.Sent
		}
		s.rates()
		rep.Steps = append(rep.Steps, s)
		rep.Total.Sent += s.Sent
		rep.Total.WouldSend += s.WouldSend
		rep.Total.Failed += c.Failed
		rep.Total.InDoubt += c.InDoubt
		rep.Total.Opened += c.Opened
		rep.Total.Clicked += c.Clicked
		rep.Total.Recovered += c.Recovered
	}
	rep.Total.rates()
	rep.DryRun = r.dryRun
	if share := st.HoldoutShare; share > 0 || groups.Holdout > 0 {
		rep.Holdout = newHoldoutReport(share, groups)
	}
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
		b.WriteString(" (not activated yet)")
	} else {
		fmt.Fprintf(&b, ", activated %s at feed position %d, read up to %d",
			rep.ActivatedAt.Format(time.RFC3339), rep.Watermark, rep.Checkpoint)
	}
	if !rep.At.IsZero() {
		fmt.Fprintf(&b, "; as of %s", rep.At.Format(time.RFC3339))
	}
	b.WriteString("\n")
	sent, messaged := "sent", "baskets messaged"
	if rep.DryRun {
		b.WriteString("dry run: nothing was sent; \"would send\" counts the messages a real run would have sent\n")
		sent, messaged = "would send", "baskets that would have been messaged"
	}
	fmt.Fprintf(&b, "abandonments taken in %d, sequences running %d, baskets watched %d, addresses suppressed %d\n\n",
		rep.TookIn, rep.Running, rep.Watched, rep.Suppressed)
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "step\tafter\t%s\tfailed\tin doubt\topened\tclicked\trecovered\tclick rate\trecovery rate\t\n", sent)
	row := func(name string, s StepReport) {
		opened := "-"
		if s.Opened > 0 {
			opened = fmt.Sprint(s.Opened)
		}
		after := "-"
		if s.After != "" {
			after = "+" + shortDuration(s.After)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%d\t%d\t%.2f%%\t%.2f%%\t\n", name, after, s.Sent+s.WouldSend, s.Failed, s.InDoubt, opened,
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
	fmt.Fprintf(&b, "\n%s %d: completed by any path %d, recovered by the campaign %d (%.2f%%; completion within %s of a click)\n",
		messaged, rep.Messaged, rep.Completed, rep.Total.Recovered, 100*rate, shortDuration(rep.AttributionWindow.String()))
	if h := rep.Holdout; h != nil {
		b.WriteString(h.text(rep.AttributionWindow))
	}
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

// text describes the holdout's comparison in a few lines.
func (h *HoldoutReport) text(window time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "holdout %s (sent nothing): recovered = completed within %s of the first message, or of when it would have been sent\n",
		formatShare(h.Share), shortDuration(window.String()))
	fmt.Fprintf(&b, "  mailed    %d baskets, %d recovered (%.2f%%)\n", h.Mailed.Baskets, h.Mailed.Recovered, 100*h.Mailed.Rate)
	fmt.Fprintf(&b, "  held out  %d baskets, %d recovered (%.2f%%)\n", h.Holdout.Baskets, h.Holdout.Recovered, 100*h.Holdout.Rate)
	if lo, hi, ok := h.Interval(); ok {
		fmt.Fprintf(&b, "  difference %+.2f points (standard error %.2f; 95%% interval %+.2f to %+.2f)\n",
			100*h.Difference, 100*h.StdErr, 100*lo, 100*hi)
	} else {
		b.WriteString("  difference: not known until both groups have baskets\n")
	}
	return b.String()
}

// shortDuration writes a Go duration without its zero minutes and
// seconds: "72h0m0s" as "72h", "1h30m0s" as "1h30m".
func shortDuration(s string) string {
	if t, ok := strings.CutSuffix(s, "m0s"); ok && strings.Contains(t, "h") {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "0m"); ok && strings.HasSuffix(t, "h") {
		s = t
	}
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	return s
}
