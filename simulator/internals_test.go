package simulator

import (
	"cmp"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// TestQueue checks the heap against a sorted list: steps come out by time,
// then in the order they were queued, with their journey.
func TestQueue(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var q queue
	type item struct {
		at  int64
		seq int
		j   *journey
	}
	var model []item
	seq := 0
	for round := range 20000 {
		if r.IntN(3) > 0 || len(model) == 0 {
			seq++
			it := item{at: int64(r.IntN(50)), seq: seq, j: &journey{}}
			if r.IntN(4) == 0 {
				it.j = nil
			}
			q.push(step{at: it.at, j: it.j, kind: kindLeave})
			model = append(model, it)
			continue
		}
		slices.SortStableFunc(model, func(a, b item) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.seq, b.seq)) })
		want := model[0]
		model = model[1:]
		got := q.pop()
		if got.at != want.at || got.j != want.j {
			t.Fatalf("round %d: pop = (%d, %p); want (%d, %p)", round, got.at, got.j, want.at, want.j)
		}
		if q.len() != len(model) || q.live != len(model) {
			t.Fatalf("round %d: len %d, live %d; want %d", round, q.len(), q.live, len(model))
		}
	}
	if len(q.refs)-len(q.free) > len(model) {
		t.Errorf("%d slots held for %d steps; want freed slots reused", len(q.refs)-len(q.free), len(model))
	}
}

func TestRNG(t *testing.T) {
	r := newRNG(1, streamJourney, 7)
	const n = 200000
	var below, inRange int
	var logs []float64
	cum := []float64{1, 3, 6} // weights 1, 2, 3
	picks := [3]int{}
	for range n {
		f := r.float()
		if f < 0 || f >= 1 {
			t.Fatalf("float() = %v", f)
		}
		if r.chance(0.3) {
			below++
		}
		if k := r.intn(7); k >= 0 && k < 7 {
			inRange++
		}
		logs = append(logs, r.logNormal(150, 0.6))
		picks[r.pick(cum)]++
	}
	if p := float64(below) / n; math.Abs(p-0.3) > 0.005 {
		t.Errorf("chance(0.3) came true %.4f of the time", p)
	}
	if inRange != n {
		t.Errorf("intn(7) left [0, 7) %d times", n-inRange)
	}
	slices.Sort(logs)
	if med := logs[n/2]; math.Abs(med-150) > 3 {
		t.Errorf("logNormal(150, 0.6) median %.1f; want 150", med)
	}
	for i, w := range []float64{1, 2, 3} {
		if p := float64(picks[i]) / n; math.Abs(p-w/6) > 0.005 {
			t.Errorf("pick: %d drawn %.4f of the time; want %.4f", i, p, w/6)
		}
	}
	// Streams of different indexes differ; the same index repeats.
	a, b, c := newRNG(1, streamJourney, 1), newRNG(1, streamJourney, 2), newRNG(1, streamJourney, 1)
	if x, y, z := a.uint64(), b.uint64(), c.uint64(); x == y || x != z {
		t.Errorf("streams: %x %x %x; want the first and last equal, the middle different", x, y, z)
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2025, 1, 6, 10, 0, 0, 123456789, time.FixedZone("X", 3600))
	c := NewClock(start)
	if got, want := c.Now(), start.Truncate(time.Millisecond).UTC(); !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("Now() = %v; want %v in UTC", got, want)
	}
	if got := c.Advance(90 * time.Second); !got.Equal(start.Truncate(time.Millisecond).Add(90 * time.Second)) {
		t.Errorf("Advance = %v", got)
	}
	// Readers may run beside the simulator (an engine's sweeper, a server).
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				_ = c.Now()
			}
		})
	}
	for range 1000 {
		c.Advance(time.Millisecond)
	}
	wg.Wait()
}

func TestCustomers(t *testing.T) {
	s, err := New(&Options{Sink: Discard})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	caps := 0
	for n := range uint64(5000) {
		c := s.newCustomer(n)
		if err := basket.ValidateEmail(c.email); err != nil {
			t.Fatalf("customer %d: email %q: %v", n, c.email, err)
		}
		key := basket.NormalizeEmail(c.email)
		if seen[key] {
			t.Fatalf("customer %d: email %q taken", n, c.email)
		}
		seen[key] = true
		if key != c.email {
			caps++
		}
		if c.sso != (c.identity.Sub != "") || c.sso && !strings.HasPrefix(c.identity.Sub, "acct-") {
			t.Fatalf("customer %d: sso %v, identity %+v", n, c.sso, c.identity)
		}
		if c.details.Email != c.email || c.details.FirstName == "" || c.details.LastName == "" {
			t.Fatalf("customer %d: details %+v", n, c.details)
		}
		if d := s.newCustomer(n); *d != *c {
			t.Fatalf("customer %d differs when made again", n)
		}
	}
	if caps < 300 || caps > 700 {
		t.Errorf("%d of 5000 emails capitalised; want about 10%%", caps)
	}
}

func TestBasketID(t *testing.T) {
	re := regexp.MustCompile(`^basket-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	r := newRNG(3, streamJourney, 0)
	seen := map[string]bool{}
	for range 10000 {
		id := basketID(r)
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("basketID() = %q; want a fresh id like basket-<uuid v4>", id)
		}
		seen[id] = true
	}
}

func TestOtherDevice(t *testing.T) {
	m := &model{deviceCum: []float64{0.65, 0.95, 1}}
	r := newRNG(1, 1, 1)
	counts := [3]int{}
	for range 30000 {
		d := m.otherDevice(r, 0)
		if d == 0 {
			t.Fatal("otherDevice(0) = 0")
		}
		counts[d]++
	}
	if p := float64(counts[1]) / 30000; math.Abs(p-0.30/0.35) > 0.02 {
		t.Errorf("desktop drawn %.3f of the time; want %.3f", p, 0.30/0.35)
	}
	one := &model{deviceCum: []float64{1, 1}}
	if d := one.otherDevice(r, 0); d != 0 {
		t.Errorf("otherDevice with no other device = %d; want 0", d)
	}
}

func TestNewOptions(t *testing.T) {
	bad := DefaultScenario()
	bad.Days = 0
	for _, o := range []*Options{
		nil,
		{},
		{Sink: Discard, Scenario: &bad},
		{Sink: Discard, BatchSize: -1},
		{Sink: Discard, MaxBatchSpan: time.Hour},
		{Sink: Discard, Drain: -time.Hour},
		{Sink: Discard, TickEvery: time.Millisecond},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded; want an error", o)
		}
	}
	small := DefaultScenario()
	small.Days, small.Rate = 1, 50
	s, err := New(&Options{Sink: Discard, Scenario: &small})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(t.Context()); err == nil {
		t.Error("second Run succeeded; want an error")
	}
}

// TestInterrupt checks that a cancelled run stops, flushes and reports.
func TestInterrupt(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 30
	sc.Rate = 200
	var buf strings.Builder
	jl := NewJSONLSink(&buf)
	ctx, cancel := context.WithCancel(t.Context())
	sim, err := New(&Options{Scenario: &sc, Sink: jl, Progress: func(p Progress) {
		if p.Now.Sub(p.Start) >= 24*time.Hour {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := sim.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v; want context.Canceled", err)
	}
	if rep == nil || !rep.Interrupted || rep.End.Sub(rep.Start) > 27*time.Hour {
		t.Fatalf("report %+v; want an interrupted report after about a day", rep)
	}
	if lines := int64(strings.Count(buf.String(), "\n")); lines != rep.Events || lines == 0 {
		t.Errorf("%d lines flushed for %d events", lines, rep.Events)
	}
}

// failingSink fails its nth write.
type failingSink struct{ n int }

func (f *failingSink) Write(ctx context.Context, _ []basket.Event) error {
	if f.n--; f.n == 0 {
		return errors.New("disk full")
	}
	return nil
}
func (f *failingSink) Flush(ctx context.Context) error { return nil }

func TestSinkErrorStopsRun(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 1
	sim, _ := New(&Options{Sink: &failingSink{n: 3}, Scenario: &sc})
	_, err := sim.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Run = %v; want the sink's error", err)
	}
}
