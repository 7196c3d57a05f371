package campaign

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// hookService is an email service behind a webhook: it drops a repeat of
// an idempotency key (409) and, while lose is set, takes a message and
// then loses its answer (the connection dies).
type hookService struct {
	mu     sync.Mutex
	bodies map[string][]string // key -> bodies received
	taken  []string            // keys delivered, in order
	lose   int                 // answers still to lose
}

func newHookService(t *testing.T) (*hookService, *httptest.Server) {
	h := &hookService{bodies: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		key := r.Header.Get("Idempotency-Key")
		h.mu.Lock()
		defer h.mu.Unlock()
		h.bodies[key] = append(h.bodies[key], string(b))
		if len(h.bodies[key]) > 1 {
			w.WriteHeader(http.StatusConflict)
			return
		}
		h.taken = append(h.taken, key)
		if h.lose > 0 {
			h.lose--
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return h, srv
}

// TestWebhookLostAnswerResent: a message the service took but whose answer
// was lost is sent again the same (key, body), not decided again: a newer
// basket of the customer does not get a message of its own inside the
// window, and the report counts the one message the customer got.
func TestWebhookLostAnswerResent(t *testing.T) {
	f := newFixture(t, nil, nil)
	h, srv := newHookService(t)
	h.lose = 1
	opts := &Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour}}
	r, err := New(EngineSource{f.eng}, &Webhook{URL: srv.URL, Retries: -1}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r = r
	f.tick()
	f.basket("a-1", "ann@example.com", nil)
	f.run(time.Hour, 5*time.Minute) // a-1 step 1 taken; its answer lost
	f.basket("a-2", "ann@example.com", nil)
	f.run(10*time.Hour, 5*time.Minute)

	h.mu.Lock()
	defer h.mu.Unlock()
	key := Key(DefaultName, "a-1", 1)
	if len(h.taken) != 1 || h.taken[0] != key {
		t.Errorf("the service delivered %v; want only a-1's step 1 inside the window", h.taken)
	}
	if bs := h.bodies[key]; len(bs) != 2 || bs[0] != bs[1] {
		t.Errorf("a-1 step 1 posted %d times (the same body: %v); want twice, the same body", len(bs), len(bs) == 2 && bs[0] == bs[1])
	}
	rep := r.Report()
	if rep.Total.Sent != 1 || rep.Total.InDoubt != 0 || rep.Deferred[ReasonDeduplicated] != 1 {
		t.Errorf("report sent %d, in doubt %d, deferred %v; want 1 sent, a-2 deferred by the window", rep.Total.Sent,
			rep.Total.InDoubt, rep.Deferred)
	}
}

// TestCrashWebhook: crashes at every point against a service that drops
// repeats leave every step delivered once and nothing in doubt.
func TestCrashWebhook(t *testing.T) {
	for _, point := range []string{"intent", "commit", "delivered"} {
		t.Run(point, func(t *testing.T) {
			h, srv := newHookService(t)
			rep, crashes, ids := crashRun(t, point, &Webhook{URL: srv.URL, Retries: -1}, testSeed(t))
			if crashes == 0 || len(rep.InDoubt) != 0 {
				t.Fatalf("%d crashes, %d in doubt; want crashes and nothing in doubt", crashes, len(rep.InDoubt))
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.taken) != len(ids)*3 || rep.Total.Sent != int64(len(ids)*3) {
				t.Errorf("service delivered %d, report sent %d; want %d", len(h.taken), rep.Total.Sent, len(ids)*3)
			}
		})
	}
}
