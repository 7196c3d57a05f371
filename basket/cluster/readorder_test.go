package cluster_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/cluster"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// heldLog is the real JetStream log with holds a test controls: a
// question for the last sequence answered by the stream but held before it
// returns, the application of records paused, and the first Follow held
// before it reads.
type heldLog struct {
	*cluster.Log
	holdLast atomic.Bool
	heldSeq  atomic.Uint64 // the held question's answer
	answered chan struct{} // a held question has its answer
	release  chan struct{} // lets it return
	applying sync.Mutex    // held: the follower applies nothing
	// beforeFollow, if set, is called once, by the first Follow, with the
	// sequence it follows from, before it reads: the window between a
	// node's choice of a snapshot and its first read of the records after it.
	beforeFollow func(from uint64)
	followOnce   sync.Once
}

func (l *heldLog) Last(ctx context.Context) (uint64, error) {
	seq, err := l.Log.Last(ctx)
	if l.holdLast.CompareAndSwap(true, false) {
		l.heldSeq.Store(seq)
		l.answered <- struct{}{}
		<-l.release
	}
	return seq, err
}

func (l *heldLog) Follow(ctx context.Context, from uint64, apply func(uint64, []byte)) error {
	if l.beforeFollow != nil {
		l.followOnce.Do(func() { l.beforeFollow(from) })
	}
	return l.Log.Follow(ctx, from, func(seq uint64, rec []byte) {
		l.applying.Lock()
		defer l.applying.Unlock()
		apply(seq, rec)
	})
}

// TestClusterReadTakesALaterQuestion: a read that comes while a question to
// the log for its last record is in flight does not take that question's
// answer, which may predate a write acknowledged before the read: it waits
// for the next question's, and so sees the write.
func TestClusterReadTakesALaterQuestion(t *testing.T) {
	nodes := newCluster(t, 3)
	ctx := context.Background()
	l, err := cluster.OpenLog(ctx, nodes[0].nc, "shop", 3)
	if err != nil {
		t.Fatal(err)
	}
	hl := &heldLog{Log: l, answered: make(chan struct{}), release: make(chan struct{})}
	eng, err := basket.New(&basket.Options{Log: hl, Alias: "shop", RecoverySecrets: [][]byte{btest.Secret},
		TickInterval: 100 * time.Millisecond, AbandonAfter: time.Second, CheckpointEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, err := nodes[1].eng.Apply(ctx, batch("before", time.Now())...); err != nil {
		t.Fatal(err)
	}

	// A first read: its question is answered, and held.
	hl.holdLast.Store(true)
	first := make(chan error, 1)
	go func() {
		_, err := eng.Get(ctx, "before")
		first <- err
	}()
	<-hl.answered
	// Once the engine has applied what the held answer names, a write
	// acknowledged after that answer, which the engine cannot apply yet;
	// then a read of it.
	for {
		applied, _, err := eng.Position(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if applied >= hl.heldSeq.Load() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	hl.applying.Lock()
	if _, err := nodes[1].eng.Apply(ctx, batch("written", time.Now())...); err != nil {
		hl.applying.Unlock()
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		_, err := eng.Get(ctx, "written")
		second <- err
	}()
	time.Sleep(100 * time.Millisecond) // the second read queues behind the held question
	close(hl.release)
	select {
	case err := <-second:
		hl.applying.Unlock()
		t.Fatalf("the read of the write returned (%v) before the engine applied it: it took an older question's answer", err)
	case <-time.After(300 * time.Millisecond):
	}
	hl.applying.Unlock()
	if err := <-second; err != nil {
		t.Fatalf("the read of an acknowledged write: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("the first read: %v", err)
	}
}
