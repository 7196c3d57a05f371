package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/cluster"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// node is one node of a test cluster: an embedded NATS server and an engine
// on the stream.
type node struct {
	name   string
	dir    string
	listen string
	route  string
	peers  []string
	srv    *cluster.Server
	nc     *nats.Conn
	eng    *basket.Engine
	// snapEvery is the engine's LogSnapshotEvery (0: the default);
	// snapDir its SnapshotDir; logger its Logger (nil: none).
	snapEvery uint64
	snapDir   string
	logger    *slog.Logger
}

// newCluster starts n nodes, each with its server, and an engine on each.
// Route ports are chosen free beforehand; if another test takes one in
// between, the cluster is started again on others.
func newCluster(t *testing.T, n int, configure ...func(*node)) []*node {
	t.Helper()
	var nodes []*node
	for attempt := 0; ; attempt++ {
		var err error
		if nodes, err = tryCluster(t, n); err == nil {
			break
		} else if attempt == 2 {
			t.Fatal(err)
		}
	}
	for _, nd := range nodes {
		for _, c := range configure {
			c(nd)
		}
	}
	// Engines start together: each waits for the JetStream cluster.
	errs := make(chan error, n)
	for _, nd := range nodes {
		go func() { errs <- nd.startEngine(t) }()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

func tryCluster(t *testing.T, n int) ([]*node, error) {
	routes := btest.FreeAddrs(t, n)
	nodes := make([]*node, n)
	for i := range nodes {
		// Clients connect in process: any free client port will do.
		nd := &node{name: "n" + strconv.Itoa(i+1), dir: t.TempDir(), listen: "127.0.0.1:0", route: routes[i]}
		for j, r := range routes {
			if j != i {
				nd.peers = append(nd.peers, r)
			}
		}
		nodes[i] = nd
	}
	for _, nd := range nodes {
		if err := nd.tryServer(); err != nil {
			for _, nd := range nodes {
				nd.stop()
			}
			return nil, err
		}
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.stop()
		}
	})
	return nodes, nil
}

func (nd *node) tryServer() error {
	srv, err := cluster.StartServer(cluster.ServerOptions{Name: nd.name, Listen: nd.listen, Cluster: nd.route, Peers: nd.peers, Dir: nd.dir})
	if err != nil {
		return fmt.Errorf("%s: %w", nd.name, err)
	}
	nd.srv = srv
	return nil
}

func (nd *node) startServer(t *testing.T) {
	t.Helper()
	if err := nd.tryServer(); err != nil {
		t.Fatal(err)
	}
}

func (nd *node) startEngine(t *testing.T) error {
	nc, err := nd.srv.Connect()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := cluster.OpenLog(ctx, nc, "shop", 3)
	if err != nil {
		nc.Close()
		return fmt.Errorf("%s: %w", nd.name, err)
	}
	eng, err := basket.New(&basket.Options{Log: l, Alias: "shop", RecoverySecrets: [][]byte{btest.Secret},
		TickInterval: 100 * time.Millisecond, AbandonAfter: time.Second, CheckpointEvery: 4, LogSnapshotEvery: nd.snapEvery,
		ChangeRetention: time.Hour, SnapshotDir: nd.snapDir, Logger: nd.logger})
	if err != nil {
		nc.Close()
		return fmt.Errorf("%s: %w", nd.name, err)
	}
	nd.nc, nd.eng = nc, eng
	return nil
}

func (nd *node) stop() {
	if nd.eng != nil {
		nd.eng.Close()
		nd.eng = nil
	}
	if nd.nc != nil {
		nd.nc.Close()
		nd.nc = nil
	}
	if nd.srv != nil {
		nd.srv.Shutdown()
		nd.srv = nil
	}
}

func batch(id string, at time.Time) []basket.Event {
	return []basket.Event{
		{Type: basket.EventCreated, BasketID: id, At: at, Entry: "/checkout",
			OrderItems: []basket.OrderItem{{Name: "Digital", Path: "/offers/digital"}}},
		{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: id + "@example.com"},
	}
}

// feed returns a node's whole feed as id@position.
func feed(t *testing.T, eng *basket.Engine) []string {
	t.Helper()
	var out []string
	var after uint64
	for {
		p, err := eng.Feed(context.Background(), after, 100)
		if err != nil {
			t.Fatalf("Feed: %v", err)
		}
		for _, b := range p.Items {
			out = append(out, fmt.Sprintf("%s@%d@%s", b.ID, b.FeedPosition, b.RecoveryLink))
		}
		if len(p.Items) == 0 {
			return out
		}
		after = p.Next
	}
}

// waitFeed waits until the engine's feed holds n baskets: time-based changes
// come with the log's ticks.
func waitFeed(t *testing.T, eng *basket.Engine, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if len(feed(t, eng)) >= n {
			return
		}
	}
	t.Fatalf("the feed did not reach %d baskets in 30 s: %v", n, feed(t, eng))
}

// TestClusterReadYourWrites: a write through any node is seen at once by a
// read on any other, and every node derives the same feed, positions and
// links; a cursor from one node continues on another.
func TestClusterReadYourWrites(t *testing.T) {
	nodes := newCluster(t, 3)
	ctx := context.Background()
	for i := range 12 {
		nd := nodes[i%3]
		id := fmt.Sprintf("b-%02d", i)
		if _, err := nd.eng.Apply(ctx, batch(id, time.Now())...); err != nil {
			t.Fatalf("Apply on %s: %v", nd.name, err)
		}
		reader := nodes[(i+1)%3]
		if _, err := reader.eng.Get(ctx, id); err != nil {
			t.Fatalf("Get(%s) on %s right after the write on %s: %v", id, reader.name, nd.name, err)
		}
	}
	// A refused batch is refused on its node, and changes nothing anywhere.
	if _, err := nodes[1].eng.Apply(ctx, basket.Event{Type: basket.EventItemsChanged, BasketID: "nope", At: time.Now()}); err == nil {
		t.Fatal("an event for an unknown basket was accepted")
	}
	waitFeed(t, nodes[0].eng, 12) // past AbandonAfter, ticks make them abandoned
	var want []string
	for _, nd := range nodes {
		got := feed(t, nd.eng)
		if len(got) != 12 {
			t.Fatalf("feed of %s has %d baskets; want 12: %v", nd.name, len(got), got)
		}
		if want == nil {
			want = got
		} else if !slices.Equal(got, want) {
			t.Fatalf("feed of %s = %v; want %v as on n1", nd.name, got, want)
		}
	}
	p, err := nodes[0].eng.Abandoned(ctx, basket.Query{Limit: 5})
	if err != nil || p.Cursor == "" {
		t.Fatalf("Abandoned on n1 = %+v, %v", p, err)
	}
	p2, err := nodes[2].eng.Abandoned(ctx, basket.Query{Cursor: p.Cursor, Limit: 5})
	if err != nil || len(p2.Items) != 5 || p2.Items[0].ID != "b-05" || p2.Cursor == "" {
		t.Fatalf("the cursor of n1 on n3 gave %d items from %v, %v; want 5 from b-05", len(p2.Items), p2.Items[0].ID, err)
	}
}

// TestClusterLeaderLost: with the stream's leader's node shut down, the
// others go on taking writes; the node, restarted, catches up, and every
// node ends with the same feed.
func TestClusterLeaderLost(t *testing.T) {
	nodes := newCluster(t, 3)
	ctx := context.Background()
	for i := range 5 {
		if _, err := nodes[0].eng.Apply(ctx, batch(fmt.Sprintf("a-%d", i), time.Now())...); err != nil {
			t.Fatal(err)
		}
	}
	js, err := jetstream.New(nodes[0].nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, cluster.StreamName("shop"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(nodes, func(nd *node) bool { return nd.name == info.Cluster.Leader })
	if i < 0 {
		t.Fatalf("the stream's leader %q is none of the nodes", info.Cluster.Leader)
	}
	lost := nodes[i]
	lost.stop()
	other := nodes[(i+1)%3]
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := other.eng.Apply(wctx, batch("after-loss", time.Now())...); err != nil {
		t.Fatalf("Apply on %s with the leader %s gone: %v", other.name, lost.name, err)
	}
	t.Logf("first write after the leader's loss acknowledged in %v", time.Since(start))
	for j := range 5 {
		if _, err := other.eng.Apply(ctx, batch(fmt.Sprintf("c-%d", j), time.Now())...); err != nil {
			t.Fatal(err)
		}
	}
	lost.startServer(t)
	if err := lost.startEngine(t); err != nil {
		t.Fatal(err)
	}
	if _, err := lost.eng.Get(ctx, "c-4"); err != nil {
		t.Fatalf("the restarted node misses a write made while it was down: %v", err)
	}
	waitFeed(t, nodes[0].eng, 11)
	want := feed(t, nodes[0].eng)
	if len(want) != 11 {
		t.Fatalf("feed has %d baskets; want 11", len(want))
	}
	for _, nd := range nodes[1:] {
		if got := feed(t, nd.eng); !slices.Equal(got, want) {
			t.Fatalf("feed of %s = %v; want %v", nd.name, got, want)
		}
	}
}

// TestClusterRefusesStrangers: a node whose recovery secret or settings
// differ from those the cluster's log was founded with refuses to start,
// saying so.
func TestClusterRefusesStrangers(t *testing.T) {
	nodes := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := cluster.OpenLog(ctx, nodes[0].nc, "shop", 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		opts basket.Options
		want string
	}{
		{"another secret", basket.Options{RecoverySecrets: [][]byte{[]byte("another-secret-0123456789abcdef")}, AbandonAfter: time.Second}, "-recovery-secret"},
		{"other settings", basket.Options{RecoverySecrets: [][]byte{btest.Secret}, AbandonAfter: time.Hour}, "settings"},
	} {
		o := tt.opts
		o.Log, o.Alias = l, "shop"
		eng, err := basket.New(&o)
		if err == nil {
			eng.Close()
			t.Errorf("%s: New = nil; want it refused", tt.name)
			continue
		}
		if !errors.Is(err, basket.ErrDiverged) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v; want ErrDiverged naming %s", tt.name, err, tt.want)
		}
	}
	// The cluster serves on.
	if _, err := nodes[1].eng.Apply(ctx, batch("still", time.Now())...); err != nil {
		t.Fatal(err)
	}
}

// TestClusterCheckpoints: nodes compare their states' digests at
// checkpoints (every 4 records here) and agree; a checkpoint that names
// another digest (what a node whose state went astray would log) stops the
// nodes it contradicts from serving, saying why.
func TestClusterCheckpoints(t *testing.T) {
	nodes := newCluster(t, 3)
	ctx := context.Background()
	for i := range 20 {
		if _, err := nodes[i%3].eng.Apply(ctx, batch(fmt.Sprintf("k-%02d", i), time.Now())...); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range nodes {
		if err := nd.eng.Health(ctx); err != nil {
			t.Fatalf("%s after 20 batches and their checkpoints: %v", nd.name, err)
		}
	}
	l, err := cluster.OpenLog(ctx, nodes[0].nc, "shop", 3)
	if err != nil {
		t.Fatal(err)
	}
	// A checkpoint of record 8 with a wrong digest, in the log's record
	// layout: [now, events, revoke, seq, settings, epoch, id, identity,
	// checkpoint, digest].
	bogus, err := msgpack.Marshal([]any{0, nil, "", 0, nil, 0, "bogus", nil, 8, uint64(12345)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, "bogus-checkpoint", bogus); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		var herr error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if herr = nd.eng.Health(ctx); herr != nil {
				break
			}
		}
		if !errors.Is(herr, basket.ErrDiverged) || !strings.Contains(herr.Error(), "digest") {
			t.Errorf("%s after a contradicting checkpoint: Health = %v; want ErrDiverged naming the digest", nd.name, herr)
		}
		if _, err := nd.eng.Get(ctx, "k-00"); !errors.Is(err, basket.ErrDiverged) {
			t.Errorf("%s: Get after divergence = %v; want ErrDiverged", nd.name, err)
		}
	}
}
