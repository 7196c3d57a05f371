package basket_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// history records, for the concurrent test, which baskets were abandoned
// and which may have stopped being abandoned.
type history struct {
	mu        sync.Mutex // guards the maps
	abandoned map[string]bool
	touched   map[string]bool // an event that may end abandonment was begun
}

// TestConcurrentPaging pages to the end while writers create, identify,
// complete and re-activate baskets: no walk returns a basket twice, and
// every basket abandoned for the whole walk is returned.
func TestConcurrentPaging(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	clock := btest.NewClock(start)
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
	h := &history{abandoned: map[string]bool{}, touched: map[string]bool{}}
	items := []basket.OrderItem{{Name: "Digital", Path: "/offers/digital"}}

	// create makes an abandoned basket created at the given time.
	create := func(id string, at time.Time, tag string) error {
		_, err := eng.Apply(ctx,
			basket.Event{Type: basket.EventCreated, BasketID: id, At: at, OrderItems: items, Tracking: map[string]string{"tag": tag}},
			basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: id + "@example.com"},
		)
		if err == nil {
			h.mu.Lock()
			h.abandoned[id] = true
			h.mu.Unlock()
		}
		return err
	}
	for i := range 1500 {
		if err := create(fmt.Sprintf("s-%04d", i), start.Add(-time.Duration(i)*time.Minute), "direct"); err != nil {
			t.Fatal(err)
		}
	}

	var stop atomic.Bool
	var ops atomic.Int64 // writes done
	var g errgroup.Group
	const writers = 2
	for w := range writers {
		g.Go(func() error {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; !stop.Load(); i++ {
				at := start.Add(-time.Duration(r.IntN(3000)) * time.Minute)
				id := fmt.Sprintf("w%d-%05d", w, i)
				if err := create(id, at, []string{"direct", "social"}[r.IntN(2)]); err != nil {
					return err
				}
				// Touch an older basket of the stable set or of this writer.
				var victim string
				if r.IntN(2) == 0 {
					victim = fmt.Sprintf("s-%04d", r.IntN(1500))
				} else {
					victim = fmt.Sprintf("w%d-%05d", w, r.IntN(i+1))
				}
				now := clock.Now().Add(time.Duration(i) * time.Millisecond)
				var ev basket.Event
				switch r.IntN(3) {
				case 0: // completes: leaves the abandoned set
					h.mu.Lock()
					h.touched[victim] = true
					h.mu.Unlock()
					ev = basket.Event{Type: basket.EventCompleted, BasketID: victim, At: now}
				case 1: // re-activates: stays abandoned (AbandonAfter 0)
					ev = basket.Event{Type: basket.EventItemsChanged, BasketID: victim, At: now,
						OrderItems: []basket.OrderItem{{Name: "Print", Path: fmt.Sprint("/offers/print-", i%3)}}}
				default:
					ev = basket.Event{Type: basket.EventIdentified, BasketID: victim, At: now,
						Identity: &basket.Identity{Sub: fmt.Sprint("sub-", i), Iss: "https://issuer.example"}}
				}
				if _, err := eng.Apply(ctx, ev); err != nil && !errors.Is(err, basket.ErrCompleted) {
					return fmt.Errorf("Apply(%+v): %w", ev, err)
				}
				ops.Add(1)
			}
			return nil
		})
	}

	walk := func(r *rand.Rand, q basket.Query) error {
		h.mu.Lock()
		var must []string
		for id := range h.abandoned {
			if !h.touched[id] && (q.Tag == "" || id[0] == 's') {
				must = append(must, id)
			}
		}
		h.mu.Unlock()
		seen := map[string]bool{}
		for {
			q.Limit = 1 + r.IntN(60)
			p, err := eng.Abandoned(ctx, q)
			if err != nil {
				return err
			}
			for _, b := range p.Items {
				if seen[b.ID] {
					return fmt.Errorf("walk %+v returned %s twice", q, b.ID)
				}
				seen[b.ID] = true
			}
			if p.Cursor == "" {
				break
			}
			q = basket.Query{Cursor: p.Cursor}
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, id := range must {
			if !h.touched[id] && !seen[id] {
				return fmt.Errorf("walk %+v missed %s, abandoned throughout", q, id)
			}
		}
		return nil
	}
	for ops.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	before := ops.Load()
	var readers errgroup.Group
	for rd := range 3 {
		readers.Go(func() error {
			r := rand.New(rand.NewPCG(uint64(rd), 11))
			for range 25 {
				q := basket.Query{}
				if rd == 1 {
					q.Tag = "direct"
				}
				if err := walk(r, q); err != nil {
					return err
				}
			}
			return nil
		})
	}
	rerr := readers.Wait()
	during := ops.Load() - before
	stop.Store(true)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
	if during == 0 {
		t.Fatal("no write overlapped the walks")
	}
	t.Logf("%d writes overlapped the walks", during)
}

// TestVisitorHoldsNoWriter: the function AbandonedFunc and FeedFunc hand
// each basket to runs without the engine's lock, so a consumer that writes
// (or is slow) holds no writer up: a write from inside it completes, and
// the page is the one read before it.
func TestVisitorHoldsNoWriter(t *testing.T) {
	ctx := context.Background()
	clock := btest.NewClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
	items := []basket.OrderItem{{Name: "Digital", Path: "/offers/digital"}}
	abandon := func(id string) error {
		at := clock.Now()
		_, err := eng.Apply(ctx,
			basket.Event{Type: basket.EventCreated, BasketID: id, At: at, OrderItems: items},
			basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: id + "@example.com"})
		return err
	}
	for i := range 3 {
		if err := abandon(fmt.Sprintf("b-%d", i)); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Minute)
	}
	clock.Add(time.Hour)
	want := 3 // abandoned when the read begins: one more after each read
	for name, read := range map[string]func(fn func(b *basket.Basket)) error{
		"AbandonedFunc": func(fn func(b *basket.Basket)) error {
			_, err := eng.AbandonedFunc(ctx, basket.Query{Limit: 10}, fn)
			return err
		},
		"FeedFunc": func(fn func(b *basket.Basket)) error {
			_, err := eng.FeedFunc(ctx, 0, 10, fn)
			return err
		},
	} {
		var seen []string
		wrote := make(chan error, 1)
		done := make(chan error, 1)
		go func() {
			err := read(func(b *basket.Basket) {
				if len(seen) == 0 {
					// A write while the page is being handed over.
					go func() { wrote <- abandon("late-" + name) }()
					select {
					case err := <-wrote:
						wrote <- err
					case <-time.After(10 * time.Second):
						wrote <- errors.New("the write waited for the reader")
					}
				}
				seen = append(seen, b.ID)
			})
			done <- err
		}()
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := <-wrote; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(seen) != want {
			t.Errorf("%s handed over %v; want the %d baskets read before the write", name, seen, want)
		}
		want++
	}
}
