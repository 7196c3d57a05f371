package campaign

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

// engineCrashSeed returns the seed of TestCampaignAcrossEngineCrashes: SEED
// from the environment to replay a run, else a new one.
func engineCrashSeed(t *testing.T) uint64 {
	t.Helper()
	s := os.Getenv("SEED")
	if s == "" {
		return uint64(time.Now().UnixNano())
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("SEED=%q: %v", s, err)
	}
	return n
}

// TestCampaignAcrossEngineCrashes runs a durable campaign over a durable
// engine (fsync=always) on a disk whose fsyncs fail at random. The engine
// is crashed (all that was not fsynced dropped) after every failed batch and
// at random, sometimes after serving reads for a while in its failed state;
// the runner, whose source is then gone, is reopened on its state directory
// with the new engine; and sometimes the runner alone is restarted, or
// crashed at one of its crash points. A campaign running across the
// restarts mails every abandonment exactly once: every step of every basket
// whose batch was acknowledged goes out once, no message twice, and nothing
// about a basket whose batch failed. It runs with baskets abandoned at once
// (the batch itself puts its basket in the feed, so an engine that showed a
// batch before its fsync returned would feed the runner what a crash takes
// back) and after five idle minutes (a later record does, which a failed
// engine never writes).
func TestCampaignAcrossEngineCrashes(t *testing.T) {
	seed := engineCrashSeed(t)
	t.Logf("SEED=%d", seed)
	for i, after := range []time.Duration{0, 5 * time.Minute} {
		t.Run(fmt.Sprintf("abandonAfter=%v", after), func(t *testing.T) {
			campaignAcrossEngineCrashes(t, seed, uint64(11+i), after)
		})
	}
}

func campaignAcrossEngineCrashes(t *testing.T, seed, stream uint64, abandonAfter time.Duration) {
	rng := rand.New(rand.NewPCG(seed, stream))
	steps := 200
	if testing.Short() {
		steps = 100
	}
	ctx := context.Background()
	engDir, stateDir := t.TempDir(), t.TempDir()
	clock := btest.NewClock(t0)
	var failing bool
	fs := &btest.FaultFS{FailSync: func() bool { return failing && rng.IntN(6) == 0 }}
	eopts := &basket.Options{Now: clock.Now, AbandonAfter: abandonAfter, TTL: basket.NoExpiry,
		RecoverySecrets: [][]byte{btest.Secret}, SnapshotEvery: -1,
		Store: &store.Options{Sync: store.SyncAlways, FS: fs}}
	const name = "engine-crash"
	ropts := &Options{Name: name, ShopURL: "https://shop.example.com", BasketTTL: basket.NoExpiry,
		SnapshotEvery: int64(4 << 10 << rng.IntN(4))} // snapshots of the runner's state too
	snd := &memSender{} // outlives every runner: what reached the customers

	var (
		eng *basket.Engine
		r   *Runner

		acked    = map[string]bool{} // baskets whose batch was acknowledged
		refused  = map[string]bool{} // baskets whose only batch failed
		crashes  int                 // of the engine
		failures int                 // batches refused for a failed fsync
		failedUp int                 // times a failed engine served the runner for a while
		restarts int                 // of the runner alone
		rcrashes int                 // of the runner at a crash point
	)
	openEngine := func() {
		t.Helper()
		failing = false // opening writes; a failure there is not what this tests
		var err error
		eng, err = basket.Open(engDir, eopts)
		if err != nil {
			t.Fatalf("SEED=%d: basket.Open: %v", seed, err)
		}
		failing = true
	}
	openRunner := func() {
		t.Helper()
		var err error
		r, err = Open(stateDir, EngineSource{eng}, snd, ropts)
		if err != nil {
			t.Fatalf("SEED=%d: campaign.Open: %v", seed, err)
		}
	}
	openEngine()
	openRunner()
	defer func() {
		r.Close()
		eng.Close()
	}()
	crashEngine := func() {
		t.Helper()
		r.Close() // its source goes
		if err := fs.Crash(engDir); err != nil {
			t.Fatal(err)
		}
		eng.Close() // only its descriptors: it writes nothing more
		crashes++
		openEngine()
		openRunner()
	}
	tick := func() {
		t.Helper()
		if rng.IntN(50) == 0 {
			// The runner dies at one of its crash points during this turn.
			point := []string{"intent", "commit", "delivered"}[rng.IntN(3)]
			r.hook = func(p string) error {
				if p == point {
					return errCrash
				}
				return nil
			}
		}
		_, err := r.Tick(ctx, clock.Now())
		switch {
		case errors.Is(err, errCrash):
			rcrashes++
			r.Close()
			openRunner()
		case err != nil:
			t.Fatalf("SEED=%d: Tick(%v): %v", seed, clock.Now(), err)
		default:
			r.hook = nil
		}
	}
	// serveFailed keeps a failed engine up for a while, the runner reading
	// it, before it is crashed: it must show only what is durable.
	serveFailed := func() {
		t.Helper()
		failedUp++
		for range 1 + rng.IntN(4) {
			clock.Add(time.Duration(20+rng.IntN(40)) * time.Minute)
			tick()
		}
	}

	tick() // activation, before any basket
	for i := range steps {
		clock.Add(time.Duration(rng.IntN(90)) * time.Second)
		id := fmt.Sprintf("b-%04d", i)
		at := clock.Now()
		evs := []basket.Event{
			{Type: basket.EventCreated, BasketID: id, At: at, Entry: "/checkout",
				OrderItems: []basket.OrderItem{{Name: "Weekend", Path: "/offers/weekend"}}},
			// One customer each: no message merges with another's.
			{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: fmt.Sprintf("c%04d@example.com", i)},
		}
		if i > 0 && rng.IntN(6) == 0 { // activity on an older basket: abandoned again later
			if old := fmt.Sprintf("b-%04d", rng.IntN(i)); acked[old] {
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
			if rng.IntN(2) == 0 {
				serveFailed()
			}
			crashEngine()
		default:
			t.Fatalf("SEED=%d: Apply: %v", seed, err)
		}
		tick()
		switch {
		case rng.IntN(40) == 0:
			crashEngine()
		case rng.IntN(30) == 0:
			restarts++
			r.Close()
			openRunner()
		}
	}

	// The rest of every sequence (+1h, +24h, +72h, the one-message
	// window), in half-hour turns, the engine still failing and crashing.
	for end := clock.Now().Add(100 * time.Hour); clock.Now().Before(end); {
		clock.Add(30 * time.Minute)
		tick()
		switch {
		case eng.Health(ctx) != nil:
			if rng.IntN(2) == 0 {
				serveFailed()
			}
			crashEngine()
		case rng.IntN(40) == 0:
			crashEngine()
		case rng.IntN(30) == 0:
			restarts++
			r.Close()
			openRunner()
		}
	}
	// A last restart on a sound disk, and turns until nothing is due.
	crashEngine()
	failing = false
	for idle := 0; idle < 3; {
		clock.Add(time.Hour)
		ts, err := r.Tick(ctx, clock.Now())
		if err != nil {
			t.Fatalf("SEED=%d: Tick: %v", seed, err)
		}
		if ts.Sent+ts.Failed+ts.InDoubt+ts.TookIn == 0 {
			idle++
		} else {
			idle = 0
		}
	}

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
	msgs := snd.messages()
	byKey := map[string]*Message{}
	byStep := map[string]int{} // "basket/step" -> messages
	for _, m := range msgs {
		if prev, ok := byKey[m.Key]; ok {
			t.Errorf("SEED=%d: key %s sent twice: %s/%d at %v, then %s/%d at %v",
				seed, m.Key, prev.BasketID, prev.Step, prev.At, m.BasketID, m.Step, m.At)
		}
		byKey[m.Key] = m
		if want := Key(name, m.BasketID, m.Step); m.Key != want {
			t.Errorf("SEED=%d: %s/%d has key %s; want %s", seed, m.BasketID, m.Step, m.Key, want)
		}
		byStep[fmt.Sprintf("%s/%d", m.BasketID, m.Step)]++
		if refused[m.BasketID] {
			t.Errorf("SEED=%d: %s/%d mailed at %v; its batch failed", seed, m.BasketID, m.Step, m.At)
		} else if !acked[m.BasketID] {
			t.Errorf("SEED=%d: %s/%d mailed; no such basket was created", seed, m.BasketID, m.Step)
		}
	}
	for id := range acked {
		for step := 1; step <= len(DefaultSteps); step++ {
			if n := byStep[fmt.Sprintf("%s/%d", id, step)]; n != 1 {
				t.Errorf("SEED=%d: %s step %d mailed %d times; want once", seed, id, step, n)
			}
		}
	}
	rep := r.Report()
	if len(rep.InDoubt) != 0 || rep.Running != 0 {
		t.Errorf("SEED=%d: at the end %d messages in doubt (%v), %d sequences running; want none",
			seed, len(rep.InDoubt), rep.InDoubt, rep.Running)
	}
	if rep.TookIn != int64(len(acked)) {
		t.Errorf("SEED=%d: the campaign took in %d abandonments; %d baskets were acknowledged", seed, rep.TookIn, len(acked))
	}
	if crashes < 2 || failures == 0 || len(msgs) == 0 {
		t.Fatalf("SEED=%d: %d engine crashes, %d failed batches, %d messages: the test exercised too little",
			seed, crashes, failures, len(msgs))
	}
	t.Logf("%d steps: %d acknowledged, %d refused; %d engine crashes (%d after serving failed), %d runner restarts, %d runner crashes; %d messages",
		steps, len(acked), len(refused), crashes, failedUp, restarts, rcrashes, len(msgs))
}
