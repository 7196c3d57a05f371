package loadtest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket/plot"
)

var update = flag.Bool("update", false, "rewrite the golden files of the reports")

// summaryOf returns the summary of the given latencies.
func summaryOf(vs ...time.Duration) Summary {
	var d dist
	for _, v := range vs {
		d.record(v)
	}
	return d.summary()
}

// spread returns n latencies evenly from step to n·step.
func spread(n int, step time.Duration) []time.Duration {
	vs := make([]time.Duration, n)
	for i := range vs {
		vs[i] = time.Duration(i+1) * step
	}
	return vs
}

func halve(vs []time.Duration) []time.Duration {
	out := make([]time.Duration, len(vs))
	for i, v := range vs {
		out[i] = v / 2
	}
	return out
}

// fixedSeries returns ten intervals from 2 s of ops operations each, the
// latencies growing from base, ten times higher in the fifth second (a
// stall), and errs errors in the sixth.
func fixedSeries(ops, errs int64, base time.Duration) []Interval {
	var ivs []Interval
	for i := range 10 {
		iv := Interval{At: time.Duration(2+i) * time.Second, Length: time.Second, Ops: ops, Throughput: float64(ops),
			P50: base + time.Duration(i)*base/10, P99: 4*base + time.Duration(i)*base/5, Max: 9 * base}
		if i == 4 {
			iv.P50, iv.P99, iv.Max = 10*iv.P50, 10*iv.P99, 10*iv.Max
		}
		if i == 5 {
			iv.Errors = errs
		}
		ivs = append(ivs, iv)
	}
	return ivs
}

// sumSeries adds series up, as a run's all.
func sumSeries(ss ...[]Interval) []Interval {
	out := slices.Clone(ss[0])
	for _, s := range ss[1:] {
		for i, iv := range s {
			o := &out[i]
			o.Ops += iv.Ops
			o.Errors += iv.Errors
			o.Throughput += iv.Throughput
			o.P50, o.P99, o.Max = max(o.P50, iv.P50), max(o.P99, iv.P99), max(o.Max, iv.Max)
		}
	}
	return out
}

// fixedResult is a result of fixed content: 100 ingests (2 failed), 1000
// queries and 50 feed polls over 10 s.
func fixedResult() *Result {
	ingest := spread(100, 50*time.Microsecond)
	query := spread(1000, time.Microsecond)
	feed := spread(50, 20*time.Microsecond)
	all := append(append(append([]time.Duration{}, ingest...), query...), feed...)
	ingestS, queryS, feedS := fixedSeries(10, 2, 600*time.Microsecond), fixedSeries(100, 0, 150*time.Microsecond), fixedSeries(5, 0, 300*time.Microsecond)
	return &Result{
		Target: "http", Model: "open", Rate: "115", Mix: "ingest=10,query=100,feed=5", Workers: 32,
		Duration: 12 * time.Second, Warmup: 2 * time.Second, Measured: 10 * time.Second,
		Late: 3, Unstarted: 0, Canceled: 0, CPU: 15 * time.Second,
		Kinds: []KindResult{
			{Kind: "ingest", Ops: 100, Errors: 2, Throughput: 10, Events: 100000, Recycled: 20000, EventsPerSec: 10000,
				Latency: summaryOf(ingest...), Service: summaryOf(halve(ingest)...), Series: ingestS},
			{Kind: "query", Ops: 1000, Throughput: 100, Pages: 1000, Items: 50000,
				Latency: summaryOf(query...), Service: summaryOf(halve(query)...), Series: queryS},
			{Kind: "feed", Ops: 50, Throughput: 5, Pages: 50, Items: 4321,
				Latency: summaryOf(feed...), Service: summaryOf(halve(feed)...), Series: feedS},
		},
		All: KindResult{Kind: "all", Ops: 1150, Errors: 2, Throughput: 115, Pages: 1050, Items: 54321, Events: 100000,
			Recycled: 20000, EventsPerSec: 10000, Latency: summaryOf(all...), Service: summaryOf(halve(all)...),
			Series: sumSeries(ingestS, queryS, feedS)},
		Errors: map[string]int64{"HTTP 503": 1, "timeout": 1},
	}
}

// fixedReport is a report of fixed content, with a search and thresholds.
func fixedReport(t *testing.T) *Report {
	r := fixedResult()
	return &Report{
		Result: r,
		Thresholds: []Outcome{
			mustThreshold(t, "query:p99<2ms").Check(r),
			mustThreshold(t, "errors<1").Check(r),
			mustThreshold(t, "walk:p99<1ms").Check(r),
		},
		Search: &SearchResult{P99: 50 * time.Millisecond, Kind: "all", Best: 230, Steps: []SearchStep{
			{Rate: 115, P99: 900 * time.Microsecond, Pass: true},
			{Rate: 230, P99: 2 * time.Millisecond, Pass: true},
			{Rate: 460, P99: 80 * time.Millisecond, Reason: "p99 80ms over 50ms"},
		}},
		Population: Population{Baskets: 1000000, Events: 3456789, Abandoned: 345678},
		Machine:    "linux/amd64, 2 CPUs",
	}
}

// golden compares got with the golden file, or rewrites it with -update.
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

func TestReportGolden(t *testing.T) {
	for _, f := range []struct {
		file  string
		write func(*Report, *bytes.Buffer) error
	}{
		{"report.txt", func(r *Report, b *bytes.Buffer) error { return r.WriteText(b) }},
		{"report.json", func(r *Report, b *bytes.Buffer) error { return r.WriteJSON(b) }},
		{"report.html", func(r *Report, b *bytes.Buffer) error { return r.WriteHTML(b) }},
	} {
		t.Run(f.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.write(fixedReport(t), &b); err != nil {
				t.Fatal(err)
			}
			golden(t, f.file, b.Bytes())
		})
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := fixedReport(t).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Result struct {
			Kinds []struct {
				Kind      string
				Ops       int64
				LatencyMs struct {
					P99   float64
					Curve []struct{ Percentile, Ms float64 }
				}
			}
		}
		Thresholds []struct {
			Threshold string
			Actual    *float64
			Pass      bool
		}
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	r := fixedResult()
	if len(got.Result.Kinds) != len(r.Kinds) {
		t.Fatalf("%d kinds in JSON; want %d", len(got.Result.Kinds), len(r.Kinds))
	}
	for i, k := range got.Result.Kinds {
		want := r.Kinds[i]
		if k.Kind != want.Kind || k.Ops != want.Ops || k.LatencyMs.P99 != float64(want.Latency.P99)/1e6 ||
			len(k.LatencyMs.Curve) != len(CurvePercentiles) {
			t.Errorf("JSON kind %d = %+v; want %s, %d ops, p99 %v", i, k, want.Kind, want.Ops, want.Latency.P99)
		}
	}
	if th := got.Thresholds; len(th) != 3 || !th[0].Pass || th[1].Pass || th[2].Actual != nil {
		t.Errorf("JSON thresholds = %+v; want pass, fail, and no value for walk", th)
	}
}

func TestReportHTMLSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := fixedReport(t).WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{"<svg", "<polyline", "query latency", "query service", "p99 80ms over 50ms",
		">Throughput</text>", ">ingest latency</text>", ">query latency</text>", ">feed latency</text>",
		"<title>7s\ningest: 10\nquery: 100\nfeed: 5\nerrors: 2</title>", "<title>6s\np50: 8.4ms\np99: 28.8ms\nmax: 54ms</title>"} {
		if !strings.Contains(s, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	if err := plot.CheckSelfContained(s); err != nil {
		t.Error(err)
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"}, {950, "950ns"}, {1000, "1.00µs"}, {12345, "12.3µs"}, {123456, "123µs"},
		{1234567, "1.23ms"}, {2 * time.Second, "2.00s"}, {150 * time.Second, "150s"},
	}
	for _, tt := range tests {
		if got := fmtDur(tt.d); got != tt.want {
			t.Errorf("fmtDur(%d) = %q; want %q", tt.d, got, tt.want)
		}
	}
	nums := []struct {
		v    float64
		want string
	}{{0, "0"}, {12.5, "12.5"}, {999, "999"}, {1000, "1,000"}, {1234567.4, "1,234,567"}, {-4200, "-4,200"}}
	for _, tt := range nums {
		if got := fmtNum(tt.v); got != tt.want {
			t.Errorf("fmtNum(%v) = %q; want %q", tt.v, got, tt.want)
		}
	}
}
