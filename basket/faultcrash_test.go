package basket_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

// TestFaultyDisk drives a durable engine (fsync=always) on a disk whose
// fsyncs fail at random, crashing it (dropping all that was not fsynced) at
// random and after every failure, while a feed consumer keeps a checkpoint
// across the restarts, as a campaign does. No position ever names two
// baskets, every acknowledged batch survives, nothing refused is there, and
// the consumer sees every abandonment exactly once.
func TestFaultyDisk(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s, ok := envSeed(t); ok {
		seed = s
	}
	t.Logf("SEED=%d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	steps := 1500
	if testing.Short() {
		steps = 300
	}
	ctx := context.Background()
	dir := t.TempDir()
	clock := btest.NewClock(time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC))
	var failing bool
	fs := &btest.FaultFS{FailSync: func() bool { return failing && r.IntN(4) == 0 }}
	abandonAfter := []time.Duration{0, 5 * time.Minute}[r.IntN(2)]
	t.Logf("abandon after %v", abandonAfter)
	opts := &basket.Options{Now: clock.Now, AbandonAfter: abandonAfter, TTL: basket.NoExpiry,
		RecoverySecrets: [][]byte{btest.Secret}, SnapshotEvery: -1, Store: &store.Options{Sync: store.SyncAlways, FS: fs}}
	open := func() *basket.Engine {
		t.Helper()
		failing = false
		eng, err := basket.Open(dir, opts)
		if err != nil {
			t.Fatalf("SEED=%d: Open: %v", seed, err)
		}
		failing = true
		return eng
	}
	eng := open()
	defer func() { eng.Close() }()

	var (
		named    = map[uint64]string{} // position -> the basket any read saw there
		acked    = map[string]bool{}   // baskets whose batch was acknowledged
		refused  = map[string]bool{}   // baskets whose only batch failed
		consumed = map[uint64]string{} // what the consumer took, by position
		after    uint64                // the consumer's checkpoint
		crashes  int
		failures int
	)
	crash := func() {
		t.Helper()
		if err := fs.Crash(dir); err != nil {
			t.Fatal(err)
		}
		eng.Close() // only its descriptors: it writes nothing more
		crashes++
		eng = open()
	}
	consume := func() {
		t.Helper()
		for {
			p, err := eng.Feed(ctx, after, 1+r.IntN(20))
			if err != nil {
				t.Fatalf("Feed(%d): %v", after, err)
			}
			for _, b := range p.Items {
				if prev, ok := named[b.FeedPosition]; ok && prev != b.ID {
					t.Fatalf("SEED=%d: position %d names %s; it named %s before", seed, b.FeedPosition, b.ID, prev)
				}
				named[b.FeedPosition] = b.ID
				if prev, ok := consumed[b.FeedPosition]; ok {
					t.Fatalf("SEED=%d: the consumer got position %d (%s) twice; first %s", seed, b.FeedPosition, b.ID, prev)
				}
				consumed[b.FeedPosition] = b.ID
			}
			if len(p.Items) == 0 {
				return
			}
			after = p.Next
		}
	}
	for i := range steps {
		clock.Add(time.Duration(r.IntN(90)) * time.Second)
		id := fmt.Sprintf("b-%04d", i)
		at := clock.Now()
		evs := []basket.Event{created(id, at), email(id, at, fmt.Sprintf("user%d@example.com", r.IntN(200)))}
		if r.IntN(5) == 0 && i > 0 { // activity on an older basket: abandoned again later
			old := fmt.Sprintf("b-%04d", r.IntN(i))
			if acked[old] {
				evs = append(evs, basket.Event{Type: basket.EventItemsChanged, BasketID: old, At: at,
					OrderItems: []basket.OrderItem{{Name: "Print", Path: fmt.Sprintf("/offers/print-%d", i)}}})
			}
		}
		_, err := eng.Apply(ctx, evs...)
		switch {
		case err == nil:
			acked[id] = true
		case errors.Is(err, basket.ErrStorage):
			refused[id] = true
			failures++
			if r.IntN(2) == 0 {
				consume() // the failed engine still serves reads: only what is durable
			}
			crash()
		default:
			t.Fatalf("SEED=%d: Apply: %v", seed, err)
		}
		if r.IntN(4) == 0 {
			consume()
		}
		if r.IntN(60) == 0 {
			switch err := eng.Snapshot(ctx); {
			case errors.Is(err, basket.ErrStorage):
				failures++
				crash()
			case err != nil:
				t.Fatalf("SEED=%d: Snapshot: %v", seed, err)
			}
		}
		if r.IntN(80) == 0 {
			crash()
		}
	}
	clock.Add(time.Hour)
	consume()
	for id := range acked {
		if _, ok := btest.Lookup(t, eng, id); !ok {
			t.Errorf("SEED=%d: acknowledged basket %s is lost", seed, id)
		}
	}
	for id := range refused {
		if _, ok := btest.Lookup(t, eng, id); ok {
			t.Errorf("SEED=%d: basket %s, whose batch failed, is there", seed, id)
		}
	}
	// Every abandoned basket of the final state was consumed at its position.
	var all uint64
	for {
		p, err := eng.Feed(ctx, all, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range p.Items {
			if consumed[b.FeedPosition] != b.ID {
				t.Errorf("SEED=%d: %s at position %d was never consumed", seed, b.ID, b.FeedPosition)
			}
		}
		if len(p.Items) == 0 {
			break
		}
		all = p.Next
	}
	if crashes == 0 || failures == 0 || len(consumed) == 0 {
		t.Fatalf("SEED=%d: %d crashes, %d failed fsyncs, %d consumed: the test exercised too little", seed, crashes, failures, len(consumed))
	}
	t.Logf("%d steps, %d crashes (%d after a failed fsync), %d acknowledged, %d refused, %d abandonments consumed",
		steps, crashes, failures, len(acked), len(refused), len(consumed))
}
