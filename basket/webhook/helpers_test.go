package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/webhook"
)

// secret is the endpoints' secret in tests: 64 hex digits, used as text.
var secret = []byte(strings.Repeat("5e", 32))

// received is a request the receiver verified.
type received struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Created  string          `json:"created"`
	Position string          `json:"position"`
	Data     json.RawMessage `json:"data"`
	body     []byte
}

// action is what the receiver does with a request.
type action int

const (
	answer200  action = iota
	answer500         // a 500
	answer410         // 410 Gone
	answerSlow        // a 200 after a while, within the deliverer's timeout
	answerLate        // nothing until the deliverer gives up
	answerDrop        // the connection closed without an answer
)

// receiver is a real HTTP server on 127.0.0.1 that verifies every request
// with webhook.Verify and records it, then answers as plan says for the
// n-th request (from 0).
type receiver struct {
	t    testing.TB
	srv  *httptest.Server
	plan func(n int) action
	slow time.Duration // answerSlow's pause

	mu   sync.Mutex
	n    int
	got  []received
	bad  []string // requests that failed a check
	seen chan struct{}
}

func newReceiver(t testing.TB, plan func(n int) action) *receiver {
	t.Helper()
	rc := &receiver{t: t, plan: plan, slow: 20 * time.Millisecond, seen: make(chan struct{}, 1)}
	if rc.plan == nil {
		rc.plan = func(int) action { return answer200 }
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/hooks?token=receiver-own-token" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	problem := ""
	var ev received
	switch {
	case err != nil:
		problem = "reading the body: " + err.Error()
	case r.Method != http.MethodPost:
		problem = "method " + r.Method
	case r.Header.Get("Content-Type") != "application/json":
		problem = "Content-Type " + r.Header.Get("Content-Type")
	case json.Unmarshal(body, &ev) != nil:
		problem = "a body that is not JSON: " + string(body)
	case ev.ID != r.Header.Get(webhook.EventIDHeader):
		problem = fmt.Sprintf("Abandoned-Event-Id %q for the body's id %q", r.Header.Get(webhook.EventIDHeader), ev.ID)
	}
	// The tests' clock runs days ahead of the real one: a wide tolerance.
	if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, 30*24*time.Hour); err != nil && problem == "" {
		problem = "signature: " + err.Error()
	}
	ev.body = body
	rc.mu.Lock()
	n := rc.n
	rc.n++
	if problem != "" {
		rc.bad = append(rc.bad, problem)
	} else {
		rc.got = append(rc.got, ev)
	}
	rc.mu.Unlock()
	select {
	case rc.seen <- struct{}{}:
	default:
	}
	if problem != "" {
		http.Error(w, problem, http.StatusBadRequest)
		return
	}
	switch rc.plan(n) {
	case answer500:
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
	case answer410:
		w.WriteHeader(http.StatusGone)
	case answerSlow:
		time.Sleep(rc.slow)
		w.WriteHeader(http.StatusNoContent)
	case answerLate:
		<-r.Context().Done() // the deliverer hung up
	case answerDrop:
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// events returns what the receiver verified, in order of arrival.
func (rc *receiver) events() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		rc.t.Errorf("the receiver got bad requests: %q", rc.bad)
	}
	return append([]received(nil), rc.got...)
}

// requests returns how many requests came.
func (rc *receiver) requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n
}

// waitFor waits until cond holds of what the receiver got, failing the
// test if it does not within a minute (a bound against a hang, not a
// measurement).
func (rc *receiver) waitFor(what string, cond func([]received) bool) []received {
	rc.t.Helper()
	deadline := time.After(time.Minute)
	for {
		evs := rc.events()
		if cond(evs) {
			return evs
		}
		select {
		case <-rc.seen:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			rc.t.Fatalf("waiting for %s: the receiver has %d events", what, len(evs))
		}
	}
}

// fakeTime is the deliverer's clock and sleep: a sleep records its wait
// and moves the clock on at once.
type fakeTime struct {
	clock *btest.Clock
	mu    sync.Mutex
	waits []time.Duration
	park  bool      // a sleep waits for its context instead
	until time.Time // if set, a sleep that would pass it waits for its context
}

func newFakeTime() *fakeTime {
	return &fakeTime{clock: btest.NewClock(time.Now().UTC().Truncate(time.Millisecond))}
}

func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.waits = append(f.waits, d)
	park := f.park || !f.until.IsZero() && f.clock.Now().Add(d).After(f.until)
	f.mu.Unlock()
	if park {
		<-ctx.Done()
		return ctx.Err()
	}
	f.clock.Add(d)
	return nil
}

// parkAt makes sleeps that would move the clock past t wait for their
// context; the zero time lifts it.
func (f *fakeTime) parkAt(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.until = t
}

// setPark makes sleeps wait for their context (true) or return at once.
func (f *fakeTime) setPark(park bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.park = park
}

func (f *fakeTime) slept() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.waits...)
}

// newEngine returns an in-memory engine on clock that keeps a journal.
func newEngine(t testing.TB, clock *btest.Clock) *basket.Engine {
	t.Helper()
	return btest.MustNewEngine(t, &basket.Options{Now: clock.Now, ChangeRetention: basket.DefaultChangeRetention, Alias: "shop"})
}

var offer = []basket.OrderItem{{Name: "The Offer", Path: "/offers2/The Offer",
	Products: []basket.Product{{Path: "/products/Digital All Access", ProductCode: "SKU-00000001"}}}}

// abandon creates baskets ids and gives each an email: each is abandoned
// at once.
func abandon(t testing.TB, eng *basket.Engine, at time.Time, ids ...string) {
	t.Helper()
	var evs []basket.Event
	for _, id := range ids {
		evs = append(evs,
			basket.Event{Type: basket.EventCreated, BasketID: id, At: at, Entry: "/checkout", OrderItems: offer},
			basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: id + "@example.com"})
	}
	if _, err := eng.Apply(context.Background(), evs...); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// journal returns every change the engine's journal holds.
func journal(t testing.TB, eng *basket.Engine) []basket.Change {
	t.Helper()
	var out []basket.Change
	after := uint64(0)
	for {
		p, err := eng.Changes(context.Background(), after, 1000)
		if err != nil {
			t.Fatalf("Changes: %v", err)
		}
		out = append(out, p.Items...)
		if len(p.Items) == 0 {
			return out
		}
		after = p.Next
	}
}

// checkOrder checks what an endpoint got against the changes it is owed,
// in order: every one arrives, the first arrivals in the journal's order,
// and a repeat only of the event just sent, with the same id and body.
func checkOrder(t testing.TB, got []received, want []basket.Change, endpointID string) {
	t.Helper()
	idx := map[string]int{}
	for i, ch := range want {
		idx[webhook.EventID("shop", endpointID, ch.Seq)] = i
	}
	next := 0
	bodies := map[string]string{}
	for k, ev := range got {
		i, ok := idx[ev.ID]
		switch {
		case !ok:
			t.Fatalf("event %d: id %s is none of the changes owed", k, ev.ID)
		case i == next:
			if ev.Type != string(want[i].Type) {
				t.Fatalf("event %d (%s): type %s; want %s", k, ev.ID, ev.Type, want[i].Type)
			}
			bodies[ev.ID] = string(ev.body)
			next++
		case i == next-1:
			if bodies[ev.ID] != string(ev.body) {
				t.Fatalf("event %d: a repeat of %s with another body:\n%s\nfirst:\n%s", k, ev.ID, ev.body, bodies[ev.ID])
			}
		default:
			t.Fatalf("event %d: %s (change %d of %d) after change %d: out of order", k, ev.ID, i, len(want), next-1)
		}
	}
	if next != len(want) {
		t.Fatalf("the endpoint got %d of %d changes", next, len(want))
	}
}

// loopback resolves every name to 127.0.0.1.
type loopback struct{}

func (loopback) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

var _ webhook.Resolver = loopback{}
var _ = net.JoinHostPort
