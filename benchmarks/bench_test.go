package benchmarks

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// The benchmarks run every store over the same population, built once per
// size and loaded once per store, so that one go test -bench run compares
// them side by side:
//
//	go -C benchmarks test . -run '^$' -bench . -benchmem
//
// ABANDONED_BENCH_LARGE=1 adds SQLite at 1e6 (its load took about two
// minutes on a shared 2-core machine) and populations of 1e7 for every store;
// a -bench pattern such as '/n=1e[56]/' keeps it to 1e5 and 1e6. The build
// tags postgres and redis add those stores at every size, each on a server
// that the first benchmark to use it starts and TestMain stops.

// large reports whether ABANDONED_BENCH_LARGE asks for the large runs.
var large = os.Getenv("ABANDONED_BENCH_LARGE") != ""

func benchSizes() []int {
	if large {
		return []int{1e5, 1e6, 1e7}
	}
	return []int{1e5, 1e6}
}

func sizeName(n int) string {
	switch n {
	case 1e5:
		return "1e5"
	case 1e6:
		return "1e6"
	case 1e7:
		return "1e7"
	}
	return fmt.Sprint(n)
}

// storeNames are the stores in the order the benchmarks run them; the floor
// first, so that benchstat -col /store compares each with it. The build
// tags postgres and redis add theirs before slice.
var storeNames = []string{"btree", "engine", "buntdb", "sqlite", "slice"}

// serverStores open, by name, the stores of database servers that the
// tests and benchmarks start themselves (the build tags postgres and redis
// add them with addServerStore). Closing such a store stops its server.
var serverStores = map[string]func() (Store, error){}

// addServerStore registers the store of a database server.
func addServerStore(name string, open func() (Store, error)) {
	serverStores[name] = open
	storeNames = slices.Insert(storeNames, slices.Index(storeNames, "slice"), name)
}

// serverStoreNames returns the names of the registered server stores, in
// the order the benchmarks run them.
func serverStoreNames() []string {
	return slices.DeleteFunc(slices.Clone(storeNames), func(s string) bool { return serverStores[s] == nil })
}

// storesFor returns the stores that run at population n: loading SQLite
// with 1e6 baskets or more takes minutes, so it runs only when large.
func storesFor(n int) []string {
	if n >= 1e6 && !large {
		return slices.DeleteFunc(slices.Clone(storeNames), func(s string) bool { return s == "sqlite" })
	}
	return storeNames
}

// benchTemp is the directory of the benchmarks' SQLite files, made on
// first use and removed by TestMain.
var (
	benchTempOnce sync.Once
	benchTemp     string
	benchTempErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	// Close what the benchmarks loaded: the servers' stores stop their
	// servers.
	for _, f := range fixtures {
		for name, l := range f.stores {
			if l.store == nil {
				continue
			}
			if err := l.store.Close(); err != nil {
				fmt.Fprintf(os.Stderr, "n=%s: %s: Close() = %v\n", sizeName(f.n), name, err)
				code = 1
			}
		}
	}
	if benchTemp != "" {
		os.RemoveAll(benchTemp)
	}
	os.Exit(code)
}

func newStore(name string) (Store, error) {
	switch name {
	case "btree":
		return NewBTreeStore(), nil
	case "engine":
		return NewEngineStore()
	case "buntdb":
		return NewBuntStore()
	case "sqlite":
		benchTempOnce.Do(func() { benchTemp, benchTempErr = os.MkdirTemp("", "abandoned-bench-") })
		if benchTempErr != nil {
			return nil, benchTempErr
		}
		dir, err := os.MkdirTemp(benchTemp, "sqlite-")
		if err != nil {
			return nil, err
		}
		return NewSQLiteStore(dir)
	case "slice":
		return NewSliceStore(), nil
	}
	if open := serverStores[name]; open != nil {
		return open()
	}
	return nil, fmt.Errorf("no store %q", name)
}

// fixture is a population and the stores loaded with it.
type fixture struct {
	n      int
	once   sync.Once
	pop    []basket.Basket
	pivots []Key // random keys of the population

	mu     sync.Mutex // guards stores
	stores map[string]*loaded
}

// loaded is a store loaded with a fixture's population, and the pivots
// sought in it.
type loaded struct {
	once  sync.Once
	store Store
	pos   []Pos
	err   error
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[int]*fixture{}
)

func getFixture(n int) *fixture {
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	f := fixtures[n]
	if f == nil {
		f = &fixture{n: n, stores: map[string]*loaded{}}
		fixtures[n] = f
	}
	f.once.Do(func() {
		f.pop = Population(n, uint64(n))
		rng := rand.New(rand.NewPCG(uint64(n), 2))
		f.pivots = make([]Key, 1<<10)
		for i := range f.pivots {
			f.pivots[i] = KeyOf(&f.pop[rng.IntN(n)])
		}
	})
	return f
}

// store returns the named store loaded with the population, loading it on
// first use, and the pivots sought in it.
func (f *fixture) store(b *testing.B, name string) (Store, []Pos) {
	b.Helper()
	f.mu.Lock()
	l := f.stores[name]
	if l == nil {
		l = &loaded{}
		f.stores[name] = l
	}
	f.mu.Unlock()
	l.once.Do(func() {
		start := time.Now()
		if l.store, l.err = newStore(name); l.err != nil {
			return
		}
		if l.err = l.store.Load(f.pop); l.err != nil {
			return
		}
		if n, err := l.store.Len(); err != nil || n != f.n {
			l.err = fmt.Errorf("%s: Len() = %d, %v after loading %d", name, n, err, f.n)
			return
		}
		l.pos = make([]Pos, len(f.pivots))
		for i, k := range f.pivots {
			if l.pos[i], l.err = l.store.Seek(k); l.err != nil {
				return
			}
		}
		b.Logf("loaded %d baskets into %s in %v", f.n, name, time.Since(start).Round(time.Millisecond))
	})
	if l.err != nil {
		b.Fatal(l.err)
	}
	return l.store, l.pos
}

var benchSink []basket.Basket

// BenchmarkPage measures one page of materialised baskets after a random
// (created, id) position of the population.
func BenchmarkPage(b *testing.B) {
	for _, n := range benchSizes() {
		for _, limit := range []int{10, 100} {
			for _, name := range storesFor(n) {
				b.Run(fmt.Sprintf("n=%s/limit=%d/store=%s", sizeName(n), limit, name), func(b *testing.B) {
					s, pos := getFixture(n).store(b, name)
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						page, _, err := s.Page(pos[i%len(pos)], limit)
						if err != nil {
							b.Fatal(err)
						}
						benchSink = page
					}
				})
			}
		}
	}
}

// BenchmarkReaders measures pages of 10 read by GOMAXPROCS goroutines at
// once, each from positions of its own drawn at random. Run with -cpu 1,2:
// a store's ns/op at 2 against 1 says how its reads scale, and the floor's,
// measured in the same run, what the machine allows (two cores that share
// a cache and a memory bus do not make twice the pages of one). It runs
// the floor and the engine, the two stores whose Page may be called from
// many goroutines at once (the others' statements and buffers are not
// shared so):
//
//	go -C benchmarks test . -run '^$' -bench 'Readers/n=1e6/' -cpu 1,2 -count 4
func BenchmarkReaders(b *testing.B) {
	const limit = 10
	for _, n := range benchSizes() {
		for _, name := range []string{"btree", "engine"} {
			b.Run(fmt.Sprintf("n=%s/store=%s", sizeName(n), name), func(b *testing.B) {
				s, pos := getFixture(n).store(b, name)
				var seq atomic.Uint64
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					rng := rand.New(rand.NewPCG(seq.Add(1), 5))
					for pb.Next() {
						page, _, err := s.Page(pos[rng.IntN(len(pos))], limit)
						if err != nil {
							b.Error(err)
							return
						}
						if len(page) > limit {
							b.Errorf("a page of %d baskets; want at most %d", len(page), limit)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkWalk measures a full walk of the population, pages of 100
// continued from the last, and reports the cost per basket.
func BenchmarkWalk(b *testing.B) {
	const limit = 100
	for _, n := range benchSizes() {
		for _, name := range storesFor(n) {
			b.Run(fmt.Sprintf("n=%s/limit=%d/store=%s", sizeName(n), limit, name), func(b *testing.B) {
				s, _ := getFixture(n).store(b, name)
				items := 0
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					got, err := Walk(s, limit, nil)
					if err != nil {
						b.Fatal(err)
					}
					if got != n {
						b.Fatalf("Walk(%s) = %d baskets; want %d", name, got, n)
					}
					items += got
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(items), "ns/item")
			})
		}
	}
}

// ingestSeq numbers ingest runs, so that each inserts baskets (ids and
// emails) never seen before: the engine refuses to re-create an erased id.
var ingestSeq atomic.Uint64

// BenchmarkIngest measures inserting one new basket into the population
// (random created time; SQLite commits every 1,000). The baskets are made
// with the timer stopped and removed again after the run.
func BenchmarkIngest(b *testing.B) {
	for _, n := range benchSizes() {
		for _, name := range storesFor(n) {
			b.Run(fmt.Sprintf("n=%s/store=%s", sizeName(n), name), func(b *testing.B) {
				s, _ := getFixture(n).store(b, name)
				seq := ingestSeq.Add(1)
				g := NewGenerator(seq<<32|uint64(n), fmt.Sprintf("ingest%d-", seq), Spread)
				const chunk = 1 << 12
				var fresh []basket.Basket
				added := make([]*basket.Basket, 0, b.N)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if i%chunk == 0 {
						b.StopTimer()
						fresh = make([]basket.Basket, min(chunk, b.N-i))
						for j := range fresh {
							fresh[j] = g.Next()
						}
						b.StartTimer()
					}
					bk := &fresh[i%chunk]
					if err := s.Insert(bk); err != nil {
						b.Fatal(err)
					}
					added = append(added, bk)
				}
				if err := s.Flush(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := s.Remove(added); err != nil {
					b.Fatal(err)
				}
				if got, err := s.Len(); err != nil || got != n {
					b.Fatalf("%s: Len() = %d, %v after removing the ingested; want %d", name, got, err, n)
				}
			})
		}
	}
}
