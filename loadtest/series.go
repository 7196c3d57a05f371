package loadtest

import (
	"math/bits"
	"sync"
	"time"
)

// Interval is what a run measured of one kind of operation over one
// second of its measured part: the operations that finished in it.
type Interval struct {
	// At is when the interval starts, from the run's start.
	At time.Duration
	// Length is 1 s; less for the last interval of a run that stopped
	// between two seconds; a power of two seconds in a run longer than
	// maxIntervals seconds, whose series would be too long otherwise.
	Length time.Duration
	// Ops counts the operations that finished in the interval, failed
	// ones included; the last interval also counts those that finished
	// after the end of the run.
	Ops int64
	// Errors counts the failed ones.
	Errors int64
	// Throughput is Ops per second of Length.
	Throughput float64
	// P50 and P99 are latencies from the intended start, to within 3 %;
	// Max is exact. All are 0 when no operation finished.
	P50, P99, Max time.Duration
}

// maxIntervals bounds a series: a run over an hour has intervals of 2 s,
// 4 s, … so that its series has at most this many.
const maxIntervals = 3600

// A secHist is a latency histogram of one kind of operation over an
// interval, small enough to keep for every second of a run: values below
// 16 ns exact, others in 16 buckets per power of two (within 3 % of the
// bucket's middle), up to 2⁴² ns (73 minutes, beyond histMax).
type secHist struct {
	ops, errs int64
	max       time.Duration
	counts    [secBuckets]uint32
}

const secBuckets = 16 + (42-4)*16

// secBucket returns the bucket of a latency of v ns, v ≥ 1.
func secBucket(v int64) int {
	if v < 16 {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - 1 // 2^e ≤ v < 2^(e+1), e ≥ 4
	return min(16+(e-4)*16+(int(v>>(e-4))&15), secBuckets-1)
}

// secValue returns the middle of bucket i.
func secValue(i int) time.Duration {
	if i < 16 {
		return time.Duration(i)
	}
	e, sub := (i-16)/16+4, int64((i-16)%16)
	return time.Duration((16+sub)<<(e-4) + (int64(1)<<(e-4))/2)
}

func (h *secHist) record(lat time.Duration, failed bool) {
	h.ops++
	if failed {
		h.errs++
	}
	h.max = max(h.max, lat)
	h.counts[secBucket(int64(lat))]++
}

func (h *secHist) merge(o *secHist) {
	h.ops += o.ops
	h.errs += o.errs
	h.max = max(h.max, o.max)
	for i, n := range o.counts {
		h.counts[i] += n
	}
}

// quantile returns the latency at quantile q (0 < q ≤ 1).
func (h *secHist) quantile(q float64) time.Duration {
	var total int64
	for _, n := range h.counts {
		total += int64(n)
	}
	if total == 0 {
		return 0
	}
	rank := max(1, int64(q*float64(total)+0.999999))
	var seen int64
	for i, n := range h.counts {
		if seen += int64(n); seen >= rank {
			return min(secValue(i), h.max)
		}
	}
	return h.max
}

// secCurrent is a worker's histograms of the second it is in. A worker
// finishes its operations one after the other, so it hands a second over
// to the run's series once, when its first operation of a later second
// finishes.
type secCurrent struct {
	sec   int64 // from the end of the warm-up
	kinds [numKinds]*secHist
	any   bool // some histogram holds records
}

// record records an operation of kind k that finished at end (from the
// end of the warm-up).
func (c *secCurrent) record(to *series, k Kind, end, lat time.Duration, failed bool) {
	if sec := int64(end / time.Second); sec != c.sec {
		c.flush(to)
		c.sec = sec
	}
	if c.kinds[k] == nil {
		c.kinds[k] = new(secHist)
	}
	c.kinds[k].record(lat, failed)
	c.any = true
}

// flush hands the second's records to the series.
func (c *secCurrent) flush(to *series) {
	if !c.any {
		return
	}
	to.add(c.sec, &c.kinds)
	for _, h := range c.kinds {
		if h != nil {
			*h = secHist{}
		}
	}
	c.any = false
}

// series is a run's intervals, which its workers add to.
type series struct {
	mu    sync.Mutex // guards shift and slots
	shift uint       // a slot holds 1<<shift seconds
	slots [][numKinds]*secHist
}

// add adds the records of second sec (from the end of the warm-up).
func (s *series) add(sec int64, hs *[numKinds]*secHist) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sec>>s.shift >= maxIntervals {
		s.coarsen()
	}
	i := int(sec >> s.shift)
	for len(s.slots) <= i {
		s.slots = append(s.slots, [numKinds]*secHist{})
	}
	for k, h := range hs {
		if h == nil || h.ops == 0 {
			continue
		}
		if s.slots[i][k] == nil {
			s.slots[i][k] = new(secHist)
		}
		s.slots[i][k].merge(h)
	}
}

// coarsen doubles the slots' length, merging them in pairs. s.mu must be
// held.
func (s *series) coarsen() {
	n := (len(s.slots) + 1) / 2
	for i := range n {
		a := s.slots[2*i]
		if 2*i+1 < len(s.slots) {
			for k, h := range s.slots[2*i+1] {
				switch {
				case h == nil:
				case a[k] == nil:
					a[k] = h
				default:
					a[k].merge(h)
				}
			}
		}
		s.slots[i] = a
	}
	clear(s.slots[n:])
	s.slots = s.slots[:n]
	s.shift++
}

// intervals returns the series of each kind and of all together, for a
// run whose measured part began at warmup and lasted measured. Records
// past its end count in its last interval. The workers must have stopped.
func (s *series) intervals(warmup, measured time.Duration) (kinds [numKinds][]Interval, all []Interval) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if measured <= 0 {
		return kinds, nil
	}
	secs := int64((measured + time.Second - 1) / time.Second)
	for (secs-1)>>s.shift >= maxIntervals {
		s.coarsen()
	}
	width := time.Second << s.shift
	n := int((secs-1)>>s.shift) + 1
	slots := make([][numKinds]*secHist, n)
	for i, sl := range s.slots {
		for k, h := range sl {
			if h == nil {
				continue
			}
			j := min(i, n-1)
			if slots[j][k] == nil {
				slots[j][k] = new(secHist)
			}
			slots[j][k].merge(h)
		}
	}
	used := [numKinds]bool{}
	for _, sl := range slots {
		for k, h := range sl {
			used[k] = used[k] || h != nil
		}
	}
	interval := func(i int, h *secHist) Interval {
		at := time.Duration(i) * width
		iv := Interval{At: warmup + at, Length: min(width, measured-at)}
		if h != nil {
			iv.Ops, iv.Errors, iv.Max = h.ops, h.errs, h.max
			iv.P50, iv.P99 = h.quantile(0.5), h.quantile(0.99)
			iv.Throughput = float64(h.ops) / iv.Length.Seconds()
		}
		return iv
	}
	for i, sl := range slots {
		var sum secHist
		for k, h := range sl {
			if used[k] {
				kinds[k] = append(kinds[k], interval(i, h))
			}
			if h != nil {
				sum.merge(h)
			}
		}
		h := &sum
		if sum.ops == 0 {
			h = nil
		}
		all = append(all, interval(i, h))
	}
	return kinds, all
}
