package basket_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

// The micro-benchmarks run over populations of abandoned baskets that look
// like a news publisher's checkout: one offer of a small catalogue, one SSO
// identity and an email each, created over 14 days. A population is built
// once per size and shared by the benchmarks that only read it.
//
//	go test ./basket -run '^$' -bench . -benchmem
//	ABANDONED_BENCH_LARGE=1 go test ./basket -run '^$' -bench 'Count|BytesPerBasket' -timeout 1h
//
// ABANDONED_BENCH_LARGE=1 adds populations of 1e7 (about 5 GiB of heap).

// benchEnd is the engines' fixed clock: every basket is created in the 14
// days (less an hour) before it, so nothing expires under the default TTL.
var benchEnd = time.Date(2024, 3, 27, 12, 0, 0, 0, time.UTC)

const benchSpread = 14*24*time.Hour - time.Hour

// benchSizes are the population sizes of the read benchmarks.
func benchSizes() []int {
	if os.Getenv("ABANDONED_BENCH_LARGE") != "" {
		return []int{1e5, 1e6, 1e7}
	}
	return []int{1e5, 1e6}
}

func sizeName(n int) string {
	switch n {
	case 1e5:
		return "n=1e5"
	case 1e6:
		return "n=1e6"
	case 1e7:
		return "n=1e7"
	}
	return fmt.Sprintf("n=%d", n)
}

// benchCatalogue is the publisher's handful of offers, one product each.
var benchCatalogue = func() [][]basket.OrderItem {
	offers := []struct{ name, product, code string }{
		{"The Offer", "Digital All Access", "SKU-00000001"},
		{"Weekend Print and Digital", "Weekend Print", "SKU-00000002"},
		{"Student Digital", "Digital Basic", "SKU-00000003"},
		{"Puzzles", "Crosswords and Puzzles", "SKU-00000004"},
		{"Cooking", "Cooking", "SKU-00000005"},
		{"Annual All Access", "Digital All Access", "SKU-00000006"},
	}
	out := make([][]basket.OrderItem, len(offers))
	for i, o := range offers {
		out[i] = []basket.OrderItem{{
			Name:     o.name,
			Path:     "/offers2/" + o.name,
			Products: []basket.Product{{Path: "/products/" + o.product, ProductCode: o.code}},
		}}
	}
	return out
}()

var benchFirstNames = []string{"ann", "bob", "chloe", "dev", "emma", "farid", "grace", "hugo"}
var benchDomains = []string{"example.com", "mail.example.org", "news.example.net"}

// benchGen generates baskets' events, deterministically for a seed.
type benchGen struct {
	rng     *rand.Rand
	seq     int
	inOrder bool // baskets created in time order, 100 ms apart, as traffic comes
}

func newBenchGen(seed uint64) *benchGen {
	return &benchGen{rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

func (g *benchGen) uuid() string {
	a, c := g.rng.Uint64(), g.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, a>>16&0xffff, a&0xffff, c>>48, c&0xffffffffffff)
}

func (g *benchGen) created() time.Time {
	if g.inOrder {
		return benchEnd.Add(-benchSpread + time.Duration(g.seq)*100*time.Millisecond)
	}
	return benchEnd.Add(-time.Duration(g.rng.Int64N(int64(benchSpread/time.Millisecond))) * time.Millisecond)
}

// abandoned appends the two events of a typical abandoned basket: created,
// then identified by SSO with the customer's email.
func (g *benchGen) abandoned(dst []basket.Event) []basket.Event {
	g.seq++
	id := "basket-" + g.uuid()
	at := g.created()
	email := fmt.Sprintf("%s.%d@%s", benchFirstNames[g.seq%len(benchFirstNames)], g.seq, benchDomains[g.seq%len(benchDomains)])
	return append(dst,
		basket.Event{Type: basket.EventCreated, BasketID: id, At: at, Entry: "/checkout",
			OrderItems: benchCatalogue[g.rng.IntN(len(benchCatalogue))]},
		basket.Event{Type: basket.EventIdentified, BasketID: id, At: at.Add(time.Minute),
			Identity:        &basket.Identity{Sub: g.uuid(), Iss: "https://issuer.domain", Service: "salesforce", Type: "account"},
			CustomerDetails: &basket.CustomerDetails{Email: email}},
	)
}

// journey appends a basket's whole life as an ingest stream sees it:
// created, the email typed into the form, an SSO login, and for one basket
// in four the completed order.
func (g *benchGen) journey(dst []basket.Event) []basket.Event {
	dst = g.abandoned(dst)
	cr, idf := dst[len(dst)-2], dst[len(dst)-1]
	dst = dst[:len(dst)-1]
	dst = append(dst,
		basket.Event{Type: basket.EventEmailCaptured, BasketID: cr.BasketID, At: cr.At.Add(30 * time.Second), Email: idf.CustomerDetails.Email},
		basket.Event{Type: basket.EventIdentified, BasketID: cr.BasketID, At: idf.At, Identity: idf.Identity},
	)
	if g.seq%4 == 0 {
		dst = append(dst, basket.Event{Type: basket.EventCompleted, BasketID: cr.BasketID, At: idf.At.Add(time.Minute)})
	}
	return dst
}

func newBenchEngine(tb testing.TB) *basket.Engine {
	tb.Helper()
	eng, err := basket.New(&basket.Options{Now: func() time.Time { return benchEnd }})
	if err != nil {
		tb.Fatal(err)
	}
	return eng
}

// buildEngine returns an engine holding n abandoned baskets, loaded through
// Apply in batches of 1,000 events (the engine has no bulk loader).
func buildEngine(tb testing.TB, n int, seed uint64) *basket.Engine {
	tb.Helper()
	eng := newBenchEngine(tb)
	fillEngine(tb, eng, n, seed)
	return eng
}

// fillEngine loads n abandoned baskets into eng, as buildEngine does.
func fillEngine(tb testing.TB, eng *basket.Engine, n int, seed uint64) {
	tb.Helper()
	g := newBenchGen(seed)
	ctx := context.Background()
	batch := make([]basket.Event, 0, 1000)
	for i := 0; i < n; i++ {
		batch = g.abandoned(batch)
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := eng.Apply(ctx, batch...); err != nil {
				tb.Fatal(err)
			}
			clear(batch)
			batch = batch[:0]
		}
	}
	if got := btest.Stats(tb, eng).Abandoned; got != n {
		tb.Fatalf("Stats().Abandoned = %d after loading; want %d", got, n)
	}
}

type benchPop struct {
	once sync.Once
	eng  *basket.Engine
}

var (
	benchPopsMu sync.Mutex
	benchPops   = map[int]*benchPop{}
)

// population returns the shared engine of n abandoned baskets, building it
// on first use. Benchmarks that use it must not change it.
func population(b *testing.B, n int) *basket.Engine {
	b.Helper()
	benchPopsMu.Lock()
	p := benchPops[n]
	if p == nil {
		p = &benchPop{}
		benchPops[n] = p
	}
	benchPopsMu.Unlock()
	p.once.Do(func() { p.eng = buildEngine(b, n, uint64(n)) })
	if p.eng == nil {
		b.Fatalf("population %d failed to build", n)
	}
	return p.eng
}

// randomTimes returns k random instants within the population's created
// range, so each iteration starts at a new place.
func randomTimes(k int, seed uint64) []time.Time {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]time.Time, k)
	for i := range out {
		out[i] = benchEnd.Add(-time.Duration(rng.Int64N(int64(benchSpread/time.Millisecond))) * time.Millisecond)
	}
	return out
}

var pageSink basket.Page

// BenchmarkApply measures applying events to a growing engine: one event per
// Apply, and batches of 100 and 1,000. The stream is whole journeys
// (created, email, identified, a quarter completed), of baskets created in
// random order over 14 days or, as traffic comes, in time order; events are
// generated with the timer stopped.
//
//	go test ./basket -run '^$' -bench Apply -cpu 1 -count 6
func BenchmarkApply(b *testing.B) {
	for _, order := range []string{"random", "timeorder"} {
		for _, size := range []int{1, 100, 1000} {
			name := order + "/single"
			if size > 1 {
				name = fmt.Sprintf("%s/batch=%d", order, size)
			}
			benchmarkApply(b, name, size, order == "timeorder")
		}
	}
}

func benchmarkApply(b *testing.B, name string, size int, inOrder bool) {
	b.Run(name, func(b *testing.B) {
		eng := newBenchEngine(b)
		defer eng.Close()
		ctx := context.Background()
		g := newBenchGen(1)
		g.inOrder = inOrder
		const chunk = 1 << 14
		var evs []basket.Event
		refill := func() {
			clear(evs)
			evs = evs[:0]
			for len(evs) < chunk {
				evs = g.journey(evs)
			}
		}
		refill()
		runtime.GC()
		next, events := 0, 0
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if next+size > len(evs) {
				b.StopTimer()
				// Keep the tail: a journey may straddle two chunks.
				tail := append([]basket.Event(nil), evs[next:]...)
				refill()
				evs = append(tail, evs...)
				next = 0
				b.StartTimer()
			}
			if _, err := eng.Apply(ctx, evs[next:next+size]...); err != nil {
				b.Fatal(err)
			}
			next += size
			events += size
		}
		b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkPage measures one page of abandoned baskets (materialised, with
// recovery links) after a random createdAfter.
func BenchmarkPage(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(sizeName(n), func(b *testing.B) {
			for _, limit := range []int{10, 100} {
				b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
					eng := population(b, n)
					ctx := context.Background()
					after := randomTimes(1<<12, 2)
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						p, err := eng.Abandoned(ctx, basket.Query{CreatedAfter: after[i%len(after)], Limit: limit})
						if err != nil {
							b.Fatal(err)
						}
						pageSink = p
					}
				})
			}
		})
	}
}

// BenchmarkPageDepth measures a page of 10 at the start of a walk (no
// cursor), on page 2 and on page 10,001 (each continued by a cursor): keyset
// cursors make the cost flat in the depth.
func BenchmarkPageDepth(b *testing.B) {
	const n, limit = 1e6, 10
	b.Run(sizeName(n), func(b *testing.B) {
		eng := population(b, n)
		ctx := context.Background()
		first, err := eng.Abandoned(ctx, basket.Query{Limit: limit})
		if err != nil {
			b.Fatal(err)
		}
		// 100 pages of 1,000 reach item 100,000: the next page of 10 is
		// page 10,001.
		deep := ""
		for range 100 {
			p, err := eng.Abandoned(ctx, basket.Query{Limit: basket.MaxLimit, Cursor: deep})
			if err != nil {
				b.Fatal(err)
			}
			deep = p.Cursor
		}
		for _, c := range []struct {
			name, cursor string
		}{{"page=1", ""}, {"page=2", first.Cursor}, {"page=10001", deep}} {
			b.Run(c.name, func(b *testing.B) {
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					p, err := eng.Abandoned(ctx, basket.Query{Limit: limit, Cursor: c.cursor})
					if err != nil {
						b.Fatal(err)
					}
					if len(p.Items) != limit {
						b.Fatalf("Abandoned() returned %d items; want %d", len(p.Items), limit)
					}
					pageSink = p
				}
			})
		}
	})
}

// BenchmarkWalk measures a full cursor walk over every abandoned basket and
// reports the cost per basket.
func BenchmarkWalk(b *testing.B) {
	for _, n := range benchSizes()[:2] {
		b.Run(sizeName(n), func(b *testing.B) {
			for _, limit := range []int{100, 1000} {
				b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
					eng := population(b, n)
					ctx := context.Background()
					items := 0
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						cursor := ""
						got := 0
						for {
							p, err := eng.Abandoned(ctx, basket.Query{Limit: limit, Cursor: cursor})
							if err != nil {
								b.Fatal(err)
							}
							got += len(p.Items)
							if cursor = p.Cursor; cursor == "" {
								break
							}
						}
						if got != n {
							b.Fatalf("walk returned %d baskets; want %d", got, n)
						}
						items += got
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(items), "ns/item")
				})
			}
		})
	}
}

// BenchmarkCount measures count=exact of a random created range (with a page
// of one, the least a query returns).
func BenchmarkCount(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(sizeName(n), func(b *testing.B) {
			eng := population(b, n)
			ctx := context.Background()
			// Each count has bounds of its own, from a million random
			// ones: bounds that come round again, or that one count shares
			// with the next, find their paths in the cache, as few counts
			// of a large engine would.
			ts := randomTimes(1<<21, 3)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := 2 * (i % (len(ts) / 2))
				lo, hi := ts[j], ts[j+1]
				if hi.Before(lo) {
					lo, hi = hi, lo
				}
				p, err := eng.Abandoned(ctx, basket.Query{CreatedAfter: lo, CreatedBefore: hi, Limit: 1, Count: true})
				if err != nil {
					b.Fatal(err)
				}
				if p.Total < 0 || p.Total > n {
					b.Fatalf("Abandoned(count) Total = %d; want 0 to %d", p.Total, n)
				}
				pageSink = p
			}
		})
	}
}

// BenchmarkBytesPerBasket builds an engine of n typical baskets (one item,
// one identity, an email) and reports the live heap it holds per basket,
// and the longest stop-the-world pause of ten garbage collections with the
// engine live (gc-pause-max-ns: the p99 of the pauses, and more). ns/op is
// the time to load the n baskets through Apply.
func BenchmarkBytesPerBasket(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(sizeName(n), func(b *testing.B) {
			var perBasket, pause float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var before, after runtime.MemStats
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&before)
				b.StartTimer()
				eng := buildEngine(b, n, uint64(i)+7)
				b.StopTimer()
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&after)
				perBasket = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
				pause = max(pause, gcPauseMax(10))
				runtime.KeepAlive(eng)
				eng.Close()
				b.StartTimer()
			}
			b.ReportMetric(perBasket, "B/basket")
			b.ReportMetric(pause, "gc-pause-max-ns")
		})
	}
}

// BenchmarkReaders runs page queries (limit 10, random createdAfter) from
// parallel goroutines; compare ns/op across -cpu 1,2 to see reads scale.
func BenchmarkReaders(b *testing.B) {
	const n = 1e6
	b.Run(sizeName(n), func(b *testing.B) {
		eng := population(b, n)
		ctx := context.Background()
		after := randomTimes(1<<12, 4)
		var seed sync.Mutex
		next := uint64(0)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			seed.Lock()
			next++
			rng := rand.New(rand.NewPCG(next, 9))
			seed.Unlock()
			for pb.Next() {
				p, err := eng.Abandoned(ctx, basket.Query{CreatedAfter: after[rng.IntN(len(after))], Limit: 10})
				if err != nil {
					b.Error(err)
					return
				}
				if len(p.Items) == 0 && p.Cursor != "" {
					b.Error("empty page with a cursor")
					return
				}
			}
		})
	})
}

// gcPauseMax runs k garbage collections and returns the upper bound of the
// bucket of the longest stop-the-world pause among them, in nanoseconds.
func gcPauseMax(k int) float64 {
	sample := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(sample)
	before := sample[0].Value.Float64Histogram()
	counts := slices.Clone(before.Counts)
	for range k {
		runtime.GC()
	}
	metrics.Read(sample)
	h := sample[0].Value.Float64Histogram()
	for i := len(h.Counts) - 1; i >= 0; i-- {
		if h.Counts[i] > counts[i] {
			return h.Buckets[i+1] * 1e9
		}
	}
	return 0
}

// gcPauses starts counting the collector's stop-the-world pauses. The
// function it returns gives the 99th percentile and the longest of the
// pauses since (each as the upper bound of its bucket of the runtime's
// histogram), and false if there were none.
func gcPauses() func() (p99, max float64, ok bool) {
	return histogramSince("/sched/pauses/total/gc:seconds")
}

// histogramSince returns a function that reports the p99 and the greatest
// value (ns, the upper bounds of their buckets) of what the runtime's
// histogram metric name (in seconds) counted since the call.
func histogramSince(name string) func() (p99, max float64, ok bool) {
	sample := []metrics.Sample{{Name: name}}
	metrics.Read(sample)
	before := slices.Clone(sample[0].Value.Float64Histogram().Counts)
	return func() (float64, float64, bool) {
		metrics.Read(sample)
		h := sample[0].Value.Float64Histogram()
		counts := slices.Clone(h.Counts)
		var n uint64
		for i := range counts {
			counts[i] -= before[i]
			n += counts[i]
		}
		if n == 0 {
			return 0, 0, false
		}
		var p99, pmax float64
		var seen uint64
		for i, c := range counts {
			if c == 0 {
				continue
			}
			if seen < n*99/100+1 && seen+c >= n*99/100+1 {
				p99 = h.Buckets[i+1] * 1e9
			}
			seen += c
			pmax = h.Buckets[i+1] * 1e9
		}
		if math.IsInf(pmax, 1) { // the histogram's last bucket: its lower bound
			pmax = h.Buckets[len(h.Buckets)-2] * 1e9
			p99 = min(p99, pmax)
		}
		return p99, pmax, true
	}
}

// BenchmarkReadersWhileWriting runs page queries (limit 10, random
// createdAfter) from parallel goroutines over 1e6 abandoned baskets while a
// writer applies whole journeys at 100,000 events a second, in batches of
// 1,000 (ten a second), of baskets created at random times (random) or
// each after the last, as traffic comes (timeorder), or at random times
// into a durable engine, whose log is not synced (durable). Compare ns/op
// across -cpu 1,2; read-p99-ns,
// read-p999-ns and read-max-ns are the readers' latencies (a reader held
// out by a batch makes one slow read where it would have made many fast
// ones, so the wait shows in the tail, not at the 99th percentile);
// events/s is what the writer achieved; gc-pause-p99-ns and
// gc-pause-max-ns are the collector's stop-the-world pauses during the
// run. nowriter is the same readers with no writer: the baseline, in the
// same run, of a tail that is not the writer's. Where the tail comes from
// shows beside it: sched-latency-max-ns is the longest a goroutine was
// ready to run and waited for a core (the Go scheduler's), and
// lock-wait-ns/read the time goroutines spent blocked on locks, the
// engine's read and write locks among them, for each read.
//
//	go test ./basket -run '^$' -bench ReadersWhileWriting -cpu 1,2 -count 3
func BenchmarkReadersWhileWriting(b *testing.B) {
	// nowriter first: the in-memory writers' runs add baskets to the
	// engine the first three share.
	for _, order := range []string{"nowriter", "random", "timeorder", "durable"} {
		b.Run(order, func(b *testing.B) { benchmarkReadersWhileWriting(b, order) })
	}
}

// benchmarkReadersWhileWriting is BenchmarkReadersWhileWriting with the
// writer's baskets created at random times (random) or in time order, each
// after the last, as traffic comes (timeorder), or with no writer
// (nowriter), or at random times into an engine of its own that logs
// each batch to a data directory (durable).
func benchmarkReadersWhileWriting(b *testing.B, order string) {
	const n, rate, batch = 1e6, 100_000, 1000
	eng := writablePopulation(b, n)
	if order == "durable" {
		eng = durableWritablePopulation(b, n)
	}
	ctx := context.Background()
	after := randomTimes(1<<12, 5)
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		g := newBenchGen(uint64(time.Now().UnixNano()))
		g.inOrder = order == "timeorder"
		var evs []basket.Event
		applied := 0
		tick := time.NewTicker(time.Second * batch / rate)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- applied
				return
			case <-tick.C:
			}
			if order == "nowriter" {
				continue
			}
			clear(evs)
			evs = evs[:0]
			for len(evs) < batch {
				evs = g.journey(evs)
			}
			if _, err := eng.Apply(ctx, evs...); err != nil {
				b.Error(err)
			}
			applied += len(evs)
		}
	}()
	var mu sync.Mutex
	var lat []time.Duration
	next := uint64(0)
	pauses := gcPauses()
	sched := histogramSince("/sched/latencies:seconds")
	lockWait := []metrics.Sample{{Name: "/sync/mutex/wait/total:seconds"}}
	metrics.Read(lockWait)
	waitBefore := lockWait[0].Value.Float64()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		next++
		rng := rand.New(rand.NewPCG(next, 11))
		mu.Unlock()
		mine := make([]time.Duration, 0, 1<<16)
		for pb.Next() {
			start := time.Now()
			_, err := eng.Abandoned(ctx, basket.Query{CreatedAfter: after[rng.IntN(len(after))], Limit: 10})
			if err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	close(stop)
	applied := <-done
	if p99, pmax, ok := pauses(); ok {
		b.ReportMetric(p99, "gc-pause-p99-ns")
		b.ReportMetric(pmax, "gc-pause-max-ns")
	}
	if _, smax, ok := sched(); ok {
		b.ReportMetric(smax, "sched-latency-max-ns")
	}
	metrics.Read(lockWait)
	if len(lat) > 0 {
		b.ReportMetric((lockWait[0].Value.Float64()-waitBefore)*1e9/float64(len(lat)), "lock-wait-ns/read")
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "read-p99-ns")
		b.ReportMetric(float64(lat[len(lat)*999/1000].Nanoseconds()), "read-p999-ns")
		b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "read-max-ns")
	}
	b.ReportMetric(float64(applied)/b.Elapsed().Seconds(), "events/s")
}

var (
	writableOnce sync.Once
	writableEng  *basket.Engine
)

// writablePopulation returns an engine of n abandoned baskets that
// benchmarks may write to, built once.
func writablePopulation(b *testing.B, n int) *basket.Engine {
	writableOnce.Do(func() { writableEng = buildEngine(b, n, 99) })
	if writableEng == nil {
		b.Fatal("the writable population failed to build")
	}
	return writableEng
}

var (
	durableWritableOnce sync.Once
	durableWritableEng  *basket.Engine
)

// durableWritablePopulation returns an engine of n abandoned baskets in a
// data directory, logged without fsync, that benchmarks may write to,
// built once and closed, its directory removed, after the last test.
func durableWritablePopulation(b *testing.B, n int) *basket.Engine {
	durableWritableOnce.Do(func() {
		dir, err := os.MkdirTemp("", "basket-bench-")
		if err != nil {
			b.Fatal(err)
		}
		afterTests = append(afterTests, func() { os.RemoveAll(dir) })
		eng, err := basket.Open(dir, &basket.Options{Now: func() time.Time { return benchEnd }, SnapshotEvery: -1,
			Store: &store.Options{Sync: store.SyncNever}})
		if err != nil {
			b.Fatal(err)
		}
		afterTests = append(afterTests, func() { eng.Close() })
		fillEngine(b, eng, n, 99)
		durableWritableEng = eng
	})
	if durableWritableEng == nil {
		b.Fatal("the durable writable population failed to build")
	}
	return durableWritableEng
}

// BenchmarkCommitHold applies batches of 1,000 events of whole journeys
// (random created times, or in time order) back to back into 1e6 baskets,
// and reports the commits' hold of the write lock (hold-p50-ns,
// hold-p99-ns, hold-max-ns): what a reader may wait behind a batch.
//
//	go test ./basket -run '^$' -bench CommitHold -benchtime 3000x
func BenchmarkCommitHold(b *testing.B) {
	for _, order := range []string{"random", "timeorder"} {
		b.Run(order, func(b *testing.B) {
			eng := writablePopulation(b, 1e6)
			var holds []time.Duration
			basket.SetCommitted(eng, func(d time.Duration) { holds = append(holds, d) })
			defer basket.SetCommitted(eng, nil)
			ctx := context.Background()
			g := newBenchGen(uint64(time.Now().UnixNano()))
			g.inOrder = order == "timeorder"
			var evs []basket.Event
			for b.Loop() {
				clear(evs)
				evs = evs[:0]
				for len(evs) < 1000 {
					evs = g.journey(evs)
				}
				if _, err := eng.Apply(ctx, evs...); err != nil {
					b.Fatal(err)
				}
			}
			basket.SetCommitted(eng, nil)
			if len(holds) != b.N {
				b.Fatalf("%d commits timed for %d batches", len(holds), b.N)
			}
			slices.Sort(holds)
			b.ReportMetric(float64(holds[len(holds)/2].Nanoseconds()), "hold-p50-ns")
			b.ReportMetric(float64(holds[len(holds)*99/100].Nanoseconds()), "hold-p99-ns")
			b.ReportMetric(float64(holds[len(holds)-1].Nanoseconds()), "hold-max-ns")
		})
	}
}
