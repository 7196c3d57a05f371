package loadtest

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in   string
		want Threshold
	}{
		{"query:p99<2ms", Threshold{"query", "p99", "<", float64(2 * time.Millisecond)}},
		{"p99.9<=10ms", Threshold{"all", "p99.9", "<=", float64(10 * time.Millisecond)}},
		{"all:p50<500us", Threshold{"all", "p50", "<", float64(500 * time.Microsecond)}},
		{"feed:max<1s", Threshold{"feed", "max", "<", float64(time.Second)}},
		{"walk:mean>=1ns", Threshold{"walk", "mean", ">=", 1}},
		{"p99.99<3ms", Threshold{"all", "p99.99", "<", float64(3 * time.Millisecond)}},
		{"p90>0s", Threshold{"all", "p90", ">", 0}},
		{"ingest:events/s>=200000", Threshold{"ingest", "events/s", ">=", 200000}},
		{"throughput>1e3", Threshold{"all", "throughput", ">", 1000}},
		{"errors<1", Threshold{"all", "errors", "<", 1}},
		{"query:error-rate<0.1%", Threshold{"query", "error-rate", "<", 0.001}},
		{"error-rate<=0.5", Threshold{"all", "error-rate", "<=", 0.5}},
		{"late<10", Threshold{"all", "late", "<", 10}},
		{"unstarted<=0", Threshold{"all", "unstarted", "<=", 0}},
		// White space around the parts, as a shell's quotes keep it.
		{"p99 < 2ms", Threshold{"all", "p99", "<", float64(2 * time.Millisecond)}},
		{" query : p99 <= 10ms ", Threshold{"query", "p99", "<=", float64(10 * time.Millisecond)}},
		{"\tingest:events/s >=\t200000\n", Threshold{"ingest", "events/s", ">=", 200000}},
		{"error-rate < 1%", Threshold{"all", "error-rate", "<", 0.01}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseThreshold(tt.in)
			if err != nil {
				t.Fatalf("ParseThreshold(%q) error %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseThreshold(%q) = %+v; want %+v", tt.in, got, tt.want)
			}
			back, err := ParseThreshold(got.String())
			if err != nil || back != got {
				t.Errorf("ParseThreshold(%q) = %+v, %v; want %+v", got.String(), back, err, got)
			}
		})
	}
	for _, in := range []string{
		"", "p99", "p99=2ms", "p99<", "p99<2", "p99<-1ms", "p98<2ms", "search:p99<2ms", "query:late<1",
		"query:p99<<2ms", "errors<-1", "errors<x", "error-rate<2", "error-rate<101%", "throughput<NaN",
		"throughput<Inf", ":p99<1ms", "query:unstarted<1",
		"p99 < = 2ms", "p99 < 2 ms", "p 99<2ms", "qu ery:p99<2ms", " < 2ms", "p99 <", "error-rate<1 %",
	} {
		t.Run("bad "+in, func(t *testing.T) {
			if th, err := ParseThreshold(in); !errors.Is(err, ErrBadThreshold) {
				t.Errorf("ParseThreshold(%q) = %+v, %v; want ErrBadThreshold", in, th, err)
			}
		})
	}
}

func TestParseErrorRate(t *testing.T) {
	for in, want := range map[string]float64{"1%": 0.01, "0.5%": 0.005, "100%": 1, "0%": 0, "0.01": 0.01, "0": 0, "1": 1} {
		if got, err := ParseErrorRate(in); err != nil || got != want {
			t.Errorf("ParseErrorRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "%", "x", "1%%", "-1%", "101%", "-0.1", "1.5", "NaN", "Inf", "NaN%"} {
		if got, err := ParseErrorRate(in); err == nil {
			t.Errorf("ParseErrorRate(%q) = %v; want an error", in, got)
		}
	}
}

func TestThresholdCheck(t *testing.T) {
	r := fixedResult()
	tests := []struct {
		in     string
		actual float64
		pass   bool
	}{
		// query latencies: 1 µs to 1 ms, one each (1000 values).
		{"query:p99<2ms", float64(r.Kinds[1].Latency.P99), true},
		{"query:p99<500us", float64(r.Kinds[1].Latency.P99), false},
		{"query:max<=1ms", float64(r.Kinds[1].Latency.Max), false}, // the histogram rounds the max up
		{"query:max<=1001us", float64(r.Kinds[1].Latency.Max), true},
		{"query:throughput>=100", 100, true},
		{"query:throughput>100", 100, false},
		{"query:errors<1", 0, true},
		{"ingest:errors<1", 2, false},
		{"ingest:error-rate<=2%", 0.02, true},
		{"ingest:error-rate<1%", 0.02, false},
		{"ingest:events/s>=10000", 10000, true},
		{"errors<=2", 2, true},
		{"late<3", 3, false},
		{"unstarted<1", 0, true},
		{"walk:p99<1s", math.NaN(), false}, // no walks ran
		{"walk:errors<1", math.NaN(), false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			th, err := ParseThreshold(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			o := th.Check(r)
			same := o.Actual == tt.actual || (math.IsNaN(o.Actual) && math.IsNaN(tt.actual))
			if !same || o.Pass != tt.pass {
				t.Errorf("Check(%s) = %v, %v; want %v, %v", tt.in, o.Actual, o.Pass, tt.actual, tt.pass)
			}
		})
	}
	ths := []Threshold{mustThreshold(t, "query:p99<2ms"), mustThreshold(t, "late<3")}
	out, pass := CheckAll(r, ths)
	if pass || len(out) != 2 || !out[0].Pass || out[1].Pass {
		t.Errorf("CheckAll = %v, %v; want the second to fail", out, pass)
	}
	if _, pass := CheckAll(r, nil); !pass {
		t.Error("CheckAll(no thresholds) failed")
	}
}

func mustThreshold(t *testing.T, s string) Threshold {
	t.Helper()
	th, err := ParseThreshold(s)
	if err != nil {
		t.Fatal(err)
	}
	return th
}
