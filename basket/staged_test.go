package basket_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// stagedItems is the offer of the baskets of the staged tests.
var stagedItems = []basket.OrderItem{{Name: "Digital", Path: "/offers/digital"}}

// abandonEvents appends the events that create basket id at at, tagged
// tag, and capture its address, which abandons it (AbandonAfter 0).
func abandonEvents(dst []basket.Event, id, tag string, at time.Time) []basket.Event {
	return append(dst,
		basket.Event{Type: basket.EventCreated, BasketID: id, At: at, OrderItems: stagedItems, Tracking: map[string]string{"tag": tag}},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: id + "@example.com"})
}

// applyHeld applies evs on a goroutine of its own, and returns once what
// holdStaged holds (what, in the messages) is held: in is closed. Apply's
// error comes on the channel it returns, after the hold is released.
func applyHeld(t *testing.T, eng *basket.Engine, in chan struct{}, what string, evs []basket.Event) chan error {
	t.Helper()
	applied := make(chan error, 1)
	go func() {
		_, err := eng.Apply(context.Background(), evs...)
		applied <- err
	}()
	select {
	case <-in:
	case err := <-applied:
		t.Fatalf("%s was not staged: Apply returned %v first", what, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s never reached its staging", what)
	}
	return applied
}

// holdStaged makes the first staged batch (or promotions) of eng after the
// call wait in its midst: in is closed when it gets there, and it goes on
// once release is closed (or after 30 s, if the test failed meanwhile).
func holdStaged(eng *basket.Engine) (in, release chan struct{}) {
	in, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	basket.SetStaging(eng, func() {
		once.Do(func() {
			close(in)
			select {
			case <-release:
			case <-time.After(30 * time.Second):
			}
		})
	})
	return in, release
}

// TestReadsDuringStagedBatch stops a large batch in the midst of its
// commit, its index changes made in copies and not installed, and reads:
// every read returns, and sees the state before the batch, whole; once the
// batch returns, every read sees it, whole.
func TestReadsDuringStagedBatch(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	clock := btest.NewClock(start.Add(24 * time.Hour))
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
	var evs []basket.Event
	for i := range 300 {
		evs = abandonEvents(evs, fmt.Sprintf("old-%03d", i), "a", start.Add(time.Duration(i)*time.Minute))
	}
	if _, err := eng.Apply(ctx, evs...); err != nil {
		t.Fatal(err)
	}

	// The batch: 100 new baskets (every other one created among the old
	// ones, the others after them), 50 old ones completed, one old
	// customer's baskets erased.
	evs = evs[:0]
	for i := range 100 {
		at := start.Add(time.Duration(300+i) * time.Minute)
		if i%2 == 0 {
			at = start.Add(time.Duration(i)*time.Minute + time.Second)
		}
		evs = abandonEvents(evs, fmt.Sprintf("new-%03d", i), "a", at)
	}
	for i := range 50 {
		evs = append(evs, basket.Event{Type: basket.EventCompleted, BasketID: fmt.Sprintf("old-%03d", 2*i), At: clock.Now()})
	}
	evs = append(evs, basket.Event{Type: basket.EventErased, Email: "old-299@example.com", At: clock.Now()})

	in, release := holdStaged(eng)
	applied := applyHeld(t, eng, in, "the batch", evs)

	check := func(when string, abandoned int, newSeen, completed, erased bool) {
		t.Helper()
		done := make(chan struct{})
		var errs []error
		go func() {
			defer close(done)
			fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
			p, err := eng.Abandoned(ctx, basket.Query{Tag: "a", Limit: basket.MaxLimit, Count: true})
			if err != nil {
				fail("Abandoned: %v", err)
				return
			}
			if p.Total != abandoned || len(p.Items) != abandoned {
				fail("Abandoned: %d baskets, total %d; want %d", len(p.Items), p.Total, abandoned)
			}
			for _, b := range p.Items {
				if b.State != basket.StateContactable || b.AbandonedAt.IsZero() {
					fail("Abandoned: %s in state %v, abandoned at %v", b.ID, b.State, b.AbandonedAt)
				}
			}
			// Counts of created ranges read the count trees, which the
			// staged batch changes in copies: the range's count is the
			// page's baskets in it, with and without the tag.
			for _, r := range [][2]time.Duration{{150 * time.Minute, 0}, {30 * time.Minute, 330 * time.Minute}} {
				after, before := start.Add(r[0]), time.Time{}
				if r[1] != 0 {
					before = start.Add(r[1])
				}
				want := 0
				for _, b := range p.Items {
					if b.Created.After(after) && (before.IsZero() || b.Created.Before(before)) {
						want++
					}
				}
				for _, tag := range []string{"a", ""} {
					pr, err := eng.Abandoned(ctx, basket.Query{Tag: tag, CreatedAfter: after, CreatedBefore: before, Limit: 1, Count: true})
					if err != nil {
						fail("Abandoned in (%v, %v): %v", after, before, err)
					} else if pr.Total != want {
						fail("Abandoned in (%v, %v), tag %q: total %d; want %d", after, before, tag, pr.Total, want)
					}
				}
			}
			f, err := eng.Feed(ctx, 0, basket.MaxLimit)
			if err != nil {
				fail("Feed: %v", err)
			} else if len(f.Items) != abandoned {
				fail("Feed: %d baskets; want %d", len(f.Items), abandoned)
			}
			if s, err := eng.Stats(ctx); err != nil || s.Abandoned != abandoned {
				fail("Stats: %d abandoned, %v; want %d", s.Abandoned, err, abandoned)
			}
			if _, err := eng.Get(ctx, "new-042"); (err == nil) != newSeen {
				fail("Get(new-042) = %v; want it found: %v", err, newSeen)
			}
			if b, err := eng.Get(ctx, "old-010"); err != nil {
				fail("Get(old-010) = %v", err)
			} else if (b.State == basket.StateCompleted) != completed {
				fail("Get(old-010) in state %v; want completed: %v", b.State, completed)
			}
			bs, err := eng.Customer(ctx, "old-299@example.com")
			if err != nil {
				fail("Customer: %v", err)
			} else if (len(bs) == 0) != erased {
				fail("Customer: %d baskets; want erased: %v", len(bs), erased)
			}
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: a read waited behind the batch", when)
		}
		for _, err := range errs {
			t.Errorf("%s: %v", when, err)
		}
	}
	check("while the batch is staged", 300, false, false, false)
	close(release)
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	check("after the batch", 300+100-50-1, true, true, true)
	if err := eng.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestStagedBatchesAreAtomic races readers against a writer of large
// batches, each of which abandons 100 new baskets and completes 30 of the
// batch before's: every read, of pages, counts and statistics, sees whole
// batches only (100 + 70k abandoned and 30k completed after k + 1 batches;
// half a batch is off by 30 or 100), and only abandoned baskets in an
// abandoned page. Run under -race it also checks that a staged batch
// writes nothing a reader reads.
func TestStagedBatchesAreAtomic(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	const rounds = 40 // 4,000 baskets: several chunks of the slot table
	clock := btest.NewClock(start.Add(100 * rounds * time.Minute))
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
	// whole reports whether n abandoned baskets are whole batches' worth.
	whole := func(n int) bool { return n == 0 || n >= 100 && (n-100)%70 == 0 }
	done := make(chan struct{})
	var g errgroup.Group
	g.Go(func() error {
		defer close(done)
		var evs []basket.Event
		for k := range rounds {
			evs = evs[:0]
			for i := range 100 {
				// Created all over the range, so that each batch changes
				// nodes in the middle of the trees, not only at their end.
				at := start.Add(time.Duration((i*rounds+k)*7%(100*rounds)) * time.Minute)
				evs = abandonEvents(evs, fmt.Sprintf("r%02d-%03d", k, i), fmt.Sprint("t", k%2), at)
			}
			if k > 0 {
				for i := range 30 {
					evs = append(evs, basket.Event{Type: basket.EventCompleted, BasketID: fmt.Sprintf("r%02d-%03d", k-1, i), At: clock.Now()})
				}
			}
			if _, err := eng.Apply(ctx, evs...); err != nil {
				return fmt.Errorf("round %d: %w", k, err)
			}
		}
		return nil
	})
	for range 2 {
		g.Go(func() error {
			for reads := 0; ; reads++ {
				select {
				case <-done:
					if reads == 0 {
						return errors.New("no read ran beside the writer")
					}
					return nil
				default:
				}
				for _, tag := range []string{"", "t0", "t1"} {
					p, err := eng.Abandoned(ctx, basket.Query{Tag: tag, Limit: 200, Count: true})
					if err != nil {
						return err
					}
					if tag == "" && !whole(p.Total) {
						return fmt.Errorf("%d abandoned: not whole batches", p.Total)
					}
					for _, b := range p.Items {
						if b.State != basket.StateContactable || b.AbandonedAt.IsZero() {
							return fmt.Errorf("tag %q: %s in an abandoned page in state %v", tag, b.ID, b.State)
						}
					}
				}
				s, err := eng.Stats(ctx)
				if err != nil {
					return err
				}
				if !whole(s.Abandoned) || s.Abandoned != s.Contactable || s.Completed != 30*max(0, (s.Abandoned-100)/70) {
					return fmt.Errorf("Stats: %d abandoned, %d contactable, %d completed: not whole batches", s.Abandoned, s.Contactable, s.Completed)
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if s := btest.Stats(t, eng); s.Abandoned != 100+70*(rounds-1) || s.Completed != 30*(rounds-1) {
		t.Fatalf("%d abandoned, %d completed at the end; want %d and %d", s.Abandoned, s.Completed, 100+70*(rounds-1), 30*(rounds-1))
	}
	if err := eng.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestReadsDuringStagedPromotions stops the promotion of 100 baskets that
// waited long enough in its midst: reads return, and see none of them
// abandoned; once it is done, they see all of them.
func TestReadsDuringStagedPromotions(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	clock := btest.NewClock(start)
	// A sweeper, as a server runs (this one never comes round in the
	// test), so that reads do not make what is due themselves.
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now, AbandonAfter: time.Hour, SweepInterval: time.Hour})
	var evs []basket.Event
	for i := range 100 {
		evs = abandonEvents(evs, fmt.Sprintf("p-%03d", i), "a", start.Add(-time.Duration(i)*time.Second))
	}
	if _, err := eng.Apply(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if s := btest.Stats(t, eng); s.Pending != 100 || s.Abandoned != 0 {
		t.Fatalf("Stats %+v; want 100 pending", s)
	}
	in, release := holdStaged(eng)
	clock.Add(2 * time.Hour)
	// A batch too small to be staged: the promotions before it are.
	applied := applyHeld(t, eng, in, "the promotions", abandonEvents(nil, "late", "a", clock.Now()))
	read := func(when string, abandoned, pending int) {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			p, err := eng.Abandoned(ctx, basket.Query{Tag: "a", Limit: basket.MaxLimit, Count: true})
			if err != nil {
				done <- err
				return
			}
			s, err := eng.Stats(ctx)
			if err == nil && (p.Total != abandoned || len(p.Items) != abandoned || s.Abandoned != abandoned || s.Pending != pending) {
				err = fmt.Errorf("%d abandoned (total %d), Stats %+v; want %d abandoned, %d pending", len(p.Items), p.Total, s, abandoned, pending)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", when, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: a read waited behind the promotions", when)
		}
	}
	read("while the promotions are staged", 0, 100)
	close(release)
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	read("after them", 100, 1) // the late basket waits its hour
	if err := eng.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotBesideStagedBatch starts a large batch just after a
// Snapshot has drained the log, and holds it in its midst (its record's
// sequence counted, its changes not in) while the Snapshot goes on to
// freeze: the snapshot must wait for the batch, or a restart, which skips
// the records a snapshot covers, loses it.
func TestSnapshotBesideStagedBatch(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	clock := btest.NewClock(start.Add(time.Hour))
	dir := t.TempDir()
	opts := &basket.Options{Now: clock.Now, SnapshotEvery: -1, RecoverySecrets: [][]byte{btest.Secret}}
	eng, err := basket.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { eng.Close() }()
	if _, err := eng.Apply(ctx, abandonEvents(nil, "first", "a", start)...); err != nil {
		t.Fatal(err)
	}
	var evs []basket.Event
	for i := range 100 {
		evs = abandonEvents(evs, fmt.Sprintf("late-%03d", i), "a", start.Add(time.Duration(i)*time.Second))
	}
	in, release := holdStaged(eng)
	applied := make(chan error, 1)
	basket.SetDrained(eng, func() {
		go func() {
			_, err := eng.Apply(ctx, evs...)
			applied <- err
		}()
		select {
		case <-in:
		case <-time.After(30 * time.Second):
			t.Error("the batch never reached its staging")
		}
		// Let go of the batch once the snapshot waits for the lock (if
		// it waits for the batch instead, the release only comes later).
		go func() {
			time.Sleep(100 * time.Millisecond)
			close(release)
		}()
	})
	if err := eng.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	if eng, err = basket.Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"first", "late-000", "late-099"} {
		if _, err := eng.Get(ctx, id); err != nil {
			t.Errorf("after a restart, %s: %v", id, err)
		}
	}
	if s := btest.Stats(t, eng); s.Abandoned != 101 {
		t.Errorf("after a restart, %d abandoned; want 101", s.Abandoned)
	}
}

// TestQueryAfterTheLastTime: a page created after the greatest time there
// is has no basket, and its count says so, with and without the tag (the
// bound is not wrapped round to the least).
func TestQueryAfterTheLastTime(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	eng := btest.MustNewEngine(t, &basket.Options{Now: func() time.Time { return start.Add(time.Hour) }})
	var evs []basket.Event
	for i := range 20 {
		evs = abandonEvents(evs, fmt.Sprintf("b-%02d", i), "a", start.Add(time.Duration(i)*time.Minute))
	}
	if _, err := eng.Apply(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"", "a"} {
		p, err := eng.Abandoned(ctx, basket.Query{Tag: tag, CreatedAfter: time.UnixMilli(math.MaxInt64), Limit: 10, Count: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != 0 || p.Total != 0 {
			t.Errorf("tag %q: after the last time, %d baskets, total %d; want none", tag, len(p.Items), p.Total)
		}
	}
}
