package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what the load tester prints: a run's result, the thresholds
// checked against it, the search that chose its rate if any, and where it
// ran. Its Write methods give the same content as text, JSON or HTML.
type Report struct {
	// Result is the run reported; nil if a search found no rate to run.
	Result *Result
	// Thresholds are the thresholds checked against Result.
	Thresholds []Outcome
	// Search is the search that preceded the run, if any.
	Search *SearchResult
	// Population describes the preloaded baskets.
	Population Population
	// Machine says where the run was made, e.g. "linux/amd64, 2 CPUs,
	// go1.26".
	Machine string
}

// Population describes the preloaded baskets.
type Population struct {
	Baskets   int64 `json:"baskets"`   // created by the preload
	Events    int64 `json:"events"`    // events of the preload
	Abandoned int   `json:"abandoned"` // abandoned baskets in the engine at the start; 0 if unknown
}

// fmtDur writes a latency with three significant figures: 950ns, 12.3µs,
// 1.23ms, 2.01s.
func fmtDur(d time.Duration) string {
	v := float64(d)
	unit := "ns"
	for _, u := range []struct {
		name string
		size float64
	}{{"s", 1e9}, {"ms", 1e6}, {"µs", 1e3}} {
		if v >= u.size {
			v /= u.size
			unit = u.name
			break
		}
	}
	switch {
	case unit == "ns" || v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + unit
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + unit
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + unit
}

// fmtNum writes a count or rate with thousands separators.
func fmtNum(v float64) string {
	neg := v < 0
	v = math.Abs(v)
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	if v < 100 && v != math.Trunc(v) {
		s = strconv.FormatFloat(v, 'f', 1, 64)
	}
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// rows returns the kinds to show, then all when there is more than one.
func (r *Result) rows() []KindResult {
	rows := slices.Clone(r.Kinds)
	if len(r.Kinds) != 1 {
		rows = append(rows, r.All)
	}
	return rows
}

// WriteText writes the report as text tables.
func (rep *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	if s := rep.Search; s != nil {
		fmt.Fprintf(ew, "search: highest constant rate with %s p99 ≤ %s, no errors, nothing unstarted\n", s.Kind, fmtDur(s.P99))
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "step\trate/s\tp99\tresult\t")
		for i, st := range s.Steps {
			verdict := "ok"
			if !st.Pass {
				verdict = st.Reason
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t\n", i+1, fmtNum(st.Rate), fmtDur(st.P99), verdict)
		}
		tw.Flush()
		switch {
		case s.Interrupted:
			fmt.Fprintf(ew, "search interrupted; highest rate sustained so far: %s/s\n", fmtNum(s.Best))
		case s.Best > 0:
			fmt.Fprintf(ew, "highest rate sustained: %s/s\n", fmtNum(s.Best))
		default:
			fmt.Fprintln(ew, "no rate tried was sustained")
		}
		fmt.Fprintln(ew)
	}
	if r := rep.Result; r != nil {
		rep.writeHeader(ew)
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "latency\tops\terrors\tops/s\tp50\tp90\tp99\tp99.9\tp99.99\tmax\t")
		for _, k := range r.rows() {
			l := k.Latency
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", k.Kind, fmtNum(float64(k.Ops)), fmtNum(float64(k.Errors)),
				fmtNum(k.Throughput), fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.P999), fmtDur(l.P9999), fmtDur(l.Max))
		}
		tw.Flush()
		fmt.Fprintln(ew)
		fmt.Fprintln(ew, "service time, from each operation's actual start (blind to waiting):")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "service\tp50\tp90\tp99\tp99.9\tp99.99\tmax\t")
		for _, k := range r.rows() {
			l := k.Service
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", k.Kind,
				fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.P999), fmtDur(l.P9999), fmtDur(l.Max))
		}
		tw.Flush()
		fmt.Fprintln(ew)
		for _, k := range r.Kinds {
			switch {
			case k.Events > 0:
				fmt.Fprintf(ew, "%s: %s events, %s events/s (%s of them in recycled batches)\n", k.Kind,
					fmtNum(float64(k.Events)), fmtNum(k.EventsPerSec), fmtNum(float64(k.Recycled)))
			case k.Pages > 0:
				fmt.Fprintf(ew, "%s: %s pages, %s baskets\n", k.Kind, fmtNum(float64(k.Pages)), fmtNum(float64(k.Items)))
			}
		}
		if len(r.Errors) > 0 {
			var parts []string
			for _, e := range sortedKeys(r.Errors) {
				parts = append(parts, fmt.Sprintf("%s ×%s", e, fmtNum(float64(r.Errors[e]))))
			}
			fmt.Fprintf(ew, "errors: %s\n", strings.Join(parts, ", "))
		}
	}
	if len(rep.Thresholds) > 0 {
		fmt.Fprintln(ew)
		for _, o := range rep.Thresholds {
			fmt.Fprintf(ew, "threshold %s\n", o)
		}
	}
	return ew.err
}

// writeHeader writes what the run was.
func (rep *Report) writeHeader(w io.Writer) {
	r := rep.Result
	model := "closed model, " + strconv.Itoa(r.Workers) + " workers"
	if r.Model == "open" {
		model = "open model, rate " + r.Rate + "/s, at most " + strconv.Itoa(r.Workers) + " in flight"
	}
	fmt.Fprintf(w, "target %s · %s · mix %s\n", r.Target, model, r.Mix)
	if rep.Machine != "" || rep.Population.Baskets > 0 {
		fmt.Fprintf(w, "population %s baskets (%s abandoned) · %s\n",
			fmtNum(float64(rep.Population.Baskets)), fmtNum(float64(rep.Population.Abandoned)), rep.Machine)
	}
	status := ""
	if r.Interrupted {
		status = " · INTERRUPTED"
	}
	fmt.Fprintf(w, "duration %v, warm-up %v excluded, measured %v · late %s · unstarted %s%s\n",
		r.Duration, r.Warmup, r.Measured.Round(time.Millisecond), fmtNum(float64(r.Late)), fmtNum(float64(r.Unstarted)), status)
	if r.CPU > 0 && r.Duration > 0 {
		fmt.Fprintf(w, "process CPU %v over the run: %.2f cores on average\n", r.CPU.Round(10*time.Millisecond), r.CPU.Seconds()/r.Duration.Seconds())
	}
	fmt.Fprintln(w, "latency from each operation's intended start (coordinated omission corrected):")
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	_, e.err = e.w.Write(p)
	return len(p), nil
}

// jsonSummary is a Summary in JSON, in milliseconds.
type jsonSummary struct {
	Count   int64       `json:"count"`
	Clamped int64       `json:"clamped,omitempty"`
	Min     float64     `json:"min"`
	Mean    float64     `json:"mean"`
	P50     float64     `json:"p50"`
	P90     float64     `json:"p90"`
	P99     float64     `json:"p99"`
	P999    float64     `json:"p99.9"`
	P9999   float64     `json:"p99.99"`
	Max     float64     `json:"max"`
	Curve   []jsonPoint `json:"curve,omitempty"`
}

type jsonPoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func toJSONSummary(s Summary) jsonSummary {
	j := jsonSummary{Count: s.Count, Clamped: s.Clamped, Min: ms(s.Min), Mean: ms(s.Mean), P50: ms(s.P50),
		P90: ms(s.P90), P99: ms(s.P99), P999: ms(s.P999), P9999: ms(s.P9999), Max: ms(s.Max)}
	for i, v := range s.Curve {
		j.Curve = append(j.Curve, jsonPoint{CurvePercentiles[i], ms(v)})
	}
	return j
}

type jsonKind struct {
	Kind         string      `json:"kind"`
	Ops          int64       `json:"ops"`
	Errors       int64       `json:"errors"`
	Throughput   float64     `json:"throughput"`
	Pages        int64       `json:"pages,omitempty"`
	Items        int64       `json:"items,omitempty"`
	Events       int64       `json:"events,omitempty"`
	Recycled     int64       `json:"recycled,omitempty"`
	EventsPerSec float64     `json:"eventsPerSec,omitempty"`
	LatencyMs    jsonSummary `json:"latencyMs"`
	ServiceMs    jsonSummary `json:"serviceMs"`
	// Series is the run second by second, latencies in milliseconds.
	Series []jsonInterval `json:"series"`
}

// jsonInterval is an Interval in JSON: times in seconds, latencies in
// milliseconds.
type jsonInterval struct {
	AtSec      float64 `json:"atSec"`
	LengthSec  float64 `json:"lengthSec"`
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	Throughput float64 `json:"throughput"`
	P50Ms      float64 `json:"p50Ms"`
	P99Ms      float64 `json:"p99Ms"`
	MaxMs      float64 `json:"maxMs"`
}

func toJSONKind(k KindResult) jsonKind {
	j := jsonKind{Kind: k.Kind, Ops: k.Ops, Errors: k.Errors, Throughput: k.Throughput, Pages: k.Pages,
		Items: k.Items, Events: k.Events, Recycled: k.Recycled, EventsPerSec: k.EventsPerSec,
		LatencyMs: toJSONSummary(k.Latency), ServiceMs: toJSONSummary(k.Service), Series: []jsonInterval{}}
	for _, iv := range k.Series {
		j.Series = append(j.Series, jsonInterval{AtSec: iv.At.Seconds(), LengthSec: iv.Length.Seconds(), Ops: iv.Ops,
			Errors: iv.Errors, Throughput: iv.Throughput, P50Ms: ms(iv.P50), P99Ms: ms(iv.P99), MaxMs: ms(iv.Max)})
	}
	return j
}

type jsonResult struct {
	Target      string           `json:"target"`
	Model       string           `json:"model"`
	Rate        string           `json:"rate,omitempty"`
	Mix         string           `json:"mix"`
	Workers     int              `json:"workers"`
	DurationSec float64          `json:"durationSec"`
	WarmupSec   float64          `json:"warmupSec"`
	MeasuredSec float64          `json:"measuredSec"`
	Interrupted bool             `json:"interrupted"`
	CPUSec      float64          `json:"cpuSec"`
	Late        int64            `json:"late"`
	Unstarted   int64            `json:"unstarted"`
	Canceled    int64            `json:"canceled"`
	Kinds       []jsonKind       `json:"kinds"`
	All         jsonKind         `json:"all"`
	Errors      map[string]int64 `json:"errors"`
}

type jsonOutcome struct {
	Threshold string   `json:"threshold"`
	Actual    *float64 `json:"actual"` // null if the kind did not run
	Pass      bool     `json:"pass"`
}

type jsonStep struct {
	Rate   float64 `json:"rate"`
	P99Ms  float64 `json:"p99Ms"`
	Pass   bool    `json:"pass"`
	Reason string  `json:"reason,omitempty"`
}

type jsonSearch struct {
	Kind        string     `json:"kind"`
	P99Ms       float64    `json:"p99Ms"`
	Best        float64    `json:"best"`
	Interrupted bool       `json:"interrupted"`
	Steps       []jsonStep `json:"steps"`
}

type jsonReport struct {
	Machine    string        `json:"machine,omitempty"`
	Population Population    `json:"population"`
	Search     *jsonSearch   `json:"search,omitempty"`
	Result     *jsonResult   `json:"result"`
	Thresholds []jsonOutcome `json:"thresholds"`
}

// WriteJSON writes the report as one JSON object: latencies in
// milliseconds (a threshold's actual value too, for a latency), rates per
// second, and each kind's series second by second.
func (rep *Report) WriteJSON(w io.Writer) error {
	j := jsonReport{Machine: rep.Machine, Population: rep.Population, Thresholds: []jsonOutcome{}}
	if s := rep.Search; s != nil {
		js := &jsonSearch{Kind: s.Kind, P99Ms: ms(s.P99), Best: s.Best, Interrupted: s.Interrupted, Steps: []jsonStep{}}
		for _, st := range s.Steps {
			js.Steps = append(js.Steps, jsonStep{Rate: st.Rate, P99Ms: ms(st.P99), Pass: st.Pass, Reason: st.Reason})
		}
		j.Search = js
	}
	if r := rep.Result; r != nil {
		jr := &jsonResult{Target: r.Target, Model: r.Model, Rate: r.Rate, Mix: r.Mix, Workers: r.Workers,
			DurationSec: r.Duration.Seconds(), WarmupSec: r.Warmup.Seconds(), MeasuredSec: r.Measured.Seconds(),
			Interrupted: r.Interrupted, CPUSec: r.CPU.Seconds(), Late: r.Late, Unstarted: r.Unstarted, Canceled: r.Canceled,
			Kinds: []jsonKind{}, All: toJSONKind(r.All), Errors: r.Errors}
		if jr.Errors == nil {
			jr.Errors = map[string]int64{}
		}
		for _, k := range r.Kinds {
			jr.Kinds = append(jr.Kinds, toJSONKind(k))
		}
		j.Result = jr
	}
	for _, o := range rep.Thresholds {
		jo := jsonOutcome{Threshold: o.Threshold.String(), Pass: o.Pass}
		if !math.IsNaN(o.Actual) {
			v := o.Actual
			if metrics[o.Threshold.Metric] == unitDuration {
				v = v / 1e6 // milliseconds, as the latencies
			}
			jo.Actual = &v
		}
		j.Thresholds = append(j.Thresholds, jo)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]int64) []string {
	return slices.Sorted(maps.Keys(m))
}
