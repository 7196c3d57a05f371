package loadtest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrBadThreshold is the error of a threshold that ParseThreshold cannot
// read.
var ErrBadThreshold = errors.New("bad threshold")

// A Threshold is a condition on a run's result, such as "query:p99<2ms":
// a failed one makes the load tester exit with ExitThreshold.
type Threshold struct {
	Kind   string  // all, ingest, query, walk or feed
	Metric string  // one of the metrics ParseThreshold lists
	Op     string  // <, <=, > or >=
	Value  float64 // nanoseconds for latencies; the metric's own unit otherwise
}

// metricUnit says how a metric's value is written.
type metricUnit uint8

const (
	unitDuration metricUnit = iota
	unitNumber
	unitCount
)

// metrics lists the metrics a threshold may name, with their unit.
var metrics = map[string]metricUnit{
	"p50": unitDuration, "p90": unitDuration, "p99": unitDuration, "p99.9": unitDuration,
	"p99.99": unitDuration, "max": unitDuration, "mean": unitDuration,
	"throughput": unitNumber, "events/s": unitNumber, "error-rate": unitNumber,
	"errors": unitCount, "late": unitCount, "unstarted": unitCount,
}

// runWide are the metrics of the whole run, which take no kind but all.
var runWide = map[string]bool{"late": true, "unstarted": true}

// ParseThreshold reads a threshold: [KIND:]METRIC OP VALUE, where
//
//	KIND    all (the default), ingest, query, walk or feed
//	METRIC  p50, p90, p99, p99.9, p99.99, max, mean: latency from the
//	        intended start, VALUE a Go duration (2ms, 500us);
//	        throughput (operations/s), events/s (ingested events/s),
//	        error-rate (failed operations over all, 0 to 1; or a
//	        percentage such as 1%); errors, and for all only late and
//	        unstarted: counts of operations
//	OP      <, <=, > or >=
//
// White space around the parts is allowed ("p99 < 2ms", "query: p99 <=
// 10ms"), none inside one ("< =" and "2 ms" are errors). Examples:
// "query:p99<2ms", "p99.9<=10ms", "ingest:events/s>=200000", "errors<1",
// "error-rate<0.1%". Errors wrap ErrBadThreshold.
func ParseThreshold(s string) (Threshold, error) {
	bad := func(format string, args ...any) (Threshold, error) {
		return Threshold{}, fmt.Errorf("%w: %q: %s", ErrBadThreshold, truncate(s), fmt.Sprintf(format, args...))
	}
	i := strings.IndexAny(s, "<>")
	if i < 0 {
		return bad("want [KIND:]METRIC<VALUE (or <=, >, >=)")
	}
	lhs, rest := strings.TrimSpace(s[:i]), s[i:]
	t := Threshold{Kind: "all", Op: rest[:1]}
	rest = rest[1:]
	if strings.HasPrefix(rest, "=") {
		t.Op += "="
		rest = rest[1:]
	}
	rest = strings.TrimSpace(rest)
	if k, m, ok := strings.Cut(lhs, ":"); ok {
		k, m = strings.TrimSpace(k), strings.TrimSpace(m)
		if k != "all" {
			if _, err := ParseKind(k); err != nil {
				return bad("operation %q: want all, ingest, query, walk or feed", truncate(k))
			}
		}
		t.Kind, lhs = k, m
	}
	unit, ok := metrics[lhs]
	if !ok {
		return bad("metric %q: want p50, p90, p99, p99.9, p99.99, max, mean, throughput, events/s, error-rate, errors, late or unstarted", truncate(lhs))
	}
	t.Metric = lhs
	if runWide[t.Metric] && t.Kind != "all" {
		return bad("%s counts the whole run: leave out %q", t.Metric, t.Kind)
	}
	switch {
	case unit == unitDuration:
		d, err := time.ParseDuration(rest)
		if err != nil || d < 0 {
			return bad("value %q: want a duration such as 2ms", truncate(rest))
		}
		t.Value = float64(d)
	case t.Metric == "error-rate":
		v, err := ParseErrorRate(rest)
		if err != nil {
			return bad("value %v", err)
		}
		t.Value = v
	default:
		v, err := strconv.ParseFloat(rest, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return bad("value %q: want a number, 0 or more", truncate(rest))
		}
		t.Value = v
	}
	return t, nil
}

// ParseErrorRate reads a share of failed operations: a fraction from 0 to
// 1 ("0.01") or a percentage from 0% to 100% ("1%", "0.5%").
func ParseErrorRate(s string) (float64, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || !(v >= 0 && v <= 100) {
			return 0, fmt.Errorf("%q: want a percentage from 0%% to 100%%", truncate(s))
		}
		return v / 100, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0 && v <= 1) {
		return 0, fmt.Errorf("%q: want a fraction from 0 to 1, or a percentage such as 1%%", truncate(s))
	}
	return v, nil
}

// String returns the threshold in the form ParseThreshold reads.
func (t Threshold) String() string {
	var b strings.Builder
	if t.Kind != "all" && t.Kind != "" {
		b.WriteString(t.Kind + ":")
	}
	b.WriteString(t.Metric + t.Op)
	if metrics[t.Metric] == unitDuration {
		b.WriteString(time.Duration(t.Value).String())
	} else {
		b.WriteString(strconv.FormatFloat(t.Value, 'g', -1, 64))
	}
	return b.String()
}

// Outcome is a threshold checked against a result.
type Outcome struct {
	Threshold Threshold
	Actual    float64 // in the threshold's unit; NaN if the kind did not run
	Pass      bool
}

// String describes the outcome: "query:p99<2ms: 1.2ms ok".
func (o Outcome) String() string {
	verdict := "FAILED"
	if o.Pass {
		verdict = "ok"
	}
	if math.IsNaN(o.Actual) {
		return o.Threshold.String() + ": no such operations ran " + verdict
	}
	var actual string
	if metrics[o.Threshold.Metric] == unitDuration {
		actual = time.Duration(o.Actual).String()
	} else {
		actual = strconv.FormatFloat(o.Actual, 'g', 6, 64)
	}
	return o.Threshold.String() + ": " + actual + " " + verdict
}

// Check checks the threshold against r. A threshold on a kind of
// operation that did not run fails.
func (t Threshold) Check(r *Result) Outcome {
	o := Outcome{Threshold: t, Actual: math.NaN()}
	kr, ok := r.Kind(t.Kind)
	if !ok {
		return o
	}
	l := &kr.Latency
	switch t.Metric {
	case "p50":
		o.Actual = float64(l.P50)
	case "p90":
		o.Actual = float64(l.P90)
	case "p99":
		o.Actual = float64(l.P99)
	case "p99.9":
		o.Actual = float64(l.P999)
	case "p99.99":
		o.Actual = float64(l.P9999)
	case "max":
		o.Actual = float64(l.Max)
	case "mean":
		o.Actual = float64(l.Mean)
	case "throughput":
		o.Actual = kr.Throughput
	case "events/s":
		o.Actual = kr.EventsPerSec
	case "errors":
		o.Actual = float64(kr.Errors)
	case "error-rate":
		o.Actual = 0
		if kr.Ops > 0 {
			o.Actual = float64(kr.Errors) / float64(kr.Ops)
		}
	case "late":
		o.Actual = float64(r.Late)
	case "unstarted":
		o.Actual = float64(r.Unstarted)
	}
	if metrics[t.Metric] == unitDuration && l.Count == 0 {
		o.Actual = math.NaN()
		return o
	}
	switch t.Op {
	case "<":
		o.Pass = o.Actual < t.Value
	case "<=":
		o.Pass = o.Actual <= t.Value
	case ">":
		o.Pass = o.Actual > t.Value
	case ">=":
		o.Pass = o.Actual >= t.Value
	}
	return o
}

// CheckAll checks every threshold against r and reports whether all
// passed.
func CheckAll(r *Result, ts []Threshold) ([]Outcome, bool) {
	out := make([]Outcome, len(ts))
	pass := true
	for i, t := range ts {
		out[i] = t.Check(r)
		pass = pass && out[i].Pass
	}
	return out, pass
}

// The exit codes of the load tester (abandoned loadtest).
const (
	ExitOK          = 0 // the run ended on time and met every threshold
	ExitError       = 1 // the run could not be made: a bad target, a failed preload, …
	ExitUsage       = 2 // bad flags
	ExitThreshold   = 3 // a threshold failed, or too many operations did
	ExitInterrupted = 4 // stopped by a signal; the report covers the part that ran
	ExitNoRate      = 5 // search mode: not even the lowest rate tried met the target
)
