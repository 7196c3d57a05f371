package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

// BenchmarkIngest compares a replicated write (a batch acknowledged by a
// quorum of three embedded NATS servers, every write fsynced, then applied
// by the answering node) with a single durable engine under fsync=always on
// the same machine, in the same run. Each operation is a batch of 50
// baskets (100 events) from one of 8 concurrent writers; it reports
// events/s and the acknowledgement latency's p50 and p99.
//
//	go test ./basket/cluster -run '^$' -bench Ingest -benchtime 2000x
func BenchmarkIngest(b *testing.B) {
	b.Run("node=1,fsync=always", func(b *testing.B) {
		eng, err := basket.Open(b.TempDir(), &basket.Options{RecoverySecrets: [][]byte{btest.Secret}, TTL: basket.NoExpiry,
			SnapshotEvery: -1, Store: &store.Options{Sync: store.SyncAlways}})
		if err != nil {
			b.Fatal(err)
		}
		defer eng.Close()
		benchIngest(b, []*basket.Engine{eng})
	})
	b.Run("cluster=3,replicas=3", func(b *testing.B) {
		srvs := btest.NATSCluster(b, 3)
		engs := btest.ClusterEngines(b, srvs, &basket.Options{Alias: "bench", RecoverySecrets: [][]byte{btest.Secret}, TTL: basket.NoExpiry})
		benchIngest(b, engs)
	})
}

func benchIngest(b *testing.B, engs []*basket.Engine) {
	const writers, perBatch = 8, 50
	var (
		next atomic.Int64
		mu   sync.Mutex
		lat  []time.Duration
		wg   sync.WaitGroup
	)
	ctx := context.Background()
	at := time.Now()
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			var mine []time.Duration
			evs := make([]basket.Event, 0, 2*perBatch)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					break
				}
				evs = evs[:0]
				for k := range perBatch {
					id := fmt.Sprintf("w%d-%d-%d", w, i, k)
					evs = append(evs,
						basket.Event{Type: basket.EventCreated, BasketID: id, At: at, OrderItems: []basket.OrderItem{{Name: "Digital", Path: "/offers/digital"}}},
						basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: id + "@example.com"})
				}
				t0 := time.Now()
				if _, err := engs[int(i)%len(engs)].Apply(ctx, evs...); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(b.N*2*perBatch)/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}
