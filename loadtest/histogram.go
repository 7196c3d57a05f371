package loadtest

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in nanoseconds, from 1 ns to an hour, to three
// significant figures; longer ones are recorded as an hour and counted in
// Summary.Clamped.
const (
	histMin     = 1
	histMax     = int64(time.Hour)
	histSigFigs = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSigFigs) }

// CurvePercentiles are the percentiles of Summary.Curve: the points of a
// latency-by-percentile plot.
var CurvePercentiles = []float64{0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100}

// Summary is a latency distribution: the percentiles a report shows and
// the points of its plot.
type Summary struct {
	Count   int64
	Clamped int64 // latencies over an hour, recorded as an hour
	Min     time.Duration
	Mean    time.Duration
	P50     time.Duration
	P90     time.Duration
	P99     time.Duration
	P999    time.Duration
	P9999   time.Duration
	Max     time.Duration
	// Curve holds the latency at each of CurvePercentiles.
	Curve []time.Duration
}

// Percentile returns the latency at percentile p, one of 50, 90, 99, 99.9,
// 99.99 or 100 (the max), and whether p is one of them.
func (s *Summary) Percentile(p float64) (time.Duration, bool) {
	switch p {
	case 50:
		return s.P50, true
	case 90:
		return s.P90, true
	case 99:
		return s.P99, true
	case 99.9:
		return s.P999, true
	case 99.99:
		return s.P9999, true
	case 100:
		return s.Max, true
	}
	return 0, false
}

// dist is a latency histogram of one worker and one kind of operation.
type dist struct {
	h       *hdrhistogram.Histogram // nil until the first record
	clamped int64
}

func (d *dist) record(v time.Duration) {
	if d.h == nil {
		d.h = newHist()
	}
	if v < histMin {
		v = histMin
	}
	if int64(v) > histMax {
		v = time.Duration(histMax)
		d.clamped++
	}
	// RecordValue fails only out of range, which cannot happen here.
	_ = d.h.RecordValue(int64(v))
}

// merge adds o's records to d.
func (d *dist) merge(o *dist) {
	if o.h == nil {
		return
	}
	if d.h == nil {
		d.h = newHist()
	}
	d.h.Merge(o.h)
	d.clamped += o.clamped
}

// summary returns the distribution's summary.
func (d *dist) summary() Summary {
	s := Summary{Clamped: d.clamped}
	if d.h == nil || d.h.TotalCount() == 0 {
		return s
	}
	h := d.h
	s.Count = h.TotalCount()
	s.Min = time.Duration(h.Min())
	s.Mean = time.Duration(h.Mean())
	s.P50 = time.Duration(h.ValueAtQuantile(50))
	s.P90 = time.Duration(h.ValueAtQuantile(90))
	s.P99 = time.Duration(h.ValueAtQuantile(99))
	s.P999 = time.Duration(h.ValueAtQuantile(99.9))
	s.P9999 = time.Duration(h.ValueAtQuantile(99.99))
	s.Max = time.Duration(h.Max())
	s.Curve = make([]time.Duration, len(CurvePercentiles))
	for i, p := range CurvePercentiles {
		switch p {
		case 0:
			s.Curve[i] = s.Min
		case 100:
			s.Curve[i] = s.Max
		default:
			s.Curve[i] = time.Duration(h.ValueAtQuantile(p))
		}
	}
	return s
}
