package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Options configure a run. Duration is required; a nil Pacer means the
// closed model.
type Options struct {
	// Duration is how long operations are started, warm-up included. It
	// must be positive: every run stops by itself.
	Duration time.Duration
	// Warmup is the first part of Duration whose operations run but are
	// not measured. Default 0.
	Warmup time.Duration
	// Pacer starts operations on its schedule (the open model), and
	// latency is measured from each operation's intended start. Nil means
	// the closed model: Workers loop, each starting an operation as soon as
	// its previous one ends.
	Pacer Pacer
	// Workers bounds the operations in flight in the open model (an
	// operation due while all are busy starts late, and its latency counts
	// from when it was due), or is the number of looping workers in the
	// closed model. Default 32 (open), 4 (closed).
	Workers int
	// Mix weighs the kinds of operations. Default DefaultMix.
	Mix Mix
	// Timeout bounds one operation. Default 10 s.
	Timeout time.Duration
	// LateAfter is how far past its intended start an operation may start
	// before it counts as late. Default 1 ms.
	LateAfter time.Duration
	// Seed chooses each operation's kind and parameters. Default 0.
	Seed uint64
	// Progress, if set, is called about once a second from a goroutine of
	// the run, and not after Run returns.
	Progress func(Progress)
}

// Progress tells how far a run has come.
type Progress struct {
	Elapsed  time.Duration
	Duration time.Duration
	Started  int64 // operations started, warm-up included
	Done     int64 // operations finished
	Errors   int64
}

// Result is what a run measured, warm-up excluded.
type Result struct {
	Target   string        // "engine" or "http"
	Model    string        // "open" or "closed"
	Rate     string        // the pacer, as ParseRate reads it; empty in the closed model
	Mix      string        // as ParseMix reads it
	Workers  int           // the bound on operations in flight, or the closed model's workers
	Duration time.Duration // asked for, warm-up included
	Warmup   time.Duration
	// Measured is the time over which throughput is computed: from the end
	// of the warm-up to the end of the run (or its interruption).
	Measured    time.Duration
	Interrupted bool // stopped by its context before the end
	// CPU is the CPU time (user and system) the whole process used during
	// the run, warm-up included: the load tester, and the engine or
	// server when they run in the same process. Beside Duration it shows
	// how much of the machine the run had; 0 where unknown.
	CPU time.Duration

	// Late counts operations that started more than LateAfter past their
	// intended start because every worker was busy or the pacer's timer
	// woke late (open model).
	Late int64
	// Unstarted counts operations due before the end that never started
	// because every worker stayed busy (open model).
	Unstarted int64
	// Canceled counts operations cut short by an interruption; they are
	// neither measured nor errors.
	Canceled int64

	// Kinds has one entry per kind of operation that ran, in the order
	// ingest, query, walk, feed.
	Kinds []KindResult
	// All is every operation together.
	All KindResult
	// Errors counts failed operations by kind of error: "HTTP 503",
	// "timeout", "network", "engine: unknown basket", …
	Errors map[string]int64
}

// KindResult is what a run measured of one kind of operation.
type KindResult struct {
	Kind       string  // ingest, query, walk, feed, or "all"
	Ops        int64   // finished, failed ones included
	Errors     int64   // failed
	Throughput float64 // operations finished per second
	Pages      int64   // pages read (queries, walks, feed polls)
	Items      int64   // baskets read
	Events     int64   // events ingested
	Recycled   int64   // of Events, those of batches sent before, baskets renamed
	// EventsPerSec is Events per second.
	EventsPerSec float64
	// Latency is measured from each operation's intended start: the
	// response time a client on schedule sees, stalls and queueing
	// included.
	Latency Summary
	// Service is measured from each operation's actual start: what a naive
	// tester reports, blind to the time operations waited to start.
	Service Summary
	// Series is the measured part of the run second by second: the
	// operations that finished in each second, their throughput, errors
	// and latency (from the intended start).
	Series []Interval
}

// Kind returns the result of the kind named name, and whether the run had
// one.
func (r *Result) Kind(name string) (*KindResult, bool) {
	if name == "all" || name == "" {
		return &r.All, true
	}
	for i := range r.Kinds {
		if r.Kinds[i].Kind == name {
			return &r.Kinds[i], true
		}
	}
	return nil, false
}

// stats is one worker's records: written by the worker only, read after
// it has stopped.
type stats struct {
	lat, svc                        [numKinds]dist
	ops, errs, pages, items, events [numKinds]int64
	recycled                        [numKinds]int64
	late, canceled                  int64
	errors                          map[string]int64
	second                          secCurrent // the second the worker is in
}

// runner is one run.
type runner struct {
	t        Target
	w        *Workload
	o        Options
	start    time.Time
	ctx      context.Context // canceled on interruption
	started  atomic.Int64
	done     atomic.Int64
	failures atomic.Int64
	series   series // the measured seconds
}

// Run loads t with w's operations for o.Duration and returns what it
// measured. It stops early, and still returns its result (marked
// Interrupted), when ctx is done; the error is then nil. Operations in
// flight at the end are waited for, up to o.Timeout.
func Run(ctx context.Context, t Target, w *Workload, o Options) (*Result, error) {
	if o.Duration <= 0 {
		return nil, errors.New("loadtest: the duration must be positive: every run is bounded in time")
	}
	if o.Warmup < 0 || o.Warmup >= o.Duration {
		return nil, fmt.Errorf("loadtest: warm-up %v must be at least 0 and shorter than the duration %v", o.Warmup, o.Duration)
	}
	if o.Mix == (Mix{}) {
		o.Mix = DefaultMix
	}
	if o.Mix.total() <= 0 {
		return nil, errors.New("loadtest: every weight of the mix is 0")
	}
	if o.Mix[KindIngest] > 0 && len(w.batches) == 0 {
		return nil, errors.New("loadtest: the mix has ingest but the workload no events")
	}
	if o.Workers <= 0 {
		o.Workers = 32
		if o.Pacer == nil {
			o.Workers = 4
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.LateAfter <= 0 {
		o.LateAfter = time.Millisecond
	}
	r := &runner{t: t, w: w, o: o, ctx: ctx}
	all := make([]*stats, o.Workers)
	for i := range all {
		all[i] = &stats{errors: map[string]int64{}}
	}

	stopProgress := r.progress()
	cpu0 := processCPU()
	r.start = time.Now()
	var unstarted int64
	var stoppedAt time.Duration
	if o.Pacer != nil {
		unstarted, stoppedAt = r.open(all)
	} else {
		stoppedAt = r.closed(all)
	}
	stopProgress()
	cpu := processCPU() - cpu0
	for _, s := range all {
		s.second.flush(&r.series)
	}

	res := &Result{
		CPU:         cpu,
		Target:      t.Name(),
		Model:       "closed",
		Mix:         o.Mix.String(),
		Workers:     o.Workers,
		Duration:    o.Duration,
		Warmup:      o.Warmup,
		Interrupted: ctx.Err() != nil,
		Unstarted:   unstarted,
		Errors:      map[string]int64{},
	}
	if o.Pacer != nil {
		res.Model, res.Rate = "open", o.Pacer.String()
	}
	res.Measured = max(0, min(stoppedAt, o.Duration)-o.Warmup)
	merged := &stats{}
	for _, s := range all {
		for k := range numKinds {
			merged.lat[k].merge(&s.lat[k])
			merged.svc[k].merge(&s.svc[k])
			merged.ops[k] += s.ops[k]
			merged.errs[k] += s.errs[k]
			merged.pages[k] += s.pages[k]
			merged.items[k] += s.items[k]
			merged.events[k] += s.events[k]
			merged.recycled[k] += s.recycled[k]
		}
		res.Late += s.late
		res.Canceled += s.canceled
		for e, n := range s.errors {
			res.Errors[e] += n
		}
	}
	secs := res.Measured.Seconds()
	perSec := func(n int64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	byKind, allSeries := r.series.intervals(o.Warmup, res.Measured)
	var allLat, allSvc dist
	res.All.Kind = "all"
	for k := range numKinds {
		if merged.ops[k] == 0 {
			continue
		}
		kr := KindResult{
			Kind:       Kind(k).String(),
			Ops:        merged.ops[k],
			Errors:     merged.errs[k],
			Throughput: perSec(merged.ops[k]),
			Pages:      merged.pages[k],
			Items:      merged.items[k],
			Events:     merged.events[k],
			Recycled:   merged.recycled[k],
			Latency:    merged.lat[k].summary(),
			Service:    merged.svc[k].summary(),
			Series:     byKind[k],
		}
		kr.EventsPerSec = perSec(kr.Events)
		res.Kinds = append(res.Kinds, kr)
		allLat.merge(&merged.lat[k])
		allSvc.merge(&merged.svc[k])
		res.All.Ops += kr.Ops
		res.All.Errors += kr.Errors
		res.All.Pages += kr.Pages
		res.All.Items += kr.Items
		res.All.Events += kr.Events
		res.All.Recycled += kr.Recycled
	}
	res.All.Throughput = perSec(res.All.Ops)
	res.All.EventsPerSec = perSec(res.All.Events)
	res.All.Latency = allLat.summary()
	res.All.Service = allSvc.summary()
	res.All.Series = allSeries
	return res, nil
}

// progress starts the progress reports, if asked for; the function it
// returns stops them and waits.
func (r *runner) progress() func() {
	if r.o.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				r.o.Progress(Progress{
					Elapsed:  time.Since(r.start),
					Duration: r.o.Duration,
					Started:  r.started.Load(),
					Done:     r.done.Load(),
					Errors:   r.failures.Load(),
				})
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}

// job is an operation of the open model, handed to a worker.
type job struct {
	n   uint64
	due time.Duration // intended start, from the run's start
}

// open runs the open model. It returns the operations due before the end
// that never started and when the scheduling stopped.
func (r *runner) open(all []*stats) (unstarted int64, stoppedAt time.Duration) {
	jobs := make(chan job)
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Go(func() {
			for j := range jobs {
				r.exec(s, j.n, j.due, time.Since(r.start))
			}
		})
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()
	end := time.NewTimer(r.o.Duration)
	defer end.Stop()
	sleep := time.NewTimer(time.Hour)
	defer sleep.Stop()
	p := r.o.Pacer
	for n := uint64(0); ; n++ {
		due, ok := p.Due(n)
		if !ok || due >= r.o.Duration {
			// Every operation was started: the run ends on schedule.
			if ok {
				select {
				case <-end.C:
				case <-r.ctx.Done():
					return 0, time.Since(r.start)
				}
			}
			return 0, r.o.Duration
		}
		if !r.waitUntil(r.start.Add(due), sleep, end) {
			if r.ctx.Err() != nil {
				return 0, time.Since(r.start)
			}
			return countDue(p, n, r.o.Duration), r.o.Duration
		}
		select {
		case jobs <- job{n, due}:
			r.started.Add(1)
		case <-r.ctx.Done():
			return 0, time.Since(r.start)
		case <-end.C:
			return countDue(p, n, r.o.Duration), r.o.Duration
		}
	}
}

// coarse is how long before an operation is due the pacer stops sleeping
// on a Go timer, which may wake a millisecond late, and sleeps the rest
// with preciseSleep.
const coarse = 1500 * time.Microsecond

// waitUntil waits until at: on timer until coarse before, then with
// preciseSleep. It returns false if the run's context or end came first.
func (r *runner) waitUntil(at time.Time, timer *time.Timer, end *time.Timer) bool {
	for {
		d := time.Until(at)
		if d <= 0 {
			return true
		}
		if d <= coarse {
			preciseSleep(d)
			return r.ctx.Err() == nil
		}
		timer.Reset(d - coarse)
		select {
		case <-timer.C:
		case <-r.ctx.Done():
			return false
		case <-end.C:
			return false
		}
	}
}

// countDue returns how many operations from n on are due before end.
func countDue(p Pacer, n uint64, end time.Duration) int64 {
	before := func(m uint64) bool {
		at, ok := p.Due(m)
		return ok && at < end
	}
	if !before(n) {
		return 0
	}
	// Exponential search for a bound, then binary search for the last.
	lo, step := n, uint64(1)
	hi := n + step
	for before(hi) {
		lo = hi
		if step > math.MaxUint64/4 {
			break
		}
		step *= 2
		hi = n + step
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if before(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return int64(lo - n + 1)
}

// closed runs the closed model and returns when it stopped.
func (r *runner) closed(all []*stats) time.Duration {
	var wg sync.WaitGroup
	for i, s := range all {
		wg.Go(func() {
			for n := uint64(i) << 40; ; n++ {
				if r.ctx.Err() != nil {
					return
				}
				at := time.Since(r.start)
				if at >= r.o.Duration {
					return
				}
				r.started.Add(1)
				r.exec(s, n, at, at)
			}
		})
	}
	wg.Wait()
	if r.ctx.Err() != nil {
		return time.Since(r.start)
	}
	return r.o.Duration
}

// exec runs operation n, intended at due and started at began (both from
// the run's start), and records it in s.
func (r *runner) exec(s *stats, n uint64, due, began time.Duration) {
	kind := r.o.Mix.pick(draw(r.o.Seed, n, 0))
	u := draw(r.o.Seed, n, 1)
	ctx, cancel := context.WithTimeout(r.ctx, r.o.Timeout)
	pages, items, events, recycled, err := r.do(ctx, kind, u)
	cancel()
	end := time.Since(r.start)
	r.done.Add(1)
	if err != nil && r.ctx.Err() != nil {
		s.canceled++
		return
	}
	if due < r.o.Warmup {
		return
	}
	if began-due > r.o.LateAfter {
		s.late++
	}
	s.ops[kind]++
	if err != nil {
		r.failures.Add(1)
		s.errs[kind]++
		s.errors[ErrorKind(err)]++
	} else {
		s.pages[kind] += pages
		s.items[kind] += items
		s.events[kind] += events
		if recycled {
			s.recycled[kind] += events
		}
	}
	s.lat[kind].record(end - due)
	s.svc[kind].record(end - began)
	s.second.record(&r.series, kind, end-r.o.Warmup, end-due, err != nil)
}

// maxWalkPages bounds the pages of one walk.
const maxWalkPages = 1 << 20

// do runs one operation.
func (r *runner) do(ctx context.Context, kind Kind, u float64) (pages, items, events int64, recycled bool, err error) {
	switch kind {
	case KindIngest:
		b, again := r.w.batch()
		if b == nil {
			return 0, 0, 0, false, errors.New("loadtest: no events to ingest")
		}
		if err := r.t.Ingest(ctx, b); err != nil {
			return 0, 0, 0, false, err
		}
		return 0, 0, int64(b.Len), again, nil
	case KindQuery:
		n, _, err := r.t.Query(ctx, r.w.query(u))
		return 1, int64(n), 0, false, err
	case KindWalk:
		q := r.w.walk(u)
		for pages < maxWalkPages {
			n, cursor, err := r.t.Query(ctx, q)
			if err != nil {
				return pages, items, 0, false, err
			}
			pages++
			items += int64(n)
			if cursor == "" {
				return pages, items, 0, false, nil
			}
			q = basket.Query{Cursor: cursor, Limit: q.Limit}
		}
		return pages, items, 0, false, fmt.Errorf("loadtest: a walk went past %d pages", maxWalkPages)
	case KindFeed:
		after := r.w.feedPos.Load()
		n, next, err := r.t.Feed(ctx, after, r.w.opts.FeedLimit)
		if err == nil {
			r.w.advanceFeed(next)
		}
		return 1, int64(n), 0, false, err
	}
	return 0, 0, 0, false, fmt.Errorf("loadtest: unknown kind %d", kind)
}

// draw returns a uniform number in [0, 1) for operation n and stream i of
// a seed (SplitMix64).
func draw(seed, n, i uint64) float64 {
	z := seed + 0x9e3779b97f4a7c15*(n*4+i+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// ErrorKind names the kind of an operation's error, for the report's
// counts: "HTTP <code>", "timeout", "network", "engine: <sentinel>", or
// "other".
func ErrorKind(err error) string {
	var se *StatusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return se.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ne):
		return "network"
	}
	for _, s := range engineErrors {
		if errors.Is(err, s) {
			return "engine: " + s.Error()
		}
	}
	return "other"
}

var engineErrors = []error{
	basket.ErrInvalidEvent, basket.ErrUnknownBasket, basket.ErrConflict, basket.ErrCompleted,
	basket.ErrExpired, basket.ErrInvalidQuery, basket.ErrInvalidCursor, basket.ErrCursorMismatch,
	basket.ErrClosed,
}
