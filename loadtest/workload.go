package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/simulator"
)

// Kind is a kind of operation of the workload.
type Kind uint8

// The kinds of operations.
const (
	KindIngest Kind = iota // POST a batch of events (Engine.Apply)
	KindQuery              // one page of abandoned baskets after a random createdAfter
	KindWalk               // every page of a query, following its cursors to the end
	KindFeed               // one page of the abandonment feed from a shared checkpoint
	numKinds
)

var kindNames = [numKinds]string{"ingest", "query", "walk", "feed"}

// String returns the kind's name: ingest, query, walk or feed.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind reads a kind's name.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if s == n {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown operation %q: want ingest, query, walk or feed", truncate(s))
}

// Mix weighs the kinds of operations: the share of the operations started
// that are of each kind is its weight over the sum of the weights.
type Mix [numKinds]float64

// DefaultMix is mostly page queries, with some feed polling, ingest and
// cursor walks.
var DefaultMix = Mix{KindIngest: 5, KindQuery: 80, KindWalk: 5, KindFeed: 10}

// ParseMix reads a mix such as "query=80,feed=10,ingest=5,walk=5"; kinds
// left out weigh 0. At least one weight must be positive.
func ParseMix(s string) (Mix, error) {
	var m Mix
	var seen [numKinds]bool
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Mix{}, fmt.Errorf("mix %q: want KIND=WEIGHT[,KIND=WEIGHT…]", truncate(s))
		}
		k, err := ParseKind(name)
		if err != nil {
			return Mix{}, fmt.Errorf("mix: %w", err)
		}
		if seen[k] {
			return Mix{}, fmt.Errorf("mix: %s given twice", k)
		}
		seen[k] = true
		w, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(w) || math.IsInf(w, 0) || w < 0 || w > 1e9 {
			return Mix{}, fmt.Errorf("mix: weight of %s %q: want a number from 0 to 1e9", k, truncate(val))
		}
		m[k] = w
	}
	if m.total() <= 0 {
		return Mix{}, fmt.Errorf("mix %q: every weight is 0", truncate(s))
	}
	return m, nil
}

// String returns the mix in the form ParseMix reads, kinds of weight 0 left
// out.
func (m Mix) String() string {
	var parts []string
	for k, w := range m {
		if w > 0 {
			parts = append(parts, kindNames[k]+"="+formatRate(w))
		}
	}
	return strings.Join(parts, ",")
}

func (m Mix) total() float64 {
	var t float64
	for _, w := range m {
		t += w
	}
	return t
}

// pick returns the kind whose share of [0, 1) holds u.
func (m Mix) pick(u float64) Kind {
	x := u * m.total()
	last := KindQuery
	for k, w := range m {
		if w <= 0 {
			continue
		}
		last = Kind(k)
		if x < w {
			return Kind(k)
		}
		x -= w
	}
	return last
}

// WorkloadOptions configure a Workload. A nil *WorkloadOptions means the
// defaults.
type WorkloadOptions struct {
	// Seed chooses the simulated traffic and the operations' parameters.
	// Default 0, a seed like any other.
	Seed uint64
	// Population is about how many baskets Preload creates. Default 0:
	// none.
	Population int
	// Days is the simulated period the population spans. Default 14.
	Days int
	// IngestEvents is how many events are generated, before the run, for
	// ingest operations. Once every batch was sent, the batches are sent
	// again with their baskets renamed (a prefix "c<cycle>-" to each basket
	// id), so that every ingest creates new baskets; the report counts those
	// events apart. Default 0 means 100,000; negative means none (for a
	// mix without ingest).
	IngestEvents int
	// BatchSize is the number of events of an ingest operation. Default
	// 1000.
	BatchSize int
	// Limit is the page size of query operations. Default 50.
	Limit int
	// WalkLimit is the page size of walks. Default 100.
	WalkLimit int
	// WalkSpan is the span of creation times a walk covers, from a random
	// createdAfter; a negative span walks the whole population. Default
	// one hour.
	WalkSpan time.Duration
	// FeedLimit is the page size of feed polls. Default 100.
	FeedLimit int
	// NDJSON keeps each ingest batch as the NDJSON body of the ingest
	// endpoint, encoded before the run, in place of the events (what an
	// HTTP target needs). Default false.
	NDJSON bool
}

func (o *WorkloadOptions) defaults() {
	if o.Days <= 0 {
		o.Days = 14
	}
	if o.IngestEvents == 0 {
		o.IngestEvents = 100_000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.Limit <= 0 {
		o.Limit = 50
	}
	if o.WalkLimit <= 0 {
		o.WalkLimit = 100
	}
	if o.WalkSpan == 0 {
		o.WalkSpan = time.Hour
	}
	if o.FeedLimit <= 0 {
		o.FeedLimit = 100
	}
}

// Batch is the payload of one ingest operation: the events, or their
// NDJSON encoding (WorkloadOptions.NDJSON), and their number.
type Batch struct {
	Events []basket.Event
	NDJSON []byte
	Len    int
}

// Workload is the traffic of a run: a preloaded population of baskets from
// the simulator, batches of fresh simulated events to ingest, and the
// parameters of queries, walks and feed polls. It is safe for concurrent
// use by the workers of a run.
type Workload struct {
	opts     WorkloadOptions
	scenario simulator.Scenario
	from, to time.Time // the population's creation times
	batches  []Batch
	events   int // in batches
	dropped  int // erasures left out of the batches

	next    atomic.Uint64 // the next batch to send, counting from the first, cycles included
	feedPos atomic.Uint64 // the feed's shared checkpoint
	mu      sync.Mutex    // guards preloaded
	// preloaded is the report of Preload, nil before.
	preloaded *simulator.Report
}

// NewWorkload generates the batches of events for ingest operations: a
// simulation of its own seed, starting where the population's period ends,
// so that its baskets are new to the engine. It does not preload: see
// Preload.
func NewWorkload(ctx context.Context, opts *WorkloadOptions) (*Workload, error) {
	var o WorkloadOptions
	if opts != nil {
		o = *opts
	}
	o.defaults()
	if o.Population < 0 {
		return nil, fmt.Errorf("loadtest: population %d is negative", o.Population)
	}
	if o.BatchSize > 100_000 {
		return nil, fmt.Errorf("loadtest: batch size %d is over 100000", o.BatchSize)
	}
	w := &Workload{opts: o, scenario: simulator.DefaultScenario()}
	w.from = w.scenario.Start
	w.to = w.from.AddDate(0, 0, o.Days)
	if err := w.generate(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// errPoolFull stops the simulation of the ingest batches.
var errPoolFull = errors.New("enough events")

// collectSink keeps the events of a simulation, up to max.
type collectSink struct {
	events []basket.Event
	max    int
}

func (s *collectSink) Write(_ context.Context, events []basket.Event) error {
	s.events = append(s.events, events...)
	if len(s.events) >= s.max {
		s.events = s.events[:s.max]
		return errPoolFull
	}
	return nil
}

func (s *collectSink) Flush(context.Context) error { return nil }

// generate simulates the ingest batches and packs them.
func (w *Workload) generate(ctx context.Context) error {
	if w.opts.IngestEvents < 0 {
		return nil
	}
	sc := w.scenario
	sc.Start = w.to
	sc.Days = 2
	// About 3 events per basket; enough baskets in the first day.
	sc.Rate = max(1, float64(w.opts.IngestEvents)/2/24)
	sc.BasketTTL = simulator.Duration(365 * 24 * time.Hour)
	sink := &collectSink{max: w.opts.IngestEvents}
	sim, err := simulator.New(&simulator.Options{Scenario: &sc, Seed: w.opts.Seed ^ 0x9e3779b97f4a7c15, Sink: sink})
	if err != nil {
		return fmt.Errorf("loadtest: ingest events: %w", err)
	}
	if _, err := sim.Run(ctx); err != nil && !errors.Is(err, errPoolFull) {
		return fmt.Errorf("loadtest: ingest events: %w", err)
	}
	batches, dropped := pack(sink.events, w.opts.BatchSize)
	w.dropped = dropped
	for i := range batches {
		b := &batches[i]
		w.events += b.Len
		if w.opts.NDJSON {
			var buf bytes.Buffer
			enc := simulator.NewJSONLSink(&buf)
			if err := enc.Write(ctx, b.Events); err != nil {
				return fmt.Errorf("loadtest: encoding events: %w", err)
			}
			if err := enc.Flush(ctx); err != nil {
				return fmt.Errorf("loadtest: encoding events: %w", err)
			}
			b.NDJSON, b.Events = buf.Bytes(), nil
		}
	}
	if len(batches) == 0 && w.opts.IngestEvents > 0 {
		return errors.New("loadtest: the simulation gave no events to ingest")
	}
	w.batches = batches
	return nil
}

// pack groups events by basket, in the order of their first event, and
// packs whole baskets into batches of at most size events (a basket with
// more events than size gets a batch of its own), so that batches do not
// depend on one another and may be sent in any order, concurrently, and
// again. Erasures (which name a customer, not a basket, and would make
// re-sent batches fail) are left out; dropped counts them.
func pack(events []basket.Event, size int) (batches []Batch, dropped int) {
	order := []string{}
	byID := map[string][]basket.Event{}
	for _, ev := range events {
		if ev.BasketID == "" {
			dropped++
			continue
		}
		if _, ok := byID[ev.BasketID]; !ok {
			order = append(order, ev.BasketID)
		}
		byID[ev.BasketID] = append(byID[ev.BasketID], ev)
	}
	const window = 64 // baskets put aside, at most, to fill a batch exactly
	var aside []string
	next := 0
	fits := func(b []basket.Event, id string) bool {
		return len(b) == 0 || len(b)+len(byID[id]) <= size
	}
	for next < len(order) || len(aside) > 0 {
		var b []basket.Event
		kept := aside[:0]
		for _, id := range aside {
			if fits(b, id) {
				b = append(b, byID[id]...)
			} else {
				kept = append(kept, id)
			}
		}
		aside = kept
		for next < len(order) && len(b) < size {
			id := order[next]
			if fits(b, id) {
				b = append(b, byID[id]...)
			} else if len(aside) < window {
				aside = append(aside, id)
			} else {
				break
			}
			next++
		}
		batches = append(batches, Batch{Events: b, Len: len(b)})
	}
	return batches, dropped
}

// Preload plays the population's period into sink: about
// WorkloadOptions.Population baskets over WorkloadOptions.Days, on the
// simulator's own virtual clock. The engine behind sink must keep baskets
// forever (basket.NoExpiry; abandoned serve -ttl 0) and run on the wall
// clock, which is past the simulated times.
func (w *Workload) Preload(ctx context.Context, sink simulator.Sink) (*simulator.Report, error) {
	if w.opts.Population == 0 {
		return &simulator.Report{}, nil
	}
	sc := w.scenario
	sc.Days = w.opts.Days
	sc.Rate = float64(w.opts.Population) / float64(24*w.opts.Days)
	sc.BasketTTL = simulator.Duration(365 * 24 * time.Hour)
	sim, err := simulator.New(&simulator.Options{Scenario: &sc, Seed: w.opts.Seed, Sink: sink})
	if err != nil {
		return nil, fmt.Errorf("loadtest: preload: %w", err)
	}
	rep, err := sim.Run(ctx)
	if err != nil {
		return rep, fmt.Errorf("loadtest: preload: %w", err)
	}
	w.mu.Lock()
	w.preloaded = rep
	w.mu.Unlock()
	return rep, nil
}

// Options returns the workload's options, defaults filled in.
func (w *Workload) Options() WorkloadOptions { return w.opts }

// Batches returns the number of ingest batches and the events they hold.
func (w *Workload) Batches() (batches, events int) { return len(w.batches), w.events }

// batch returns the next ingest batch and whether it is recycled: a batch
// sent before, with its baskets renamed.
func (w *Workload) batch() (*Batch, bool) {
	if len(w.batches) == 0 {
		return nil, false
	}
	i := w.next.Add(1) - 1
	n := uint64(len(w.batches))
	b := &w.batches[i%n]
	if cycle := i / n; cycle > 0 {
		return b.renamed(cycle), true
	}
	return b, false
}

// renamed returns a copy of b whose basket ids carry the prefix
// "c<cycle>-".
func (b *Batch) renamed(cycle uint64) *Batch {
	prefix := "c" + strconv.FormatUint(cycle, 10) + "-"
	nb := &Batch{Len: b.Len}
	if b.Events != nil {
		nb.Events = make([]basket.Event, len(b.Events))
		for i, ev := range b.Events {
			ev.BasketID = prefix + ev.BasketID
			nb.Events[i] = ev
		}
	}
	if b.NDJSON != nil {
		nb.NDJSON = bytes.ReplaceAll(b.NDJSON, basketIDKey, append(basketIDKey[:len(basketIDKey):len(basketIDKey)], prefix...))
	}
	return nb
}

// basketIDKey starts a basket id in the NDJSON of an event; in the events'
// string values, quotes are escaped, so it matches only the key.
var basketIDKey = []byte(`"basketId":"`)

// query returns the query of a page operation, from a uniform draw u.
func (w *Workload) query(u float64) basket.Query {
	span := w.to.Sub(w.from)
	return basket.Query{
		CreatedAfter: w.from.Add(time.Duration(u * float64(span))).Truncate(time.Millisecond),
		Limit:        w.opts.Limit,
	}
}

// walk returns the first query of a walk, from a uniform draw u.
func (w *Workload) walk(u float64) basket.Query {
	if w.opts.WalkSpan < 0 {
		return basket.Query{Limit: w.opts.WalkLimit}
	}
	span := w.to.Sub(w.from) - w.opts.WalkSpan
	after := w.from.Add(time.Duration(u * float64(max(span, 0)))).Truncate(time.Millisecond)
	return basket.Query{
		CreatedAfter:  after,
		CreatedBefore: after.Add(w.opts.WalkSpan),
		Limit:         w.opts.WalkLimit,
	}
}

// advanceFeed moves the shared feed checkpoint forward to next.
func (w *Workload) advanceFeed(next uint64) {
	for {
		cur := w.feedPos.Load()
		if next <= cur || w.feedPos.CompareAndSwap(cur, next) {
			return
		}
	}
}
