package webhook_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/cluster"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/webhook"
)

// TestClusterTakeover: three nodes of a cluster, each with a deliverer on
// the cluster's lease and state; one delivers. Its node dies while changes
// come; another takes over and goes on from the checkpoint in key-value:
// the receiver gets every change, in order, repeats only of the event in
// flight, with the same id.
func TestClusterTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three NATS servers; -short skips it")
	}
	srvs := btest.NATSCluster(t, 3)
	engs := btest.ClusterEngines(t, srvs, &basket.Options{Alias: "shop", ChangeRetention: basket.DefaultChangeRetention,
		RecoverySecrets: [][]byte{btest.Secret}})
	rc := newReceiver(t, func(n int) action {
		if n%9 == 4 {
			return answer500
		}
		return answer200
	})
	ep := endpointAt(rc.url())
	ds := make([]*webhook.Deliverer, len(srvs))
	for i, s := range srvs {
		nc, err := s.Connect()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		l, err := cluster.OpenLog(ctx, nc, "shop", len(srvs))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		st, le, err := l.Webhooks(ctx, "shop", &cluster.LeaseOptions{TTL: 2 * time.Second, Poll: 100 * time.Millisecond})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		ds[i] = start(t, engs[i], nil, webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true,
			Store: st, Lease: le, Retry: webhook.Retry{First: 10 * time.Millisecond, Max: 50 * time.Millisecond}})
	}
	holder := waitHolder(t, ds, -1)
	other := (holder + 1) % len(engs)
	at := time.Now()
	for i := range 5 {
		abandon(t, engs[other], at, fmt.Sprintf("a-%d", i))
	}
	rc.waitFor("some deliveries", func(evs []received) bool { return countDistinct(evs) >= 3 })

	// The holder's node dies (its NATS server, so its lease lapses
	// rather than being given up); changes go on coming on the others.
	srvs[holder].Shutdown()
	for i := range 10 {
		abandon(t, engs[other], at, fmt.Sprintf("b-%d", i))
	}
	next := waitHolder(t, ds, holder)
	ds[holder].Close()
	t.Logf("node %d died; node %d delivers", holder+1, next+1)
	want := journal(t, engs[other])
	got := rc.waitFor("every change", func(evs []received) bool { return countDistinct(evs) == len(want) })
	checkOrder(t, got, want, ep.ID())
	if len(want) != 15 {
		t.Errorf("%d changes; want 15 abandonments", len(want))
	}
}

// waitHolder waits until a deliverer other than not delivers, and returns
// its index.
func waitHolder(t *testing.T, ds []*webhook.Deliverer, not int) int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for i, d := range ds {
			if i == not {
				continue
			}
			sts, err := d.Endpoints("")
			if err == nil && sts[0].Delivering && sts[0].Status == webhook.StatusActive {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no node delivers")
	return -1
}
