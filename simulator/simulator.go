package simulator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Options configure a Simulator. Only Sink is required.
type Options struct {
	// Scenario is the traffic to simulate. Default: DefaultScenario().
	Scenario *Scenario
	// Seed chooses the random streams: the same seed and scenario give the
	// same events, byte for byte. Default 0, a seed like any other.
	Seed uint64
	// Sink receives the events, in time order. Required.
	Sink Sink
	// Clock is the virtual clock the simulator moves forward as it plays
	// the journeys; give its Now to the engine the sink feeds. Default: a
	// new clock, set to the scenario's start.
	Clock *Clock
	// BatchSize is the most events passed to one Sink.Write. Default 1000.
	BatchSize int
	// MaxBatchSpan is the most virtual time a batch may cover before it is
	// written, so that the engine's clock never runs far ahead of the
	// events it has been given. Default 15 minutes.
	MaxBatchSpan time.Duration
	// Drain, if positive, lets the journeys in flight at the end of the
	// scenario's period play on for up to that long, with no new arrivals:
	// abandoners return, reminders are opened. Default 0: the run stops at
	// the end of the period.
	Drain time.Duration
	// Campaign, if set, is given a turn every TickEvery of virtual time to
	// send reminders (see Campaign). Default none.
	Campaign Campaign
	// Recoverer follows the recovery links of reminders that customers
	// click; required with Campaign. A *basket.Engine is one.
	Recoverer Recoverer
	// TickEvery is how often the campaign gets its turn. Default 5 minutes.
	TickEvery time.Duration
	// Progress, if set, is called once per virtual hour.
	Progress func(Progress)
}

// Progress tells how far a run has come.
type Progress struct {
	Now     time.Time // virtual time reached
	Start   time.Time // the scenario's start
	End     time.Time // the end of the scenario's period (drain not included)
	Events  int64     // events emitted so far
	Baskets int64     // baskets created so far
}

// Simulator plays a scenario's checkout journeys on a virtual clock and
// sends their events to a sink. A Simulator runs once.
type Simulator struct {
	sc    Scenario
	m     *model
	seed  uint64
	opts  Options
	clock *Clock

	q          queue
	arr        rng     // arrival times and repeat customers
	arrT       float64 // the last arrival, unix ms
	hourEnd    int64   // the end of the hour whose rate is lambda
	lambda     float64 // arrivals per ms in the current hour
	customers  []*customer
	nCustomers uint64
	nJourneys  uint64
	inCheckout int64

	batch      []basket.Event
	batchStart int64 // time of the batch's first event
	tally      *tally
	byBasket   map[string]*journey // contactable baskets, when a campaign runs
	mailbox    mailbox
	ticking    bool // the campaign's turn is on
	ran        bool
}

// New returns a simulator. It checks the scenario and the options.
func New(opts *Options) (*Simulator, error) {
	if opts == nil || opts.Sink == nil {
		return nil, errors.New("simulator: Options.Sink is required")
	}
	o := *opts
	sc := DefaultScenario()
	if o.Scenario != nil {
		sc = *o.Scenario
	}
	m, err := compile(&sc)
	if err != nil {
		return nil, err
	}
	if o.BatchSize == 0 {
		o.BatchSize = 1000
	}
	if o.BatchSize < 1 || o.BatchSize > 1e6 {
		return nil, fmt.Errorf("simulator: BatchSize %d is not from 1 to 1000000", o.BatchSize)
	}
	if o.MaxBatchSpan == 0 {
		o.MaxBatchSpan = 15 * time.Minute
	}
	if o.MaxBatchSpan < time.Millisecond || o.MaxBatchSpan > 30*time.Minute {
		return nil, fmt.Errorf("simulator: MaxBatchSpan %v is not from 1ms to 30m", o.MaxBatchSpan)
	}
	if o.Drain < 0 {
		return nil, fmt.Errorf("simulator: Drain %v is negative", o.Drain)
	}
	if o.TickEvery == 0 {
		o.TickEvery = 5 * time.Minute
	}
	if o.TickEvery < time.Second {
		return nil, fmt.Errorf("simulator: TickEvery %v is under a second", o.TickEvery)
	}
	if o.Campaign != nil && o.Recoverer == nil {
		return nil, errors.New("simulator: a Campaign needs a Recoverer to follow the links customers click")
	}
	if o.Clock == nil {
		o.Clock = NewClock(sc.Start)
	}
	s := &Simulator{sc: sc, m: m, seed: o.Seed, opts: o, clock: o.Clock}
	s.tally = newTally(m, &sc)
	s.batch = make([]basket.Event, 0, o.BatchSize)
	if o.Campaign != nil {
		s.byBasket = make(map[string]*journey)
	}
	s.mailbox.s = s
	return s, nil
}

// Clock returns the simulator's virtual clock.
func (s *Simulator) Clock() *Clock { return s.clock }

// Scenario returns the scenario the simulator plays.
func (s *Simulator) Scenario() Scenario { return s.sc }

// Run plays the scenario: arrivals from the start to the end of the
// period, each journey's events in time order, then the drain, if any. It
// writes every event to the sink, flushes it and returns the funnel report.
// If ctx is cancelled, Run stops, flushes what it has (for up to ten
// seconds), and returns the report so far, marked interrupted, with the
// context's error. On any other error it returns the report so far with
// the error.
func (s *Simulator) Run(ctx context.Context) (*Report, error) {
	if s.ran {
		return nil, errors.New("simulator: Run called twice")
	}
	s.ran = true
	m := s.m
	s.clock.setMS(m.start)
	s.arr.seed(s.seed, streamArrivals, 0)
	s.arrT = float64(m.start)
	s.hourEnd = m.start
	if t := s.nextArrival(); t < m.end {
		s.q.push(step{at: t, kind: kindArrival})
	}
	if s.opts.Campaign != nil {
		s.q.push(step{at: m.start + s.opts.TickEvery.Milliseconds(), kind: kindTick})
	}
	limit := m.end
	if s.opts.Drain > 0 {
		limit += s.opts.Drain.Milliseconds()
	}
	nextHour := m.start + msPerHour
	var err error
	n := 0
	for s.q.len() > 0 {
		if n++; n&1023 == 0 {
			if err = ctx.Err(); err != nil {
				break
			}
		}
		if s.q.live == 0 && s.q.peek() >= m.end {
			break // only the campaign's ticks are left
		}
		st := s.q.pop()
		if st.at >= limit {
			break
		}
		s.clock.setMS(st.at)
		if st.at >= nextHour && s.opts.Progress != nil {
			for st.at >= nextHour {
				nextHour += msPerHour
			}
			s.opts.Progress(s.progress(st.at))
		}
		if err = s.run(ctx, &st); err != nil {
			break
		}
	}
	interrupted := err != nil && ctx.Err() != nil
	if err == nil {
		err = s.flush(ctx)
	} else if interrupted {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if ferr := s.flush(fctx); ferr != nil {
			err = errors.Join(err, ferr)
		}
		cancel()
	}
	end := s.clock.ms.Load()
	if err == nil {
		end = max(end, m.end)
	}
	rep := s.tally.report(s, end)
	rep.Interrupted = interrupted
	return rep, err
}

func (s *Simulator) progress(at int64) Progress {
	return Progress{
		Now: msTime(at), Start: msTime(s.m.start), End: msTime(s.m.end),
		Events: s.tally.events, Baskets: s.tally.total[fCreated],
	}
}

// run plays one step.
func (s *Simulator) run(ctx context.Context, st *step) error {
	switch st.kind {
	case kindArrival:
		s.arrive(st.at)
		if t := s.nextArrival(); t < s.m.end {
			s.q.push(step{at: t, kind: kindArrival})
		}
	case kindTick:
		if err := s.tick(ctx, st.at); err != nil {
			return err
		}
		s.q.push(step{at: st.at + s.opts.TickEvery.Milliseconds(), kind: kindTick})
	case kindContact, kindItems, kindDetails, kindComplete, kindLeave:
		s.runPlanned(st)
	case kindReturn:
		s.comeBack(st.j, st.at)
	case kindErase:
		s.erase(st.j, st.at)
	case kindOpen:
		s.opened(st)
	case kindClick:
		return s.clicked(ctx, st)
	case kindBuy:
		s.bought(st)
	}
	if len(s.batch) >= s.opts.BatchSize ||
		len(s.batch) > 0 && st.at-s.batchStart >= s.opts.MaxBatchSpan.Milliseconds() {
		return s.write(ctx)
	}
	return nil
}

// nextArrival returns the time of the next basket creation: a Poisson
// process whose rate is constant within each hour.
func (s *Simulator) nextArrival() int64 {
	for {
		if s.arrT >= float64(s.m.end) {
			return math.MaxInt64
		}
		if s.arrT >= float64(s.hourEnd) {
			h := int64(s.arrT)
			h -= h % msPerHour
			s.lambda = s.m.rateAt(h)
			s.hourEnd = min(h+msPerHour, s.m.end)
		}
		if s.lambda > 0 {
			if t := s.arrT + s.arr.exp()/s.lambda; t < float64(s.hourEnd) {
				s.arrT = t
				return int64(t)
			}
		}
		// Nothing more in this hour; the process starts afresh at the
		// next, having no memory.
		s.arrT = float64(s.hourEnd)
	}
}

// arrive creates a basket: for a customer seen before, or a new one.
func (s *Simulator) arrive(at int64) {
	m := s.m
	var c *customer
	if len(s.customers) > 0 && s.arr.chance(m.repeat) {
		c = s.customers[s.arr.intn(len(s.customers))]
	} else {
		c = s.newCustomer(s.nCustomers)
		if len(s.customers) < m.pool {
			s.customers = append(s.customers, c)
		} else {
			s.customers[s.nCustomers%uint64(m.pool)] = c
		}
		s.nCustomers++
	}
	s.startJourney(at, c, nil)
}

// emit adds an event to the batch.
func (s *Simulator) emit(ev basket.Event) {
	if len(s.batch) == 0 {
		s.batchStart = ev.At.UnixMilli()
	}
	s.batch = append(s.batch, ev)
	s.tally.event(ev.Type)
}

// write passes the batch to the sink.
func (s *Simulator) write(ctx context.Context) error {
	if len(s.batch) == 0 {
		return nil
	}
	err := s.opts.Sink.Write(ctx, s.batch)
	clear(s.batch)
	s.batch = s.batch[:0]
	if err != nil {
		return fmt.Errorf("simulator: at %s: %w", s.clock.Now().Format(time.RFC3339), err)
	}
	return nil
}

// flush writes the batch and flushes the sink, so that everything emitted
// so far has reached its destination.
func (s *Simulator) flush(ctx context.Context) error {
	if err := s.write(ctx); err != nil {
		return err
	}
	if err := s.opts.Sink.Flush(ctx); err != nil {
		return fmt.Errorf("simulator: flushing the sink: %w", err)
	}
	return nil
}

// msTime returns unix ms as a UTC time.
func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
