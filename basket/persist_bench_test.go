package basket_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

// durableSizes are the populations of the durability benchmarks; set
// ABANDONED_BENCH_LARGE=1 to add 1e6, and ABANDONED_BENCH_LARGE=1e7 to add
// 1e7 too (a data directory of 1e7 takes minutes to build, and 3 GB).
func durableSizes() []int {
	switch os.Getenv("ABANDONED_BENCH_LARGE") {
	case "":
		return []int{1e5}
	case "1e7":
		return []int{1e5, 1e6, 1e7}
	}
	return []int{1e5, 1e6}
}

func durableBatch(id string, at time.Time) []basket.Event {
	return []basket.Event{
		{Type: basket.EventCreated, BasketID: id, At: at, Entry: "/checkout", OrderItems: offer, Tracking: map[string]string{"tag": "direct"}},
		{Type: basket.EventIdentified, BasketID: id, At: at,
			Identity:        &basket.Identity{Sub: id, Iss: "https://issuer.example", Service: "salesforce", Type: "account"},
			CustomerDetails: &basket.CustomerDetails{Email: id + "@example.com", FirstName: "Ann"}},
	}
}

// BenchmarkDurableIngest measures batches of one basket (two events) into a
// durable engine under each fsync policy, with 1 and 16 writers.
func BenchmarkDurableIngest(b *testing.B) {
	for _, policy := range []store.Sync{store.SyncAlways, store.SyncInterval, store.SyncNever} {
		for _, writers := range []int{1, 16} {
			b.Run(fmt.Sprintf("fsync=%v/writers=%d", policy, writers), func(b *testing.B) {
				eng, err := basket.Open(b.TempDir(), &basket.Options{TTL: basket.NoExpiry,
					Store: &store.Options{Sync: policy}})
				if err != nil {
					b.Fatal(err)
				}
				defer eng.Close()
				ctx := context.Background()
				var n atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				write := func() {
					i := n.Add(1)
					if _, err := eng.Apply(ctx, durableBatch(fmt.Sprint("b-", i), t0.Add(time.Duration(i)*time.Millisecond))...); err != nil {
						b.Error(err)
					}
				}
				if writers == 1 {
					for range b.N {
						write()
					}
				} else {
					b.SetParallelism((writers + 1) / 2)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							write()
						}
					})
				}
				b.ReportMetric(float64(2*b.N)/time.Since(start).Seconds(), "events/s")
			})
		}
	}
}

// buildDurable makes a data directory of n baskets with a snapshot of them.
// They are abandoned in the order they were created, so that the feed
// comes in the records' order.
func buildDurable(b *testing.B, n int) string {
	return buildDurableFeed(b, n, false)
}

// buildDurableFeed is buildDurable; with late, every third basket is
// created alone and identified (so abandoned) only after all the others,
// so that the feed's order is not the records' and a load files most feed
// entries late.
func buildDurableFeed(b *testing.B, n int, late bool) string {
	b.Helper()
	dir := b.TempDir()
	eng, err := basket.Open(dir, &basket.Options{TTL: basket.NoExpiry, SnapshotEvery: -1,
		Store: &store.Options{Sync: store.SyncNever}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const batch = 500
	evs := make([]basket.Event, 0, 2*batch)
	// flush applies evs when it has no room for another basket's two
	// events, or at the last.
	flush := func(last bool) {
		if len(evs) > 0 && (len(evs) > cap(evs)-2 || last) {
			if _, err := eng.Apply(ctx, evs...); err != nil {
				b.Fatal(err)
			}
			evs = evs[:0]
		}
	}
	for i := 0; i < n; i++ {
		bevs := durableBatch(fmt.Sprintf("basket-%08d", i), t0.Add(time.Duration(i)*time.Millisecond))
		if late && i%3 == 0 {
			bevs = bevs[:1]
		}
		evs = append(evs, bevs...)
		flush(i == n-1)
	}
	for i := 0; late && i < n; i += 3 {
		evs = append(evs, durableBatch(fmt.Sprintf("basket-%08d", i), t0.Add(time.Duration(n+i)*time.Millisecond))[1])
		flush(i+3 >= n)
	}
	if st := btest.Stats(b, eng); st.Abandoned != n {
		b.Fatalf("built %d abandoned baskets; want %d", st.Abandoned, n)
	}
	if err := eng.Snapshot(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := eng.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

func dirBytes(b *testing.B, dir string) int64 {
	var total int64
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err == nil {
			total += fi.Size()
		}
	}
	return total
}

// BenchmarkStartup measures Open of a data directory holding a snapshot of
// n baskets, and reports the bytes on disk per basket. feed is as in
// BenchmarkStartupProcess.
func BenchmarkStartup(b *testing.B) {
	for _, n := range durableSizes() {
		for _, feed := range []string{"created", "late"} {
			b.Run(fmt.Sprintf("n=%.0e/feed=%s", float64(n), feed), func(b *testing.B) {
				benchmarkStartup(b, n, feed == "late")
			})
		}
	}
}

func benchmarkStartup(b *testing.B, n int, late bool) {
	dir := buildDurableFeed(b, n, late)
	b.ResetTimer()
	for range b.N {
		eng, err := basket.Open(dir, &basket.Options{TTL: basket.NoExpiry, SnapshotEvery: -1})
		if err != nil {
			b.Fatal(err)
		}
		if st := btest.Stats(b, eng); st.Abandoned != n {
			b.Fatalf("reopened with %d abandoned; want %d", st.Abandoned, n)
		}
		eng.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(dirBytes(b, dir))/float64(n), "disk-B/basket")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/basket")
}

// startupDirEnv names the data directory a child process of
// BenchmarkStartupProcess opens.
const startupDirEnv = "BASKET_STARTUP_DIR"

// startupChild opens dir, as a restarted server does in a process of its
// own, and prints how long Open took (ns), how many baskets it holds, and
// the bytes of heap objects, live or not yet collected, when Open returned.
func startupChild(dir string) int {
	start := time.Now()
	eng, err := basket.Open(dir, &basket.Options{TTL: basket.NoExpiry, SnapshotEvery: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 3
	}
	took := time.Since(start)
	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(heap)
	st, err := eng.Stats(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "stats:", err)
		return 3
	}
	fmt.Println(took.Nanoseconds(), st.Abandoned, heap[0].Value.Uint64())
	eng.Close()
	return 0
}

// BenchmarkStartupProcess measures Open of a data directory holding a
// snapshot of n baskets in a new process each time, as a restart does: a
// fresh heap, whose pages the system maps on first touch, and a collector
// that has seen nothing yet (BenchmarkStartup opens again and again in one
// process, which reuses the heap of the engine before). ns/basket is
// Open's time, measured in the child. feed=created is a snapshot whose
// baskets were abandoned in the order they were created; feed=late one
// where every third was abandoned after all the others, so that most feed
// entries come out of the records' order and are sorted. heap-B/basket is
// the heap's objects when Open returns, garbage included: the collector
// is off while the snapshot is read.
//
//	ABANDONED_BENCH_LARGE=1 go test ./basket -run '^$' -bench 'StartupProcess/n=1e\+06' -benchtime 3x
func BenchmarkStartupProcess(b *testing.B) {
	for _, n := range durableSizes() {
		for _, feed := range []string{"created", "late"} {
			b.Run(fmt.Sprintf("n=%.0e/feed=%s", float64(n), feed), func(b *testing.B) {
				benchmarkStartupProcess(b, n, feed == "late")
			})
		}
	}
}

func benchmarkStartupProcess(b *testing.B, n int, late bool) {
	dir := buildDurableFeed(b, n, late)
	var total time.Duration
	var heap uint64
	b.ResetTimer()
	for range b.N {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), startupDirEnv+"="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("the child: %v (%s)", err, out)
		}
		var ns int64
		var abandoned int
		var objects uint64
		if _, err := fmt.Sscan(string(out), &ns, &abandoned, &objects); err != nil {
			b.Fatalf("the child printed %q: %v", out, err)
		}
		if abandoned != n {
			b.Fatalf("the child opened %d abandoned; want %d", abandoned, n)
		}
		total += time.Duration(ns)
		heap += objects
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/float64(n), "ns/basket")
	b.ReportMetric(float64(heap)/float64(b.N)/float64(n), "heap-B/basket")
}

// BenchmarkSnapshot measures writing a snapshot of n baskets.
func BenchmarkSnapshot(b *testing.B) {
	for _, n := range durableSizes() {
		b.Run(fmt.Sprintf("n=%.0e", float64(n)), func(b *testing.B) {
			dir := buildDurable(b, n)
			eng, err := basket.Open(dir, &basket.Options{TTL: basket.NoExpiry, SnapshotEvery: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close()
			b.ResetTimer()
			for range b.N {
				if err := eng.Snapshot(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
