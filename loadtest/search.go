package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// SearchOptions configure Search.
type SearchOptions struct {
	// Run configures each step's run; its Pacer is replaced by a constant
	// rate.
	Run Options
	// P99 is the target: a rate is sustained when the p99 latency of Kind
	// stays at most P99, no operation fails and none is left unstarted.
	// Required.
	P99 time.Duration
	// Kind is the kind of operation whose p99 counts: all (default),
	// ingest, query, walk or feed.
	Kind string
	// Start is the first rate tried. Default 1000 per second.
	Start float64
	// Steps bounds the runs. Default 8.
	Steps int
	// Precision stops the search once the highest rate sustained and the
	// lowest rate not sustained are within this ratio of each other.
	// Default 0.05 (5%).
	Precision float64
}

// SearchStep is one run of a search.
type SearchStep struct {
	Rate   float64
	P99    time.Duration
	Pass   bool
	Reason string // why it failed; empty if it passed
	Result *Result
}

// SearchResult is what Search found.
type SearchResult struct {
	P99  time.Duration // the target
	Kind string
	// Best is the highest rate sustained; 0 if none was.
	Best  float64
	Steps []SearchStep
	// Interrupted is set when ctx was done before the search ended.
	Interrupted bool
}

// Search finds the highest constant rate at which the p99 latency stays
// under the target: it doubles the rate from Start while steps pass (or
// halves it while they fail), then bisects between the highest rate that
// passed and the lowest that failed, for at most Steps runs of
// o.Run.Duration each.
func Search(ctx context.Context, t Target, w *Workload, o SearchOptions) (*SearchResult, error) {
	return search(o, func(rate float64) (*Result, error) {
		ro := o.Run
		ro.Pacer = Constant{PerSecond: rate}
		return Run(ctx, t, w, ro)
	})
}

// search runs the search with run making each step's run.
func search(o SearchOptions, run func(rate float64) (*Result, error)) (*SearchResult, error) {
	if o.P99 <= 0 {
		return nil, errors.New("loadtest: search: the p99 target must be positive")
	}
	if o.Kind == "" {
		o.Kind = "all"
	}
	if o.Kind != "all" {
		if _, err := ParseKind(o.Kind); err != nil {
			return nil, fmt.Errorf("loadtest: search: %w", err)
		}
	}
	if o.Start <= 0 {
		o.Start = 1000
	}
	if o.Steps <= 0 {
		o.Steps = 8
	}
	if o.Precision <= 0 {
		o.Precision = 0.05
	}
	res := &SearchResult{P99: o.P99, Kind: o.Kind}
	lo, hi := 0.0, math.Inf(1) // highest passed, lowest failed
	rate := o.Start
	for range o.Steps {
		r, err := run(rate)
		if err != nil {
			return res, err
		}
		if r.Interrupted {
			res.Interrupted = true
			break
		}
		step := SearchStep{Rate: rate, Result: r}
		step.Pass, step.Reason = sustained(r, o.Kind, o.P99)
		if kr, ok := r.Kind(o.Kind); ok {
			step.P99 = kr.Latency.P99
		}
		res.Steps = append(res.Steps, step)
		if step.Pass {
			lo = max(lo, rate)
		} else {
			hi = min(hi, rate)
		}
		if lo > 0 && !math.IsInf(hi, 1) && hi/lo <= 1+o.Precision {
			break
		}
		switch {
		case math.IsInf(hi, 1):
			rate = lo * 2
		case lo == 0:
			rate = hi / 2
		default:
			rate = (lo + hi) / 2
		}
		if rate > MaxRate || rate < 1e-3 {
			break
		}
	}
	res.Best = lo
	return res, nil
}

// sustained says whether a step's result meets the target, and if not,
// why.
func sustained(r *Result, kind string, p99 time.Duration) (bool, string) {
	kr, ok := r.Kind(kind)
	switch {
	case !ok || kr.Ops == 0:
		return false, "no " + kind + " operations finished"
	case r.All.Errors > 0:
		return false, fmt.Sprintf("%d operations failed", r.All.Errors)
	case r.Unstarted > 0:
		return false, fmt.Sprintf("%d operations never started", r.Unstarted)
	case kr.Latency.P99 > p99:
		return false, fmt.Sprintf("p99 %v over %v", kr.Latency.P99, p99)
	}
	return true, ""
}
