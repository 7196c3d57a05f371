package basket_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

// TestSnapshotWhileWaiting: with fsync=always on a disk whose fsyncs are
// slow, concurrent writers and snapshots taken over and over (both the
// background ones a tiny SnapshotEvery starts and explicit ones) never fail a
// write, and every acknowledged basket is there after a restart.
func TestSnapshotWhileWaiting(t *testing.T) {
	snapshots, most := 200, int64(1500) // each snapshot writes every basket: keep them few
	if testing.Short() {
		snapshots = 50
	}
	dir := t.TempDir()
	clock := btest.NewClock(t0)
	fs := &btest.SlowSyncFS{Max: 2 * time.Millisecond}
	opts := &basket.Options{Now: clock.Now, RecoverySecrets: [][]byte{btest.Secret}, SnapshotEvery: 1,
		Store: &store.Options{Sync: store.SyncAlways, FS: fs}}
	eng, err := basket.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var (
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []string
		errs  = make(chan error, 8)
		n     atomic.Int64
	)
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := n.Add(1)
				if k > most {
					return
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				at := t0.Add(time.Duration(k) * time.Millisecond)
				if _, err := eng.Apply(context.Background(), created(id, at), email(id, at, id+"@example.com")); err != nil {
					errs <- fmt.Errorf("Apply %s: %w", id, err)
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	for i := range snapshots {
		if err := eng.Snapshot(context.Background()); err != nil {
			t.Errorf("Snapshot %d: %v", i, err)
			break
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := eng.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if t.Failed() {
		return
	}
	opts.Store = &store.Options{Sync: store.SyncAlways}
	eng, err = basket.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, id := range acked {
		if _, err := eng.Get(context.Background(), id); err != nil {
			t.Fatalf("after a restart, Get(%q) = %v; want the acknowledged basket", id, err)
		}
	}
	t.Logf("%d snapshots, %d baskets acknowledged, %d fsyncs", snapshots, len(acked), fs.Syncs())
}
