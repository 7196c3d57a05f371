package loadtest

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// checkSeries fails unless a kind's series accounts for its operations,
// second by second over the measured part of the run.
func checkSeries(t *testing.T, r *Result, k *KindResult) {
	t.Helper()
	var ops, errs int64
	var length, top time.Duration
	for i, iv := range k.Series {
		ops += iv.Ops
		errs += iv.Errors
		length += iv.Length
		top = max(top, iv.Max)
		if want := r.Warmup + time.Duration(i)*time.Second; iv.At != want {
			t.Errorf("%s: interval %d at %v; want %v", k.Kind, i, iv.At, want)
		}
		if iv.P50 > iv.P99 || iv.P99 > iv.Max || iv.Max > k.Latency.Max {
			t.Errorf("%s: interval %d: p50 %v, p99 %v, max %v, out of order or over the run's max %v", k.Kind, i, iv.P50, iv.P99, iv.Max, k.Latency.Max)
		}
		if want := float64(iv.Ops) / iv.Length.Seconds(); iv.Throughput != want {
			t.Errorf("%s: interval %d: throughput %v; want %v", k.Kind, i, iv.Throughput, want)
		}
	}
	if ops != k.Ops || errs != k.Errors || length != r.Measured {
		t.Errorf("%s: series of %d ops, %d errors over %v; want %d, %d over %v", k.Kind, ops, errs, length, k.Ops, k.Errors, r.Measured)
	}
	// The histogram's max is its bucket's highest value, within 0.1 %.
	if k.Ops > 0 && float64(top) < 0.999*float64(k.Latency.Max) {
		t.Errorf("%s: the series' max %v; want the run's %v", k.Kind, top, k.Latency.Max)
	}
}

// seed returns the seed of a randomized test, from SEED if set, and logs
// it.
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("SEED=%q: %v", v, err)
		}
	}
	t.Logf("SEED=%d", s)
	return s
}

// TestSecBuckets: every latency falls in a bucket whose middle is within
// 3.2 % of it, and the buckets are in the latencies' order.
func TestSecBuckets(t *testing.T) {
	prev := -1
	for v := int64(1); v < int64(histMax); v = v + 1 + v/97 {
		i := secBucket(v)
		if i < prev || i >= secBuckets {
			t.Fatalf("secBucket(%d) = %d after %d; want increasing below %d", v, i, prev, secBuckets)
		}
		prev = i
		if mid := float64(secValue(i)); math.Abs(mid-float64(v)) > 0.032*float64(v) {
			t.Fatalf("secValue(secBucket(%d)) = %v; want within 3.2%%", v, mid)
		}
	}
	if i := secBucket(math.MaxInt64); i != secBuckets-1 {
		t.Errorf("secBucket(MaxInt64) = %d; want the last, %d", i, secBuckets-1)
	}
}

// TestSecHistQuantiles compares the quantiles with the exact ones.
func TestSecHistQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 1))
	for range 20 {
		var h secHist
		vs := make([]time.Duration, 1+r.IntN(5000))
		for i := range vs {
			vs[i] = time.Duration(math.Exp(r.NormFloat64()*2 + 11)) // about 60 µs, a long tail
			h.record(vs[i], false)
		}
		slices.Sort(vs)
		for _, q := range []float64{0.5, 0.99} {
			exact := vs[int(math.Ceil(q*float64(len(vs))))-1]
			if got := h.quantile(q); math.Abs(float64(got-exact)) > 0.032*float64(exact) {
				t.Errorf("quantile %v of %d latencies = %v; want %v within 3.2%%", q, len(vs), got, exact)
			}
		}
		if h.max != vs[len(vs)-1] || h.ops != int64(len(vs)) {
			t.Errorf("max %v, ops %d; want %v, %d", h.max, h.ops, vs[len(vs)-1], len(vs))
		}
	}
}

// TestSeries: the intervals of workers' seconds, in any order, the last
// one holding what finished after the end, and long runs in coarser
// intervals.
func TestSeries(t *testing.T) {
	const warmup = 2 * time.Second
	var s series
	var cur [3]secCurrent
	// Three workers; one finishes in seconds 0, 1 and 4, one in 1 and 2,
	// one after the end (3.5 s measured: seconds 0 to 3).
	for _, op := range []struct {
		w    int
		k    Kind
		end  time.Duration
		lat  time.Duration
		fail bool
	}{
		{0, KindQuery, 100 * time.Millisecond, time.Millisecond, false},
		{0, KindQuery, 900 * time.Millisecond, 3 * time.Millisecond, true},
		{1, KindQuery, 1100 * time.Millisecond, 2 * time.Millisecond, false},
		{0, KindFeed, 1500 * time.Millisecond, 5 * time.Millisecond, false},
		{1, KindQuery, 2500 * time.Millisecond, 7 * time.Millisecond, false},
		{0, KindQuery, 4200 * time.Millisecond, 9 * time.Millisecond, false},
		{2, KindQuery, 9 * time.Second, 11 * time.Millisecond, false},
	} {
		cur[op.w].record(&s, op.k, op.end, op.lat, op.fail)
	}
	for i := range cur {
		cur[i].flush(&s)
	}
	kinds, all := s.intervals(warmup, 3500*time.Millisecond)
	type iv struct {
		at, length   time.Duration
		ops, errs    int64
		throughput   float64
		p50, p99, mx time.Duration
	}
	got := func(ivs []Interval) []iv {
		var out []iv
		for _, i := range ivs {
			out = append(out, iv{i.At, i.Length, i.Ops, i.Errors, i.Throughput, i.P50, i.P99, i.Max})
		}
		return out
	}
	ms := time.Millisecond
	for _, tt := range []struct {
		name string
		ivs  []Interval
		want []iv
	}{
		{"query", kinds[KindQuery], []iv{
			{2 * time.Second, time.Second, 2, 1, 2, ms, 3 * ms, 3 * ms},
			{3 * time.Second, time.Second, 1, 0, 1, 2 * ms, 2 * ms, 2 * ms},
			{4 * time.Second, time.Second, 1, 0, 1, 7 * ms, 7 * ms, 7 * ms},
			{5 * time.Second, 500 * ms, 2, 0, 4, 9 * ms, 11 * ms, 11 * ms},
		}},
		{"feed", kinds[KindFeed], []iv{
			{2 * time.Second, time.Second, 0, 0, 0, 0, 0, 0},
			{3 * time.Second, time.Second, 1, 0, 1, 5 * ms, 5 * ms, 5 * ms},
			{4 * time.Second, time.Second, 0, 0, 0, 0, 0, 0},
			{5 * time.Second, 500 * ms, 0, 0, 0, 0, 0, 0},
		}},
		{"all", all, []iv{
			{2 * time.Second, time.Second, 2, 1, 2, ms, 3 * ms, 3 * ms},
			{3 * time.Second, time.Second, 2, 0, 2, 2 * ms, 5 * ms, 5 * ms},
			{4 * time.Second, time.Second, 1, 0, 1, 7 * ms, 7 * ms, 7 * ms},
			{5 * time.Second, 500 * ms, 2, 0, 4, 9 * ms, 11 * ms, 11 * ms},
		}},
	} {
		g := got(tt.ivs)
		near := func(a, b time.Duration) bool { return math.Abs(float64(a-b)) <= 0.032*float64(b) }
		ok := len(g) == len(tt.want)
		for i := 0; ok && i < len(g); i++ {
			a, b := g[i], tt.want[i]
			ok = near(a.p50, b.p50) && near(a.p99, b.p99)
			a.p50, a.p99 = b.p50, b.p99
			ok = ok && a == b
		}
		if !ok {
			t.Errorf("%s intervals =\n%v\nwant (p50 and p99 within 3.2%%)\n%v", tt.name, g, tt.want)
		}
	}
	if kinds[KindIngest] != nil || kinds[KindWalk] != nil {
		t.Errorf("series of kinds that did not run: %v, %v", kinds[KindIngest], kinds[KindWalk])
	}
}

// TestSeriesLong: a run longer than maxIntervals seconds has intervals of
// 2ⁿ seconds, no more than maxIntervals, with every operation.
func TestSeriesLong(t *testing.T) {
	for _, secs := range []int64{maxIntervals, maxIntervals + 1, 3*maxIntervals + 7} {
		var s series
		var c secCurrent
		for sec := range secs {
			c.record(&s, KindIngest, time.Duration(sec)*time.Second+time.Millisecond, time.Duration(sec+1)*time.Microsecond, sec%10 == 0)
		}
		c.flush(&s)
		measured := time.Duration(secs) * time.Second
		kinds, _ := s.intervals(0, measured)
		ivs := kinds[KindIngest]
		width := time.Second
		for int64(maxIntervals)*int64(width/time.Second) < secs {
			width *= 2
		}
		var ops, errs int64
		var length time.Duration
		for _, iv := range ivs {
			ops += iv.Ops
			errs += iv.Errors
			length += iv.Length
		}
		if len(ivs) > maxIntervals || ivs[0].Length != width || ops != secs || errs != (secs+9)/10 || length != measured {
			t.Errorf("%d s: %d intervals of %v, %d ops, %d errors over %v; want at most %d of %v, %d ops, %d errors over %v",
				secs, len(ivs), ivs[0].Length, ops, errs, length, maxIntervals, width, secs, (secs+9)/10, measured)
		}
		if last := ivs[len(ivs)-1]; last.Max != time.Duration(secs)*time.Microsecond {
			t.Errorf("%d s: the last interval's max %v; want %v", secs, last.Max, time.Duration(secs)*time.Microsecond)
		}
	}
}

// BenchmarkSecRecord is the cost a finished operation adds for the series.
func BenchmarkSecRecord(b *testing.B) {
	b.ReportAllocs()
	var s series
	var c secCurrent
	lat := 150 * time.Microsecond
	b.ResetTimer()
	for i := range b.N {
		// A thousand operations a second.
		c.record(&s, KindQuery, time.Duration(i)*time.Millisecond, lat+time.Duration(i%1000)*time.Microsecond, false)
	}
}
