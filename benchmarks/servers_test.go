//go:build postgres || redis

package benchmarks

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// serverStore is a store on a server that a test or benchmark started:
// Close closes the store, then stops the server.
type serverStore struct {
	Store
	stop func() error
}

// Close closes the store and stops its server.
func (s serverStore) Close() error { return errors.Join(s.Store.Close(), s.stop()) }

// TestServerStoresOrderTiesByByte holds the servers' stores to the order
// of ids within one millisecond that Key.Compare defines, byte by byte:
// neither a server's locale (PostgreSQL's collation, the strcoll behind
// Lua's < in Redis) nor case decides it.
func TestServerStoresOrderTiesByByte(t *testing.T) {
	ids := []string{"B", "Z", "a", "a-b", "a0", "aB", "ab", "aé", "az", "é", "z", "~", "ß"}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	g := NewGenerator(seed, "ties", Spread)
	created := Epoch.Add(-time.Hour)
	var pop []basket.Basket
	for i, id := range ids {
		b := g.Next()
		b.ID, b.Created = "basket-"+id, created
		if i%3 == 0 { // and some in the milliseconds around
			b.Created = created.Add(time.Duration(i%2*2-1) * time.Millisecond)
		}
		pop = append(pop, b)
	}
	oracle := NewSliceStore()
	stores := newServerStores(t)
	for _, s := range append([]Store{oracle}, stores...) {
		if err := s.Load(pop); err != nil {
			t.Fatalf("%s: Load() = %v", s.Name(), err)
		}
	}
	checkAgainst(t, rng, oracle, stores, pop)
}
