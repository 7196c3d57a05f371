package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/webhook"
)

// BenchmarkDeliver measures webhook deliveries per second to a local
// receiver that answers 204 at once (deliver/store=memory, and with the
// checkpoint saved to a file and fsynced after every event,
// deliver/store=dir), against the feed's own rate: the same abandonments
// pulled through the HTTP API's feed in pages of 100 (feed). Each op is one
// abandonment.
func BenchmarkDeliver(b *testing.B) {
	for _, store := range []string{"memory", "dir"} {
		b.Run("deliver/store="+store, func(b *testing.B) {
			eng := btest.MustNewEngine(b, &basket.Options{ChangeRetention: basket.DefaultChangeRetention, Alias: "shop"})
			rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer rc.Close()
			var st webhook.Store = webhook.NewMemoryStore()
			if store == "dir" {
				var err error
				if st, err = webhook.NewDirStore(b.TempDir()); err != nil {
					b.Fatal(err)
				}
			}
			o := &webhook.Options{Endpoints: []webhook.Endpoint{{URL: rc.URL + "/hooks", Secrets: [][]byte{secret}}},
				AllowPrivate: true, Store: st, Alias: "shop"}
			// A first start saves the endpoint's checkpoint; then the
			// abandonments wait in the journal.
			d, err := webhook.Start(context.Background(), eng, o)
			if err != nil {
				b.Fatal(err)
			}
			id := o.Endpoints[0].ID()
			for {
				if sts, _ := d.Endpoints(id); sts[0].Status == webhook.StatusActive {
					break
				}
				time.Sleep(time.Millisecond)
			}
			d.Close()
			fill(b, eng, b.N)
			last, _ := eng.LastChange(context.Background())
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			d, err = webhook.Start(context.Background(), eng, o)
			if err != nil {
				b.Fatal(err)
			}
			for {
				if sts, _ := d.Endpoints(id); sts[0].Checkpoint >= last {
					break
				}
				time.Sleep(100 * time.Microsecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			d.Close()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
		})
	}
	b.Run("feed", func(b *testing.B) {
		eng := btest.MustNewEngine(b, &basket.Options{Alias: "shop"})
		const token = "0123456789abcdef0123456789abcdef"
		srv, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{token}})
		if err != nil {
			b.Fatal(err)
		}
		api := httptest.NewServer(srv)
		defer api.Close()
		fill(b, eng, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		after, n := "", 0
		for n < b.N {
			req, _ := http.NewRequest(http.MethodGet, api.URL+"/api/checkout/abandoned/feed?limit=100&after="+after, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			items, next := countItems(b, body)
			if items == 0 {
				b.Fatalf("the feed ended after %d of %d", n, b.N)
			}
			n, after = n+items, next
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
}

// fill abandons n baskets, in batches of 500.
func fill(b *testing.B, eng *basket.Engine, n int) {
	b.Helper()
	at := time.Now()
	for i := 0; i < n; i += 500 {
		var ids []string
		for j := i; j < min(n, i+500); j++ {
			ids = append(ids, fmt.Sprintf("b-%08d", j))
		}
		abandon(b, eng, at, ids...)
	}
}

// countItems returns how many items a feed page holds, and its next.
func countItems(b *testing.B, body []byte) (int, string) {
	b.Helper()
	var page struct {
		Items []struct{ ID string }
		Next  string
	}
	if err := json.Unmarshal(body, &page); err != nil {
		b.Fatalf("feed page: %v", err)
	}
	return len(page.Items), page.Next
}
