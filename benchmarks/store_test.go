package benchmarks

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// testSeed returns the seed of the randomized tests: SEED if set, else the
// clock. It is logged so that a failure can be replayed.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("SEED=%q: %v", s, err)
		}
	}
	t.Logf("SEED=%d", seed)
	return seed
}

// newStores returns one of each store, closed at the end of the test.
func newStores(t *testing.T) []Store {
	t.Helper()
	eng, err := NewEngineStore()
	if err != nil {
		t.Fatal(err)
	}
	bunt, err := NewBuntStore()
	if err != nil {
		t.Fatal(err)
	}
	lite, err := NewSQLiteStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stores := []Store{NewBTreeStore(), eng, bunt, lite}
	for _, s := range stores {
		closeAtEnd(t, s)
	}
	return append(stores, newServerStores(t)...)
}

// newServerStores returns one store of each server that the build tags
// add, each on a server of its own, stopped at the end of the test.
func newServerStores(t *testing.T) []Store {
	t.Helper()
	var stores []Store
	for _, name := range serverStoreNames() {
		s, err := serverStores[name]()
		if err != nil {
			t.Fatal(err)
		}
		closeAtEnd(t, s)
		stores = append(stores, s)
	}
	return stores
}

// closeAtEnd closes s when the test ends.
func closeAtEnd(t *testing.T, s Store) {
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("%s: Close() = %v", s.Name(), err)
		}
	})
}

// same reports whether a store returned the basket the oracle holds: its
// key and every field that the stores keep.
func same(got, want *basket.Basket) bool {
	return got.ID == want.ID && got.Created.Equal(want.Created) &&
		got.CustomerDetails == want.CustomerDetails && got.Entry == want.Entry &&
		reflect.DeepEqual(got.OrderItems, want.OrderItems) &&
		reflect.DeepEqual(got.Identities, want.Identities)
}

// ids lists the keys of bs[lo:hi], within bounds.
func ids(bs []basket.Basket, lo, hi int) string {
	lo, hi = max(0, lo), min(len(bs), hi)
	var sb strings.Builder
	for i := lo; i < hi; i++ {
		if i > lo {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%d/%s", bs[i].Created.UnixMilli(), bs[i].ID)
	}
	return sb.String()
}

func checkSame(t *testing.T, what string, got, want []basket.Basket) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if !same(&got[i], &want[i]) {
			t.Fatalf("%s[%d] = %+v; want %+v\n  got  ...%s...\n  want ...%s...", what, i, got[i], want[i],
				ids(got, i-2, i+3), ids(want, i-2, i+3))
		}
	}
	if len(got) != len(want) {
		n := min(len(got), len(want))
		t.Fatalf("%s = %d baskets; want %d; first difference at %d: got [%s], want [%s]",
			what, len(got), len(want), n, ids(got, n, n+3), ids(want, n, n+3))
	}
}

// pivots returns positions to page from: the start, existing keys, keys
// with only a created time (inside, before and after the population), and
// keys that sort between existing ones.
func pivots(rng *rand.Rand, pop []basket.Basket) []Key {
	out := []Key{{}, {Created: Epoch.UnixMilli() + 1}, {Created: Epoch.Add(-Spread).UnixMilli() - 1}}
	for range 10 {
		b := &pop[rng.IntN(len(pop))]
		k := KeyOf(b)
		out = append(out, k, Key{Created: k.Created}, Key{Created: k.Created, ID: k.ID + "0"}, Key{Created: k.Created, ID: "basket-"})
	}
	return out
}

// walk returns every basket of s, walked limit at a time.
func walk(t *testing.T, s Store, limit int) []basket.Basket {
	t.Helper()
	size, err := s.Len()
	if err != nil {
		t.Fatalf("%s: Len() = %v", s.Name(), err)
	}
	var all []basket.Basket
	n, err := Walk(s, limit, func(page []basket.Basket) {
		if len(page) == 0 || len(page) > limit {
			t.Fatalf("%s: Walk(limit %d) gave a page of %d", s.Name(), limit, len(page))
		}
		if all = append(all, page...); len(all) > size {
			// A store whose pages do not advance would walk forever.
			t.Fatalf("%s: Walk(limit %d) gave more than Len() = %d baskets; the last pages: ...%s", s.Name(), limit, size, ids(all, len(all)-2*limit, len(all)))
		}
	})
	if err != nil {
		t.Fatalf("%s: Walk(limit %d) = %v", s.Name(), limit, err)
	}
	if n != len(all) {
		t.Fatalf("%s: Walk(limit %d) = %d; saw %d", s.Name(), limit, n, len(all))
	}
	return all
}

// checkAgainst compares every page and walk of each store with the oracle.
func checkAgainst(t *testing.T, rng *rand.Rand, oracle *SliceStore, stores []Store, pop []basket.Basket) {
	t.Helper()
	wantLen, _ := oracle.Len()
	for _, s := range stores {
		if n, err := s.Len(); err != nil || n != wantLen {
			t.Fatalf("%s: Len() = %d, %v; want %d", s.Name(), n, err, wantLen)
		}
		for _, limit := range []int{7, 100} {
			checkSame(t, fmt.Sprintf("%s: Walk(limit %d)", s.Name(), limit), walk(t, s, limit), walk(t, oracle, limit))
		}
	}
	for _, k := range pivots(rng, pop) {
		for _, limit := range []int{1, 10, 37} {
			want, wantNext, _ := oracle.Page(Pos{Key: k}, limit)
			for _, s := range stores {
				pos, err := s.Seek(k)
				if err != nil {
					t.Fatalf("%s: Seek(%v) = %v", s.Name(), k, err)
				}
				got, next, err := s.Page(pos, limit)
				if err != nil {
					t.Fatalf("%s: Page(%v, %d) = %v", s.Name(), k, limit, err)
				}
				what := fmt.Sprintf("%s: Page(%v, %d)", s.Name(), k, limit)
				checkSame(t, what, got, want)
				if next.End != wantNext.End {
					t.Fatalf("%s end = %v; want %v", what, next.End, wantNext.End)
				}
				// The next page continues where the oracle's does.
				got2, _, err := s.Page(next, limit)
				if err != nil {
					t.Fatalf("%s: next page: %v", what, err)
				}
				want2, _, _ := oracle.Page(wantNext, limit)
				checkSame(t, what+" then next page", got2, want2)
			}
		}
	}
}

func TestStoresAgree(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		spread time.Duration
	}{
		{"spread", 2000, Spread},
		{"ties", 2000, 500 * time.Millisecond}, // many baskets per millisecond
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := testSeed(t)
			rng := rand.New(rand.NewPCG(seed, 1))
			g := NewGenerator(seed, "", tc.spread)
			pop := make([]basket.Basket, tc.n)
			for i := range pop {
				pop[i] = g.Next()
			}
			oracle := NewSliceStore()
			stores := newStores(t)
			for _, s := range append([]Store{oracle}, stores...) {
				if err := s.Load(pop); err != nil {
					t.Fatalf("%s: Load() = %v", s.Name(), err)
				}
			}
			checkAgainst(t, rng, oracle, stores, pop)

			// Ingest one basket at a time, then take it out again.
			ing := NewGenerator(seed+1, "ingest", tc.spread)
			added := make([]*basket.Basket, 150)
			for i := range added {
				b := ing.Next()
				added[i] = &b
				for _, s := range append([]Store{oracle}, stores...) {
					if err := s.Insert(added[i]); err != nil {
						t.Fatalf("%s: Insert(%s) = %v", s.Name(), b.ID, err)
					}
				}
			}
			for _, s := range stores {
				if err := s.Flush(); err != nil {
					t.Fatalf("%s: Flush() = %v", s.Name(), err)
				}
			}
			if n, _ := oracle.Len(); n != tc.n+len(added) {
				t.Fatalf("oracle Len() = %d after inserts; want %d", n, tc.n+len(added))
			}
			checkAgainst(t, rng, oracle, stores, pop)
			for _, s := range append([]Store{oracle}, stores...) {
				if err := s.Remove(added); err != nil {
					t.Fatalf("%s: Remove() = %v", s.Name(), err)
				}
			}
			if n, _ := oracle.Len(); n != tc.n {
				t.Fatalf("oracle Len() = %d after removal; want %d", n, tc.n)
			}
			checkAgainst(t, rng, oracle, stores, pop)
		})
	}
}

func TestSQLitePlanUsesPartialIndex(t *testing.T) {
	s, err := NewSQLiteStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Load(Population(100, 1)); err != nil {
		t.Fatal(err)
	}
	plan, err := s.QueryPlan()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "; ")
	if !strings.Contains(text, "baskets_abandoned") || strings.Contains(text, "TEMP B-TREE") {
		t.Errorf("QueryPlan() = %q; want a search of baskets_abandoned with no sort", text)
	}
}

func TestSortKeyOrder(t *testing.T) {
	keys := []Key{{}, {0, "a"}, {1, ""}, {1, "a"}, {1, "a-b"}, {1, "ab"}, {1, "b"}, {9, "a"}, {10, ""}, {1711468294975, "basket-1"}, {1711468294976, "basket-0"}}
	for i := range keys {
		for j := range keys {
			want := keys[i].Compare(keys[j])
			got := strings.Compare(sortKey(keys[i]), sortKey(keys[j]))
			if got != want {
				t.Errorf("sortKey(%v) vs sortKey(%v) = %d; want %d", keys[i], keys[j], got, want)
			}
			if buntLess(buntValueAt+sortKey(keys[i])+`"`, buntValueAt+sortKey(keys[j])+`",`) != (want < 0) {
				t.Errorf("buntLess(%v, %v) != %v", keys[i], keys[j], want < 0)
			}
		}
	}
}
