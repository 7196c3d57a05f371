package basket_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

// feedIDs returns the whole feed as "id@position" strings.
func feedIDs(t *testing.T, eng *basket.Engine) []string {
	t.Helper()
	var out []string
	var after uint64
	for {
		p, err := eng.Feed(context.Background(), after, 100)
		if err != nil {
			t.Fatalf("Feed(%d): %v", after, err)
		}
		for _, b := range p.Items {
			out = append(out, fmt.Sprintf("%s@%d", b.ID, b.FeedPosition))
		}
		if len(p.Items) == 0 {
			return out
		}
		after = p.Next
	}
}

// TestNotVisibleBeforeDurable: while a batch's fsync is under way, no read
// shows it; once Apply returns, every read does.
func TestNotVisibleBeforeDurable(t *testing.T) {
	clock := btest.NewClock(t0)
	fs := &btest.FaultFS{}
	eng, err := basket.Open(t.TempDir(), &basket.Options{Now: clock.Now, RecoverySecrets: [][]byte{btest.Secret},
		SnapshotEvery: -1, Store: &store.Options{Sync: store.SyncAlways, FS: fs}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	entered := fs.Hold()
	done := make(chan error, 1)
	go func() {
		_, err := eng.Apply(context.Background(), created("b", t0), email("b", t0, "ann@example.com"))
		done <- err
	}()
	<-entered // the batch is logged and waits for its fsync
	if _, ok := btest.Lookup(t, eng, "b"); ok {
		t.Error("Get shows a batch whose fsync has not returned")
	}
	if ids := feedIDs(t, eng); len(ids) != 0 {
		t.Errorf("the feed shows %v before the batch is durable", ids)
	}
	if ids := abandonedIDs(t, eng, basket.Query{}); len(ids) != 0 {
		t.Errorf("Abandoned shows %v before the batch is durable", ids)
	}
	fs.Release()
	if err := <-done; err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if ids := feedIDs(t, eng); len(ids) != 1 {
		t.Errorf("after Apply returned, the feed shows %v; want the basket", ids)
	}
}

// TestFsyncFailure: a failed fsync fails its batch, which no read shows;
// the engine then refuses writes, and Health says why.
func TestFsyncFailure(t *testing.T) {
	clock := btest.NewClock(t0)
	fail := false
	fs := &btest.FaultFS{FailSync: func() bool { return fail }}
	dir := t.TempDir()
	opts := &basket.Options{Now: clock.Now, RecoverySecrets: [][]byte{btest.Secret},
		SnapshotEvery: -1, Store: &store.Options{Sync: store.SyncAlways, FS: fs}}
	eng, err := basket.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustApply(t, eng, created("a", t0), email("a", t0, "ann@example.com"))
	fail = true
	if _, err := eng.Apply(ctx, created("b", t0), email("b", t0, "bob@example.com")); !errors.Is(err, basket.ErrStorage) {
		t.Fatalf("Apply with a failing fsync = %v; want ErrStorage", err)
	}
	fail = false
	if _, ok := btest.Lookup(t, eng, "b"); ok {
		t.Error("the batch whose fsync failed is visible")
	}
	if ids := feedIDs(t, eng); len(ids) != 1 {
		t.Errorf("feed after the failure = %v; want only a", ids)
	}
	if _, err := eng.Apply(ctx, created("c", t0)); !errors.Is(err, basket.ErrStorage) {
		t.Errorf("Apply after a failed fsync = %v; want ErrStorage", err)
	}
	if err := eng.Health(ctx); !errors.Is(err, basket.ErrStorage) {
		t.Errorf("Health after a failed fsync = %v; want ErrStorage", err)
	}
	// What is durable survives the crash that follows, and nothing else.
	if err := fs.Crash(dir); err != nil {
		t.Fatal(err)
	}
	eng, err = basket.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, ok := btest.Lookup(t, eng, "a"); !ok {
		t.Error("an acknowledged batch was lost")
	}
	if _, ok := btest.Lookup(t, eng, "c"); ok {
		t.Error("a refused batch is there after a restart")
	}
}

// TestReplayReproducesTimeBasedChanges: a read that finds a basket idle long
// enough makes it abandoned through the log, so that a restart reproduces its
// position, abandonedAt and link, and no later abandonment reuses the
// position, even once the basket has left the feed.
func TestReplayReproducesTimeBasedChanges(t *testing.T) {
	clock := btest.NewClock(t0)
	dir := t.TempDir()
	opts := &basket.Options{Now: clock.Now, AbandonAfter: time.Minute, RecoverySecrets: [][]byte{btest.Secret}, SnapshotEvery: -1}
	reopen := func(eng *basket.Engine) *basket.Engine {
		t.Helper()
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
		eng, err := basket.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	eng, err := basket.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, eng, created("x", t0), email("x", t0, "x@example.com"))
	mustApply(t, eng, created("w", t0), email("w", t0, "w@example.com"))
	clock.Add(time.Minute + time.Millisecond)
	before := feedIDs(t, eng) // this read makes x and w abandoned
	if len(before) != 2 {
		t.Fatalf("feed = %v; want x and w", before)
	}
	bx, _ := btest.Lookup(t, eng, "x")
	eng = reopen(eng)
	if after := feedIDs(t, eng); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("feed after a restart = %v; want %v", after, before)
	}
	ax, _ := btest.Lookup(t, eng, "x")
	if ax.AbandonedAt != bx.AbandonedAt || ax.RecoveryLink != bx.RecoveryLink {
		t.Errorf("after a restart x = %v %q; want %v %q", ax.AbandonedAt, ax.RecoveryLink, bx.AbandonedAt, bx.RecoveryLink)
	}
	// x leaves the feed; after a restart, the next abandonment must not take
	// the position a consumer saw x at.
	mustApply(t, eng, basket.Event{Type: basket.EventCompleted, BasketID: "x", At: clock.Now()})
	eng = reopen(eng)
	defer eng.Close()
	mustApply(t, eng, created("y", clock.Now()), email("y", clock.Now(), "y@example.com"))
	clock.Add(2 * time.Minute)
	by, _ := btest.Lookup(t, eng, "y")
	if !by.Abandoned || by.FeedPosition <= bx.FeedPosition {
		t.Errorf("y abandoned %v at position %d; want abandoned above x's %d", by.Abandoned, by.FeedPosition, bx.FeedPosition)
	}
}

// TestNewProcessNewPositions: a new in-memory engine (a server restarted
// without a data directory) hands out positions above every one an earlier
// engine did, so that a consumer's checkpoint stays good.
func TestNewProcessNewPositions(t *testing.T) {
	clock := btest.NewClock(t0)
	first := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
	for i := range 50 {
		id := fmt.Sprint("a", i)
		mustApply(t, first, created(id, clock.Now()), email(id, clock.Now(), id+"@example.com"))
	}
	last := btest.Stats(t, first).LastPosition
	first.Close()
	clock.Add(time.Millisecond) // a process started a moment later
	second := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
	mustApply(t, second, created("b", clock.Now()), email("b", clock.Now(), "b@example.com"))
	p, err := second.Feed(context.Background(), last, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 || p.Items[0].ID != "b" || p.Items[0].FeedPosition <= last {
		t.Fatalf("Feed(after %d) of the new engine = %+v; want b above %d", last, p.Items, last)
	}
}

// TestSettingsKept: a log written under one TTL and idle threshold replays
// the same under others; the new options apply from the restart on, unless
// the reader keeps the stored ones.
func TestSettingsKept(t *testing.T) {
	clock := btest.NewClock(t0)
	dir := t.TempDir()
	open := func(o basket.Options) *basket.Engine {
		t.Helper()
		o.Now, o.RecoverySecrets, o.SnapshotEvery = clock.Now, [][]byte{btest.Secret}, -1
		eng, err := basket.Open(dir, &o)
		if err != nil {
			t.Fatalf("Open(TTL %v, AbandonAfter %v): %v", o.TTL, o.AbandonAfter, err)
		}
		return eng
	}
	eng := open(basket.Options{TTL: 30 * 24 * time.Hour, AbandonAfter: 10 * time.Minute})
	old := t0.Add(-20 * 24 * time.Hour) // fine under a 30-day TTL
	mustApply(t, eng, created("old", old), email("old", old, "old@example.com"))
	mustApply(t, eng, created("new", t0), email("new", t0, "new@example.com"))
	clock.Add(10 * time.Minute)
	before := feedIDs(t, eng)
	if len(before) != 2 {
		t.Fatalf("feed = %v; want both", before)
	}
	eng.Close()

	// A reader of the directory with other defaults sees it as it was.
	eng = open(basket.Options{TTL: 14 * 24 * time.Hour, KeepStoredSettings: true})
	if got := feedIDs(t, eng); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("feed under kept settings = %v; want %v", got, before)
	}
	eng.Close()

	// An operator who shortens the TTL: the replay is as before, and the new
	// TTL applies from now on.
	eng = open(basket.Options{TTL: 14 * 24 * time.Hour, AbandonAfter: time.Hour})
	defer eng.Close()
	if _, ok := btest.Lookup(t, eng, "new"); !ok {
		t.Error("a basket is missing after a restart with other settings")
	}
	if _, ok := btest.Lookup(t, eng, "old"); ok {
		t.Error("a basket older than the new TTL is still there")
	}
}

// TestErasureResent: a batch with an erasure in it, sent again after its
// answer was lost, is applied again harmlessly; news dated after the erasure
// is still refused.
func TestErasureResent(t *testing.T) {
	clock := btest.NewClock(t0)
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
	batch := []basket.Event{created("e", t0), email("e", t0, "eve@example.com"),
		{Type: basket.EventErased, Email: "eve@example.com", At: t0.Add(time.Second)}}
	mustApply(t, eng, batch...)
	res, err := eng.Apply(context.Background(), batch...)
	if err != nil || res.Applied != len(batch) || res.Changed != 0 {
		t.Fatalf("re-sent erasure batch = %+v, %v; want every event applied, none changing anything", res, err)
	}
	late := email("e", t0.Add(time.Minute), "eve@example.com")
	var te *basket.TransitionError
	if _, err := eng.Apply(context.Background(), late); !errors.As(err, &te) || !errors.Is(err, basket.ErrUnknownBasket) {
		t.Fatalf("news after the erasure = %v; want a TransitionError for an unknown basket", err)
	}
	if _, ok := btest.Lookup(t, eng, "e"); ok {
		t.Fatal("the erased basket came back")
	}
}

// TestReadThenEarlierBatch: a read makes a basket abandoned at one time, and
// then a batch stamped with an earlier clock reading (a writer that read the
// clock before the reader took the lock, or a clock stepped back) abandons
// another. The positions both got survive a restart.
func TestReadThenEarlierBatch(t *testing.T) {
	clock := btest.NewClock(t0)
	dir := t.TempDir()
	opts := &basket.Options{Now: clock.Now, AbandonAfter: time.Minute, RecoverySecrets: [][]byte{btest.Secret}, SnapshotEvery: -1}
	eng, err := basket.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, eng, created("x", t0), email("x", t0, "x@example.com"))
	clock.Set(t0.Add(time.Minute + time.Millisecond))
	feedIDs(t, eng) // x is abandoned now
	clock.Set(t0.Add(30 * time.Second))
	early := t0.Add(-2 * time.Minute) // idle long enough already: abandoned at once
	mustApply(t, eng, created("w", early), email("w", early, "w@example.com"))
	before := feedIDs(t, eng)
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	if eng, err = basket.Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if after := feedIDs(t, eng); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("feed after a restart = %v; want %v", after, before)
	}
}
