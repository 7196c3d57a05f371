package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/cluster"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// settleSnapshots waits until the cluster's snapshots and the stream's
// first record have not changed for longer than a snapshotter's pause
// before a save.
func settleSnapshots(t *testing.T, nd *node) {
	t.Helper()
	seqs, first := snapshotState(t, nd)
	since := time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Since(since) < 4*time.Second; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the cluster's snapshots did not settle: now %v, the stream from %d", seqs, first)
		}
		s, f := snapshotState(t, nd)
		if !slices.Equal(s, seqs) || f != first {
			seqs, first, since = s, f, time.Now()
		}
	}
}

// snapshotState returns the sequences of the snapshots stored and the
// stream's first sequence.
func snapshotState(t *testing.T, nd *node) ([]uint64, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nd.nc)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.ObjectStore(ctx, cluster.SnapshotBucket("shop"))
	if err != nil {
		t.Fatalf("the snapshots' bucket: %v", err)
	}
	var seqs []uint64
	infos, _ := obs.List(ctx)
	for _, info := range infos {
		if strings.Contains(info.Name, ".part-") {
			continue // a part of a snapshot, not its manifest
		}
		var seq uint64
		if _, err := fmt.Sscanf(info.Name, "snapshot-%d", &seq); err != nil {
			t.Fatalf("an object %q in the snapshots' bucket", info.Name)
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	st, err := js.Stream(ctx, cluster.StreamName("shop"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return seqs, info.State.FirstSeq
}

// TestClusterSnapshots: every 10 records the nodes save a snapshot in the
// object store (one copy, whichever node is first), the stream keeps the
// two newest and drops the records the older covers; a node restarted, and
// a new engine, start from the newest snapshot and the records after it,
// and agree with the others on feeds, links and the checkpoints' digests.
func TestClusterSnapshots(t *testing.T) {
	nodes := newCluster(t, 3, func(nd *node) { nd.snapEvery, nd.snapDir = 10, filepath.Join(nd.dir, "snapshots") })
	ctx := context.Background()
	write := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			nd := nodes[i%3]
			if nd.eng == nil {
				nd = nodes[(i+1)%3]
			}
			if _, err := nd.eng.Apply(ctx, batch(fmt.Sprintf("%s-%02d", prefix, i), time.Now())...); err != nil {
				t.Fatalf("Apply on %s: %v", nd.name, err)
			}
		}
	}
	write("s", 60)
	var seqs []uint64
	var first uint64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if seqs, first = snapshotState(t, nodes[0]); len(seqs) == 2 && first > 1 {
			break
		}
	}
	if len(seqs) != 2 || first != seqs[0]+1 {
		t.Fatalf("snapshots %v, the stream starts at %d; want the two newest kept and the stream from the older's next record", seqs, first)
	}
	for _, s := range seqs {
		if s%10 != 0 {
			t.Fatalf("a snapshot of record %d; want multiples of 10", s)
		}
	}
	t.Logf("snapshots %v; the stream starts at %d", seqs, first)

	lost := nodes[1]
	lost.stop()
	write("t", 15)
	// The cluster may still be saving the snapshots of those writes, and
	// trimming the stream past the node's own snapshot after the node has
	// chosen it; the node then starts again from a newer one
	// (TestClusterStartTrimmedPastSnapshot). This part of the test restarts
	// it once the cluster's snapshots have settled (unchanged for longer
	// than a save's pause), so that it starts from the snapshot it chose.
	settleSnapshots(t, nodes[0])
	lost.startServer(t)
	if err := lost.startEngine(t); err != nil {
		t.Fatalf("restarting %s on a trimmed stream: %v", lost.name, err)
	}
	if _, err := lost.eng.Get(ctx, "t-14"); err != nil {
		t.Fatalf("the restarted node misses a write made while it was down: %v", err)
	}

	// A new engine, with no state of its own.
	l, err := cluster.OpenLog(ctx, nodes[0].nc, "shop", 3)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := basket.New(&basket.Options{Log: l, Alias: "shop", RecoverySecrets: [][]byte{btest.Secret},
		TickInterval: 100 * time.Millisecond, AbandonAfter: time.Second, CheckpointEvery: 4, LogSnapshotEvery: 10,
		ChangeRetention: time.Hour})
	if err != nil {
		t.Fatalf("a new engine on a trimmed stream: %v", err)
	}
	defer fresh.Close()

	write("u", 12) // more checkpoints, compared by every node
	waitFeed(t, nodes[0].eng, 87)
	want := feed(t, nodes[0].eng)
	if len(want) != 87 {
		t.Fatalf("feed has %d baskets; want 87", len(want))
	}
	engines := map[string]*basket.Engine{"n2": nodes[1].eng, "n3": nodes[2].eng, "new": fresh}
	for name, eng := range engines {
		waitFeed(t, eng, 87)
		if got := feed(t, eng); !slices.Equal(got, want) {
			t.Fatalf("feed of %s differs from n1's:\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if err := eng.Health(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := nodes[0].eng.Health(ctx); err != nil {
		t.Fatal(err)
	}
	// The change journals agree, sequence by sequence, the restored ones
	// included.
	wantChanges := journal(t, nodes[0].eng)
	if len(wantChanges) < 87 {
		t.Fatalf("n1's journal has %d changes; want at least the 87 abandonments", len(wantChanges))
	}
	for name, eng := range engines {
		if got := journal(t, eng); !slices.Equal(got, wantChanges) {
			t.Fatalf("the journal of %s differs from n1's:\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(wantChanges, "\n"))
		}
	}

	// A node restarted at once starts from its own snapshot, as new as the
	// cluster's, and agrees.
	again := nodes[2]
	// The cluster may save a newer snapshot between the wait below and the
	// restart (its checkpoints are records too): the node then rightly
	// starts from the cluster's, of which it has no copy of its own, and
	// the test tries again after writes that make every node take a new
	// one. Each attempt first waits for the cluster's snapshots to settle.
	for attempt := 1; ; attempt++ {
		settleSnapshots(t, nodes[0])
		// Its snapshotter writes its own copy of each snapshot before it
		// pauses to save it to the cluster (where another node may be
		// first): wait for the copy of the cluster's newest.
		var local string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			seqs, _ := snapshotState(t, nodes[0])
			local = newestFile(t, again.snapDir)
			if len(seqs) > 0 && local >= fmt.Sprintf("snapshot-%020d.snap", seqs[len(seqs)-1]) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's newest own snapshot is %q; the cluster's are %v", again.name, local, seqs)
			}
		}
		var logs syncBuffer
		again.logger = slog.New(slog.NewTextHandler(&logs, nil))
		again.stop()
		again.startServer(t)
		if err := again.startEngine(t); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs.String(), "started from the node's own snapshot") {
			break
		}
		seqs, _ := snapshotState(t, nodes[0])
		if attempt == 3 || len(seqs) == 0 || fmt.Sprintf("snapshot-%020d.snap", seqs[len(seqs)-1]) <= local {
			t.Fatalf("the node did not start from its own snapshot %q (the cluster's are %v); its log:\n%s", local, seqs, logs.String())
		}
		t.Logf("attempt %d: the cluster saved snapshot %d after the node's own %q; again", attempt, seqs[len(seqs)-1], local)
		write(fmt.Sprintf("w%d", attempt), 12)
		waitFeed(t, nodes[0].eng, len(want)+12)
		want = feed(t, nodes[0].eng)
		waitFeed(t, again.eng, len(want))
		wantChanges = journal(t, nodes[0].eng)
	}
	if got := feed(t, again.eng); !slices.Equal(got, want) {
		t.Fatalf("feed of %s after a restart from its own snapshot differs", again.name)
	}
	if got := journal(t, again.eng); !slices.Equal(got, wantChanges) {
		t.Fatalf("journal of %s after a restart from its own snapshot differs", again.name)
	}
	write("v", 9) // checkpoints compared with the restarted node
	for _, nd := range nodes {
		if err := nd.eng.Health(ctx); err != nil {
			t.Fatalf("%s: %v", nd.name, err)
		}
	}
}

// TestClusterStartTrimmedPastSnapshot: the cluster saves snapshots and
// drops the records they cover while a new node, having loaded the
// snapshot it chose, has not read the records after it yet. The node
// starts again from a newer snapshot, and agrees with the others.
func TestClusterStartTrimmedPastSnapshot(t *testing.T) {
	nodes := newCluster(t, 3, func(nd *node) { nd.snapEvery = 10 })
	ctx := context.Background()
	written := 0
	write := func() {
		t.Helper()
		nd := nodes[written%3]
		if _, err := nd.eng.Apply(ctx, batch(fmt.Sprintf("s-%03d", written), time.Now())...); err != nil {
			t.Fatalf("Apply on %s: %v", nd.name, err)
		}
		written++
	}
	for range 25 {
		write()
	}
	settleSnapshots(t, nodes[0])

	l, err := cluster.OpenLog(ctx, nodes[0].nc, "shop", 3)
	if err != nil {
		t.Fatal(err)
	}
	reached := make(chan uint64, 1)
	goOn := make(chan struct{})
	release := sync.OnceFunc(func() { close(goOn) })
	t.Cleanup(release) // a test that fails below leaves no engine held
	held := &heldLog{Log: l, beforeFollow: func(from uint64) {
		reached <- from
		<-goOn
	}}
	var logs syncBuffer
	type opened struct {
		eng *basket.Engine
		err error
	}
	done := make(chan opened, 1)
	go func() {
		eng, err := basket.New(&basket.Options{Log: held, Alias: "shop", RecoverySecrets: [][]byte{btest.Secret},
			TickInterval: 100 * time.Millisecond, AbandonAfter: time.Second, CheckpointEvery: 4, LogSnapshotEvery: 10,
			ChangeRetention: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		done <- opened{eng, err}
	}()
	var from uint64
	select {
	case from = <-reached:
	case o := <-done:
		t.Fatalf("the new engine started without following the log: %v", o.err)
	case <-time.After(60 * time.Second):
		t.Fatal("the new engine did not follow the log in 60 s")
	}
	if from == 1 {
		t.Fatal("the new engine follows the log from its first record; want it to have loaded a snapshot")
	}
	// Write until the cluster has dropped the record the engine reads next.
	for deadline := time.Now().Add(60 * time.Second); ; {
		if _, first := snapshotState(t, nodes[0]); first > from {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream still holds record %d after %d writes", from, written)
		}
		write()
		time.Sleep(20 * time.Millisecond)
	}
	release()
	var o opened
	select {
	case o = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the new engine did not start in 60 s after the log was trimmed")
	}
	if o.err != nil {
		t.Fatalf("a new engine whose snapshot's next records were dropped: %v; its log:\n%s", o.err, logs.String())
	}
	defer o.eng.Close()
	if !strings.Contains(logs.String(), "starting again from a newer one") {
		t.Fatalf("the engine's log does not say it started again; its log:\n%s", logs.String())
	}
	waitFeed(t, nodes[0].eng, written)
	want := feed(t, nodes[0].eng)
	waitFeed(t, o.eng, len(want))
	if got := feed(t, o.eng); !slices.Equal(got, want) {
		t.Fatalf("feed of the new engine differs from n1's:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got, wantJ := journal(t, o.eng), journal(t, nodes[0].eng); !slices.Equal(got, wantJ) {
		t.Fatalf("the journal of the new engine differs from n1's:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantJ, "\n"))
	}
	for range 9 { // checkpoints compared with the new engine
		write()
	}
	waitFeed(t, o.eng, written)
	if err := o.eng.Health(ctx); err != nil {
		t.Fatalf("the new engine: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// journal returns an engine's whole change journal as seq:type:ids.
func journal(t *testing.T, eng *basket.Engine) []string {
	t.Helper()
	var out []string
	var after uint64
	for {
		p, err := eng.Changes(context.Background(), after, 100)
		if err != nil {
			t.Fatalf("Changes: %v", err)
		}
		for _, ch := range p.Items {
			out = append(out, fmt.Sprintf("%d:%s:%v", ch.Seq, ch.Type, ch.BasketIDs))
		}
		if len(p.Items) == 0 {
			return out
		}
		after = p.Next
	}
}

// TestSnapshotParts: a snapshot larger than a part is stored in parts and
// read back byte for byte; a snapshot dropped takes its parts with it.
func TestSnapshotParts(t *testing.T) {
	nodes := newCluster(t, 3)
	ctx := context.Background()
	l, err := cluster.OpenLog(ctx, nodes[0].nc, "parts", 3)
	if err != nil {
		t.Fatal(err)
	}
	payload := func(seq uint64) []byte {
		b := make([]byte, 1300<<10+int(seq%7))
		for i := range b {
			b[i] = byte(uint64(i)*31 + seq)
		}
		return b
	}
	for _, seq := range []uint64{1000, 2000, 3000} {
		p := payload(seq)
		if err := l.SaveSnapshot(ctx, seq, func(w io.Writer) error {
			// In pieces of odd sizes, as a snapshot's encoder writes.
			for len(p) > 0 {
				n := min(len(p), 70001)
				if _, err := w.Write(p[:n]); err != nil {
					return err
				}
				p = p[n:]
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	var got []byte
	seq, err := l.LoadSnapshot(ctx, func(seq uint64, r io.Reader) error {
		var err error
		got, err = io.ReadAll(r)
		return err
	})
	if err != nil || seq != 3000 || !bytes.Equal(got, payload(3000)) {
		t.Fatalf("LoadSnapshot = %d, %v, %d bytes (equal %v); want 3000 and its %d bytes", seq, err, len(got), bytes.Equal(got, payload(3000)), len(payload(3000)))
	}
	js, err := jetstream.New(nodes[0].nc)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.ObjectStore(ctx, cluster.SnapshotBucket("parts"))
	if err != nil {
		t.Fatal(err)
	}
	infos, err := obs.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, info := range infos {
		names = append(names, info.Name)
		if strings.Contains(info.Name, "00000000000000001000") {
			t.Errorf("%s is left of a dropped snapshot", info.Name)
		}
	}
	// Two snapshots of three parts each, and their manifests.
	if len(names) != 8 {
		t.Fatalf("the bucket holds %v; want two manifests and three parts of each", names)
	}
}

// newestFile returns the greatest name in dir ("" if none): snapshot
// files are named by their zero-padded record.
func newestFile(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	newest := ""
	for _, ent := range ents {
		if n := ent.Name(); strings.HasPrefix(n, "snapshot-") && strings.HasSuffix(n, ".snap") && n > newest {
			newest = n
		}
	}
	return newest
}
