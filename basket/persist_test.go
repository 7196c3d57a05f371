package basket_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

// state is everything a client can see of an engine, for comparing an engine
// with itself after a restart.
type state struct {
	Baskets map[string]basket.Basket
	Query   []string
	Feed    []string
	Stats   basket.Stats
}

func capture(t *testing.T, eng *basket.Engine, ids []string) state {
	t.Helper()
	s := state{Baskets: map[string]basket.Basket{}, Stats: btest.Stats(t, eng)}
	for _, id := range ids {
		if b, ok := btest.Lookup(t, eng, id); ok {
			b.RecoveryLink = "" // a fresh link may be issued; validity is tested apart
			s.Baskets[id] = b
		}
	}
	s.Query = abandonedIDs(t, eng, basket.Query{Limit: 7})
	var after uint64
	for {
		p, err := eng.Feed(context.Background(), after, 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range p.Items {
			s.Feed = append(s.Feed, fmt.Sprintf("%s@%d", b.ID, b.FeedPosition))
		}
		if len(p.Items) == 0 {
			break
		}
		after = p.Next
	}
	return s
}

func openDurable(t *testing.T, dir string, clock *btest.Clock, so *store.Options) *basket.Engine {
	t.Helper()
	eng, err := basket.Open(dir, &basket.Options{Now: clock.Now, AbandonAfter: 10 * time.Minute, TTL: 12 * time.Hour,
		Store: so, SnapshotEvery: -1})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return eng
}

// TestRestart drives random batches into a durable engine, with snapshots
// now and then, and checks after every restart that it shows exactly what it
// showed before.
func TestRestart(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s, ok := envSeed(t); ok {
		seed = s
	}
	t.Logf("SEED=%d", seed)
	r := rand.New(rand.NewPCG(seed, 3))
	dir := t.TempDir()
	clock := btest.NewClock(time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC))
	g := newGen(r)
	so := &store.Options{Sync: store.SyncNever}
	eng := openDurable(t, dir, clock, so)
	defer func() { eng.Close() }()
	ctx := context.Background()
	for round := range 8 {
		for range 40 {
			clock.Add(time.Duration(r.IntN(10)) * time.Minute)
			evs := make([]basket.Event, 1+r.IntN(3))
			for i := range evs {
				evs[i], _ = g.event(clock.Now())
			}
			eng.Apply(ctx, evs...) //nolint:errcheck // rejected batches are part of the test
			if r.IntN(30) == 0 {
				if err := eng.Snapshot(context.Background()); err != nil {
					t.Fatalf("Snapshot: %v", err)
				}
			}
		}
		before := capture(t, eng, g.ids)
		if err := eng.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		eng = openDurable(t, dir, clock, so)
		if err := eng.Check(); err != nil {
			t.Fatalf("round %d: invariants after restart: %v", round, err)
		}
		after := capture(t, eng, g.ids)
		// Under fsync=never a restart starts a new epoch of positions
		// above every one handed out, since the log may have lost some.
		if after.Stats.LastPosition <= before.Stats.LastPosition {
			t.Fatalf("round %d: LastPosition %d after restart; want above %d", round, after.Stats.LastPosition, before.Stats.LastPosition)
		}
		after.Stats.LastPosition = before.Stats.LastPosition
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("round %d: after restart\n%+v\nwant\n%+v", round, after, before)
		}
	}
}

func TestRestartKeepsLinksAndCursors(t *testing.T) {
	dir := t.TempDir()
	clock := btest.NewClock(t0)
	eng := openDurable(t, dir, clock, nil)
	mustApply(t, eng, created("a", t0), email("a", t0, "ann@example.com"), created("b", t0), email("b", t0, "bob@example.com"))
	clock.Add(10 * time.Minute)
	p, err := eng.Abandoned(context.Background(), basket.Query{Limit: 1})
	if err != nil || p.Cursor == "" {
		t.Fatalf("Abandoned = %+v, %v", p, err)
	}
	link := p.Items[0].RecoveryLink
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	eng = openDurable(t, dir, clock, nil)
	defer eng.Close()
	p2, err := eng.Abandoned(context.Background(), basket.Query{Cursor: p.Cursor})
	if err != nil || len(p2.Items) != 1 || p2.Items[0].ID != "b" {
		t.Fatalf("cursor after restart: %+v, %v", p2, err)
	}
	tok := link[strings.LastIndex(link, "=")+1:]
	if rec, err := eng.Recover(context.Background(), "a", tok); err != nil || rec.Outcome != basket.RecoverCheckout {
		t.Fatalf("recovery link after restart: %+v, %v", rec, err)
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	clock := btest.NewClock(t0)
	eng := openDurable(t, dir, clock, nil)
	_, err := basket.Open(dir, nil)
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open = %v; want ErrLocked", err)
	}
	eng.Close()
	eng = openDurable(t, dir, clock, nil)
	eng.Close()
}

// segments returns the log segments of dir, oldest first.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fill writes n single-basket batches and closes the engine.
func fill(t *testing.T, dir string, clock *btest.Clock, from, n int) {
	t.Helper()
	eng := openDurable(t, dir, clock, nil)
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("b-%03d", i)
		mustApply(t, eng, created(id, clock.Now()), email(id, clock.Now(), id+"@example.com"))
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	clock := btest.NewClock(t0)
	fill(t, dir, clock, 0, 10)
	seg := segments(t, dir)[0]
	fi, _ := os.Stat(seg)
	if err := os.Truncate(seg, fi.Size()-7); err != nil { // the last batch, torn
		t.Fatal(err)
	}
	eng := openDurable(t, dir, clock, nil)
	defer eng.Close()
	rep := eng.StorageReport()
	// A new directory's log starts with its settings and its epoch of feed
	// positions.
	if !rep.TornTail || rep.TornBytes == 0 || rep.Records != 2+9 {
		t.Fatalf("StorageReport = %+v; want a torn tail cut after 11 records (2 of the directory, 9 batches)", rep)
	}
	if st := btest.Stats(t, eng); st.Contactable != 9 {
		t.Fatalf("after a torn tail %d baskets; want 9", st.Contactable)
	}
	if _, ok := btest.Lookup(t, eng, "b-009"); ok {
		t.Fatal("the torn batch is half visible")
	}
	// The log takes writes again, and they survive.
	mustApply(t, eng, created("after", t0), email("after", t0, "a@example.com"))
	eng.Close()
	eng = openDurable(t, dir, clock, nil)
	if _, ok := btest.Lookup(t, eng, "after"); !ok {
		t.Fatal("a write after the cut was lost")
	}
	eng.Close()
}

func TestCorruptMiddle(t *testing.T) {
	dir := t.TempDir()
	clock := btest.NewClock(t0)
	fill(t, dir, clock, 0, 10)
	seg := segments(t, dir)[0]
	b, _ := os.ReadFile(seg)
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := basket.Open(dir, &basket.Options{Now: clock.Now})
	var ce *store.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open with a flipped byte = %v; want a *store.CorruptError", err)
	}
	// Nothing was cut: the file is as it was.
	if b2, _ := os.ReadFile(seg); !reflect.DeepEqual(b, b2) {
		t.Fatal("Open changed a corrupt log")
	}
}

func TestMissingSnapshot(t *testing.T) {
	dir := t.TempDir()
	clock := btest.NewClock(t0)
	eng := openDurable(t, dir, clock, nil)
	mustApply(t, eng, created("a", t0))
	if err := eng.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustApply(t, eng, created("b", t0))
	eng.Close()
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshot-*.snap"))
	if len(snaps) != 1 || len(segments(t, dir)) != 1 {
		t.Fatalf("after a snapshot: snapshots %v, segments %v; want one of each", snaps, segments(t, dir))
	}
	if err := os.Remove(snaps[0]); err != nil {
		t.Fatal(err)
	}
	_, err := basket.Open(dir, &basket.Options{Now: clock.Now})
	if !errors.Is(err, store.ErrMissingSnapshot) {
		t.Fatalf("Open without its snapshot = %v; want ErrMissingSnapshot", err)
	}
}

func TestSnapshotVersion(t *testing.T) {
	dir := t.TempDir()
	clock := btest.NewClock(t0)
	eng := openDurable(t, dir, clock, nil)
	mustApply(t, eng, created("a", t0))
	if err := eng.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	eng.Close()
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshot-*.snap"))
	b, _ := os.ReadFile(snaps[0])
	b[11] = 0 // the format version's last byte: version 0, an older format
	if err := os.WriteFile(snaps[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := basket.Open(dir, &basket.Options{Now: clock.Now})
	if !errors.Is(err, store.ErrVersion) || !strings.Contains(err.Error(), "version 0") {
		t.Fatalf("Open with an old snapshot = %v; want ErrVersion naming version 0", err)
	}
}

// fullFS is a file system whose log segments run out of space after a
// budget of bytes.
type fullFS struct {
	store.OS
	budget atomic.Int64
}

func (f *fullFS) OpenFile(name string, flag int, perm os.FileMode) (store.File, error) {
	file, err := f.OS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasPrefix(filepath.Base(name), "wal-") {
		return file, err
	}
	return &fullFile{File: file, fs: f}, nil
}

type fullFile struct {
	store.File
	fs *fullFS
}

func (f *fullFile) Write(p []byte) (int, error) {
	left := f.fs.budget.Add(-int64(len(p)))
	if left >= 0 {
		return f.File.Write(p)
	}
	n := max(0, len(p)+int(left)) // a partial write, then the disk is full
	f.fs.budget.Store(0)
	if n > 0 {
		f.File.Write(p[:n]) //nolint:errcheck // the short write is the point
	}
	return n, syscall.ENOSPC
}

func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	clock := btest.NewClock(t0)
	fs := &fullFS{}
	fs.budget.Store(1 << 20)
	so := &store.Options{FS: fs}
	eng := openDurable(t, dir, clock, so)
	mustApply(t, eng, created("a", t0), email("a", t0, "ann@example.com"))
	fs.budget.Store(30) // the next batch is larger
	_, err := eng.Apply(context.Background(), created("b", t0), email("b", t0, "bob@example.com"))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Apply on a full disk = %v; want ENOSPC", err)
	}
	if _, ok := btest.Lookup(t, eng, "b"); ok {
		t.Fatal("a batch that was not logged is visible")
	}
	fs.budget.Store(1 << 20) // space freed
	mustApply(t, eng, created("c", t0), email("c", t0, "cy@example.com"))
	before := capture(t, eng, []string{"a", "b", "c"})
	eng.Close()
	eng = openDurable(t, dir, clock, so)
	defer eng.Close()
	if after := capture(t, eng, []string{"a", "b", "c"}); !reflect.DeepEqual(before, after) {
		t.Fatalf("after restart %+v; want %+v", after, before)
	}
	if rep := eng.StorageReport(); rep.TornTail {
		t.Fatalf("the partial write was left in the log: %+v", rep)
	}
}

// TestConcurrentSnapshot takes snapshots while writers write, and checks the
// restart sees every acknowledged batch.
func TestConcurrentSnapshot(t *testing.T) {
	dir := t.TempDir()
	clock := btest.NewClock(t0)
	eng := openDurable(t, dir, clock, &store.Options{Sync: store.SyncInterval, SyncInterval: time.Millisecond})
	ctx := context.Background()
	done := make(chan error, 2)
	for w := range 2 {
		go func() {
			for i := range 300 {
				id := fmt.Sprintf("w%d-%03d", w, i)
				if _, err := eng.Apply(ctx, created(id, t0), email(id, t0, id+"@example.com")); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 5 {
		if err := eng.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	eng.Close()
	eng = openDurable(t, dir, clock, nil)
	defer eng.Close()
	if st := btest.Stats(t, eng); st.Contactable != 600 {
		t.Fatalf("after restart %d baskets; want 600", st.Contactable)
	}
}
