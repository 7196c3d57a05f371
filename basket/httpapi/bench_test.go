package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// discard is a ResponseWriter that keeps nothing, so that a benchmark
// measures the handler and not a recorder.
type discard struct {
	h http.Header
	n int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// benchEngine holds n abandoned baskets of the typical shape: one offer,
// one identity, an email, a tag.
func benchEngine(b *testing.B, n int) *basket.Engine {
	b.Helper()
	now := time.Date(2024, 3, 27, 0, 0, 0, 0, time.UTC)
	eng, err := basket.New(&basket.Options{
		Now:             func() time.Time { return now },
		RecoverySecrets: [][]byte{[]byte("bench-secret-0123456789")},
		TTL:             basket.NoExpiry,
		Alias:           "bench",
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	base := now.Add(-24 * time.Hour)
	items := []basket.OrderItem{{Name: "The Offer", Path: "/offers2/The Offer",
		Products: []basket.Product{{Path: "/products/Digital All Access", ProductCode: "SKU-00000001"}}}}
	batch := make([]basket.Event, 0, 2000)
	for i := range n {
		id := fmt.Sprintf("basket-%08d-eb57-462d-8e55-981c3b5e5364", i)
		at := base.Add(time.Duration(i) * time.Millisecond * 7)
		batch = append(batch,
			basket.Event{Type: basket.EventCreated, BasketID: id, At: at, Entry: "/checkout", OrderItems: items,
				Tracking: map[string]string{"tag": "web"}},
			basket.Event{Type: basket.EventIdentified, BasketID: id, At: at.Add(time.Second),
				Identity:        &basket.Identity{Sub: fmt.Sprintf("user-%d", i), Iss: "https://issuer.domain", Service: "salesforce", Type: "account"},
				CustomerDetails: &basket.CustomerDetails{Email: fmt.Sprintf("customer%d@example.com", i), FirstName: "Ann"}},
		)
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := eng.Apply(context.Background(), batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return eng
}

// BenchmarkPageHandler measures GET /api/checkout/abandoned through the
// whole handler (routing, authentication, parameters, engine, JSON, metrics)
// on a page in the middle of 100,000 abandoned baskets. "engine" is the
// engine's part alone, for comparison: the difference is the handler's.
func BenchmarkPageHandler(b *testing.B) {
	eng := benchEngine(b, 100_000)
	srv, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{"bench-token-0123456789"}})
	if err != nil {
		b.Fatal(err)
	}
	after := "2024-03-26T00:04:00Z" // about a third of the way in
	for _, limit := range []int{10, 50} {
		b.Run(fmt.Sprintf("limit=%d/handler", limit), func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/checkout/abandoned?limit=%d&createdAfter=%s", limit, after), nil)
			req.Header.Set("Authorization", "Bearer bench-token-0123456789")
			w := &discard{h: http.Header{}}
			srv.ServeHTTP(w, req)
			if w.n < limit*300 {
				b.Fatalf("answer of %d bytes for %d items", w.n, limit)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				srv.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(w.n)/float64(b.N+1), "B/page")
		})
		b.Run(fmt.Sprintf("limit=%d/engine", limit), func(b *testing.B) {
			at, _ := time.Parse(time.RFC3339, after)
			q := basket.Query{Limit: limit, CreatedAfter: at}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := eng.Abandoned(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIngest measures POST /api/baskets/events through the whole
// handler with NDJSON batches of 1,000 events (500 baskets: created and
// emailCaptured), each batch new baskets. Reported per event.
func BenchmarkIngest(b *testing.B) {
	eng, err := basket.New(&basket.Options{TTL: basket.NoExpiry, RecoverySecrets: [][]byte{[]byte("bench-secret-0123456789")}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	srv, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{"bench-token-0123456789"}})
	if err != nil {
		b.Fatal(err)
	}
	const perBatch = 500
	body := func(n int) []byte {
		var buf []byte
		at := time.Date(2024, 3, 26, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
		for i := range perBatch {
			id := fmt.Sprintf("basket-%d-%d", n, i)
			buf = fmt.Appendf(buf, `{"type":"created","basketId":%q,"at":%q,"entry":"/checkout","orderItems":[{"name":"The Offer","path":"/offers2/The Offer","products":[{"path":"/products/Digital All Access","productCode":"SKU-00000001"}]}],"tracking":{"tag":"web"}}`+"\n", id, at.Format(time.RFC3339Nano))
			buf = fmt.Appendf(buf, `{"type":"emailCaptured","basketId":%q,"at":%q,"email":"customer%d@example.com"}`+"\n", id, at.Add(time.Second).Format(time.RFC3339Nano), i)
		}
		return buf
	}
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i] = body(i)
	}
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if n > 0 && n%len(bodies) == 0 {
			b.StopTimer()
			for i := range bodies {
				bodies[i] = body(n + i)
			}
			b.StartTimer()
		}
		req := httptest.NewRequest(http.MethodPost, "/api/baskets/events", bytes.NewReader(bodies[n%len(bodies)]))
		req.Header.Set("Authorization", "Bearer bench-token-0123456789")
		srv.ServeHTTP(w, req)
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*2*perBatch), "ns/event")
}
