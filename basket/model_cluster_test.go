package basket_test

import (
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// TestModelCluster is TestModel through a cluster of three nodes on real
// embedded NATS servers: each batch goes to the next node, and every node
// answers as the oracle does.
func TestModelCluster(t *testing.T) {
	n := 5 // each sequence founds a stream of its own: a few seconds each
	if testing.Short() {
		n = 2
	}
	srvs := btest.NATSCluster(t, 3)
	seeds := modelSeeds(t, n)
	mode := modelMode{nodes: func(t *testing.T, opts *basket.Options) []*basket.Engine {
		o := *opts
		o.TickInterval = 20 * time.Millisecond
		o.CheckpointEvery = 7 // the nodes compare their digests often
		return btest.ClusterEngines(t, srvs, &o)
	}}
	seen := map[string]int{}
	for _, seed := range seeds {
		if !runModel(t, seed, seen, mode) {
			t.Fatalf("replay with SEED=%d go test ./basket -run TestModelCluster", seed)
		}
	}
	t.Logf("outcomes over %d sequences: %v", len(seeds), seen)
}
