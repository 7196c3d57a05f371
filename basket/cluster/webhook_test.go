package cluster_test

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/basketlab/abandoned/basket/cluster"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// testLease is a short lease, so that the tests take seconds.
var testLease = cluster.LeaseOptions{TTL: 2 * time.Second, Renew: 250 * time.Millisecond, Margin: 700 * time.Millisecond, Poll: 100 * time.Millisecond}

// webhookNodes connects to each server and opens the webhooks' store and
// lease of alias there.
func webhookNodes(t *testing.T, srvs []*cluster.Server, alias string) ([]*nats.Conn, []*cluster.WebhookStore, []*cluster.WebhookLease) {
	t.Helper()
	var ncs []*nats.Conn
	var stores []*cluster.WebhookStore
	var leases []*cluster.WebhookLease
	for i, s := range srvs {
		nc, err := s.Connect()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		l, err := cluster.OpenLog(ctx, nc, alias, len(srvs))
		if err != nil {
			cancel()
			t.Fatalf("node %d: OpenLog: %v", i+1, err)
		}
		o := testLease
		o.Holder = "n" + string(rune('1'+i))
		st, le, err := l.Webhooks(ctx, alias, &o)
		cancel()
		if err != nil {
			t.Fatalf("node %d: Webhooks: %v", i+1, err)
		}
		ncs, stores, leases = append(ncs, nc), append(stores, st), append(leases, le)
	}
	return ncs, stores, leases
}

// span is a time one node held the lease.
type span struct {
	node       int
	start, end time.Time
}

// TestWebhookLeaseExclusive: three nodes take the lease in turn, each
// holding it for a random while and giving it up; no two spans overlap.
func TestWebhookLeaseExclusive(t *testing.T) {
	srvs := btest.NATSCluster(t, 3)
	_, _, leases := webhookNodes(t, srvs, "shop")
	seed := rand.Uint64()
	t.Logf("SEED=%d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	var mu sync.Mutex
	var spans []span
	var wg sync.WaitGroup
	for i, le := range leases {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		wg.Go(func() {
			for ctx.Err() == nil {
				held, release, err := le.Acquire(ctx)
				if err != nil {
					return
				}
				s := span{node: i, start: time.Now()}
				select {
				case <-held.Done():
				case <-time.After(time.Duration(rng.IntN(400)) * time.Millisecond):
				}
				s.end = time.Now()
				release()
				mu.Lock()
				spans = append(spans, s)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	checkSpans(t, spans)
	nodes := map[int]bool{}
	for _, s := range spans {
		nodes[s.node] = true
	}
	if len(spans) < 3 || len(nodes) < 2 {
		t.Fatalf("%d spans on %d nodes; want the lease to change hands", len(spans), len(nodes))
	}
}

// checkSpans fails the test if two spans overlap.
func checkSpans(t *testing.T, spans []span) {
	t.Helper()
	sort.Slice(spans, func(i, j int) bool { return spans[i].start.Before(spans[j].start) })
	for i := 1; i < len(spans); i++ {
		if spans[i].start.Before(spans[i-1].end) {
			t.Fatalf("node %d held the lease from %v while node %d held it until %v", spans[i].node+1,
				spans[i].start.Format("15:04:05.000"), spans[i-1].node+1, spans[i-1].end.Format("15:04:05.000"))
		}
	}
}

// TestWebhookLeaseTakeover: the holder's NATS server dies; the holder
// stops before another node takes the lease, which one does within
// seconds.
func TestWebhookLeaseTakeover(t *testing.T) {
	srvs := btest.NATSCluster(t, 3)
	_, _, leases := webhookNodes(t, srvs, "shop")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	held, release, err := leases[0].Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	took := make(chan span, 2)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, i := range []int{1, 2} {
		wg.Go(func() {
			h, r, err := leases[i].Acquire(ctx)
			if err != nil {
				return
			}
			took <- span{node: i, start: time.Now()}
			<-h.Done() // held until the test ends
			r()
		})
	}
	// Held for a few renewals, then the holder's server goes.
	time.Sleep(4 * testLease.Renew)
	if held.Err() != nil {
		t.Fatalf("the lease was lost while its holder's server ran: %v", held.Err())
	}
	select {
	case s := <-took:
		t.Fatalf("node %d took the lease while node 1 held it", s.node+1)
	default:
	}
	killed := time.Now()
	srvs[0].Shutdown()
	<-held.Done()
	stopped := time.Now()
	var s span
	select {
	case s = <-took:
	case <-time.After(30 * time.Second):
		t.Fatal("no node took the lease in 30 s")
	}
	if !stopped.Before(s.start) {
		t.Fatalf("the old holder stopped at %v, after node %d started at %v", stopped, s.node+1, s.start)
	}
	t.Logf("the old holder stopped %v after its server died; node %d took over %v after it",
		stopped.Sub(killed).Round(time.Millisecond), s.node+1, s.start.Sub(killed).Round(time.Millisecond))
	// The other node does not take it too.
	select {
	case s2 := <-took:
		t.Fatalf("node %d took the lease too, while node %d held it", s2.node+1, s.node+1)
	case <-time.After(2 * testLease.TTL):
	}
}

// TestWebhookStore: what one node saves, another loads.
func TestWebhookStore(t *testing.T) {
	srvs := btest.NATSCluster(t, 3)
	_, stores, _ := webhookNodes(t, srvs, "shop")
	_, others, _ := webhookNodes(t, srvs, "other")
	ctx := context.Background()
	if v, err := stores[1].Load(ctx, "wh_1"); err != nil || v != nil {
		t.Fatalf("Load of nothing = %q, %v; want nil, nil", v, err)
	}
	if err := stores[0].Save(ctx, "wh_1", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if v, err := stores[2].Load(ctx, "wh_1"); err != nil || string(v) != `{"v":1}` {
		t.Fatalf("Load on another node = %q, %v; want what was saved", v, err)
	}
	if v, err := others[0].Load(ctx, "wh_1"); err != nil || v != nil {
		t.Fatalf("Load in another environment = %q, %v; want nothing", v, err)
	}
}
