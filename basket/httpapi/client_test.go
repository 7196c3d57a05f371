package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// sleeps records the waits of a client instead of waiting.
type sleeps struct {
	mu    sync.Mutex // guards waits
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

// newClient returns a client of urls that never waits; opts may be nil.
func newClient(t *testing.T, urls string, opts *httpapi.ClientOptions) (*httpapi.Client, *sleeps) {
	t.Helper()
	var o httpapi.ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.Token == "" && o.ClientID == "" {
		o.Token = testToken
	}
	s := &sleeps{}
	if o.Sleep == nil {
		o.Sleep = s.sleep
	}
	c, err := httpapi.NewClient(urls, &o)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// counting wraps h: it counts requests by path and lets fail answer some
// instead (fail returns false to pass the request on).
type counting struct {
	h    http.Handler
	fail func(w http.ResponseWriter, r *http.Request, n int) bool

	mu    sync.Mutex // guards paths
	paths map[string]int
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if c.paths == nil {
		c.paths = map[string]int{}
	}
	c.paths[r.URL.Path]++
	n := c.paths[r.URL.Path]
	c.mu.Unlock()
	if c.fail != nil && c.fail(w, r, n) {
		return
	}
	c.h.ServeHTTP(w, r)
}

func (c *counting) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paths[path]
}

// TestClientEndpoints ingests through the client, in both body forms, and
// reads back through every endpoint: pages decode into baskets which,
// appended again, are the server's own bytes.
func TestClientEndpoints(t *testing.T) {
	h := start(t, nil)
	c, _ := newClient(t, h.url+"/", nil)
	ctx := t.Context()
	var nd []string
	for i := range 5 {
		id := fmt.Sprintf("b-%d", i)
		at := t0.Add(-time.Hour + time.Duration(i)*time.Minute)
		nd = append(nd, evCreated(id, at, []string{"web", "app"}[i%2]), evEmail(id, at.Add(time.Second), id+"@example.com"))
	}
	res, err := c.Ingest(ctx, []byte(strings.Join(nd, "\n")))
	if err != nil || res.Applied != 10 {
		t.Fatalf("Ingest(NDJSON) = %+v, %v; want 10 applied", res, err)
	}
	res, err = c.Ingest(ctx, []byte("[\n"+strings.Join(nd[:2], ",")+"]"))
	if err != nil || res.Applied != 2 {
		t.Fatalf("Ingest(array, a re-send) = %+v, %v; want 2 applied", res, err)
	}
	if _, err := c.Ingest(ctx, []byte(" \n")); err == nil {
		t.Error("Ingest(empty) = nil; want an error")
	}

	// The query, paged, with its total.
	var got []string
	q := basket.Query{Limit: 2, Count: true, CreatedAfter: t0.Add(-2 * time.Hour)}
	for pages := 0; ; pages++ {
		p, err := c.Abandoned(ctx, q)
		if err != nil {
			t.Fatalf("Abandoned(%+v) = %v", q, err)
		}
		if pages == 0 && p.Total != 5 {
			t.Errorf("Abandoned total = %d; want 5", p.Total)
		}
		if p.Alias != "test.example" && p.Cursor != "" {
			t.Errorf("Abandoned alias = %q; want test.example", p.Alias)
		}
		for _, b := range p.Items {
			if b.State != basket.StateContactable || !b.Abandoned || b.CustomerDetails.Email != b.ID+"@example.com" || b.RecoveryLink == "" {
				t.Errorf("Abandoned item %+v; want contactable, abandoned, its email and link", b)
			}
			got = append(got, b.ID)
		}
		if p.Cursor == "" {
			break
		}
		q = basket.Query{Limit: 2, Cursor: p.Cursor}
	}
	if want := []string{"b-0", "b-1", "b-2", "b-3", "b-4"}; !slices.Equal(got, want) {
		t.Errorf("Abandoned walk = %v; want %v", got, want)
	}
	p, err := c.Abandoned(ctx, basket.Query{Tag: "web", Email: "b-2@example.com"})
	if err != nil || len(p.Items) != 1 || p.Items[0].ID != "b-2" || p.Total != -1 {
		t.Errorf("Abandoned(tag, email) = %+v, %v; want b-2 alone, no total", p, err)
	}

	// Decoded and appended again, an item is the server's bytes.
	raw := h.get("/api/checkout/abandoned?limit=5")
	var items struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw.body, &items); err != nil {
		t.Fatal(err)
	}
	p, err = c.Abandoned(ctx, basket.Query{Limit: 5})
	if err != nil || len(p.Items) != len(items.Items) {
		t.Fatalf("Abandoned = %d items, %v; want %d", len(p.Items), err, len(items.Items))
	}
	for i := range p.Items {
		if got := httpapi.AppendBasket(nil, &p.Items[i]); string(got) != string(items.Items[i]) {
			t.Errorf("AppendBasket(item %d) = %s; want the server's %s", i, got, items.Items[i])
		}
	}

	// The feed, from the start and from its end.
	fp, err := c.Feed(ctx, 0, 3)
	if err != nil || len(fp.Items) != 3 || fp.Next == 0 {
		t.Fatalf("Feed(0, 3) = %+v, %v; want 3 items and a next", fp, err)
	}
	for _, b := range fp.Items {
		if b.FeedPosition == 0 || b.AbandonedAt.IsZero() || !b.Abandoned {
			t.Errorf("Feed item %s: position %d, abandonedAt %v; want both", b.ID, b.FeedPosition, b.AbandonedAt)
		}
	}
	if fp.Items[2].FeedPosition != fp.Next {
		t.Errorf("Feed next %d; want the last item's position %d", fp.Next, fp.Items[2].FeedPosition)
	}
	rest, err := c.Feed(ctx, fp.Next, 0)
	if err != nil || len(rest.Items) != 2 {
		t.Errorf("Feed(next) = %d items, %v; want the other 2", len(rest.Items), err)
	}
	newest, err := c.Feed(ctx, ^uint64(0), 1)
	if err != nil || len(newest.Items) != 0 || newest.Next < rest.Next {
		t.Errorf("Feed(max) = %+v, %v; want no item and the newest position", newest, err)
	}

	// One customer's baskets, in any state.
	h.ingest(evCompleted("b-3", t0.Add(-time.Minute)))
	bs, err := c.Customer(ctx, "B-3@Example.com")
	if err != nil || len(bs) != 1 || bs[0].State != basket.StateCompleted || bs[0].CompletedAt.IsZero() || bs[0].Abandoned {
		t.Errorf("Customer = %+v, %v; want b-3 completed", bs, err)
	}
	if _, err := c.Customer(ctx, "not an address"); err == nil || strings.Contains(err.Error(), "not an address") {
		t.Errorf("Customer(bad) = %v; want an error that does not repeat the value", err)
	}

	hl, err := c.Health(ctx)
	if err != nil || hl.Status != "ok" {
		t.Errorf("Health = %+v, %v; want ok", hl, err)
	}
}

// TestClientRetries: 503s are retried, after the Retry-After the server
// asks for; the client waits through Sleep only.
func TestClientRetries(t *testing.T) {
	h := start(t, nil)
	h.abandon("b-1", t0.Add(-time.Hour), "", "ann@example.com")
	cw := &counting{h: h.srv, fail: func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n <= 2 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"message":"catching up with the cluster's log"}`)
			return true
		}
		return false
	}}
	srv := httptest.NewServer(cw)
	defer srv.Close()
	var retries []int
	c, s := newClient(t, srv.URL, &httpapi.ClientOptions{
		MinBackoff: time.Second, MaxBackoff: 4 * time.Second,
		OnRetry: func(try int, err error, wait time.Duration) {
			if !errors.Is(err, basket.ErrCatchingUp) {
				t.Errorf("OnRetry(%d, %v); want an error that is basket.ErrCatchingUp", try, err)
			}
			retries = append(retries, try)
		},
	})
	p, err := c.Abandoned(t.Context(), basket.Query{})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("Abandoned after two 503s = %+v, %v; want b-1", p, err)
	}
	if n := cw.count("/api/checkout/abandoned"); n != 3 {
		t.Errorf("%d requests; want 3", n)
	}
	if waits := s.all(); len(waits) != 2 || waits[0] != 7*time.Second || waits[1] != 7*time.Second {
		t.Errorf("waits %v; want the Retry-After, 7s, twice", waits)
	}
	if !slices.Equal(retries, []int{1, 2}) {
		t.Errorf("OnRetry tries %v; want [1 2]", retries)
	}

	// Without Retry-After: full jitter, doubling up to MaxBackoff.
	always := &counting{h: h.srv, fail: func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	}}
	srv2 := httptest.NewServer(always)
	defer srv2.Close()
	c, s = newClient(t, srv2.URL, &httpapi.ClientOptions{Retries: 5, MinBackoff: time.Second, MaxBackoff: 4 * time.Second})
	_, err = c.Abandoned(t.Context(), basket.Query{})
	var ae *httpapi.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || !strings.Contains(err.Error(), "giving up after 6 tries") {
		t.Errorf("Abandoned against 502s = %v; want an *APIError 502 after 6 tries", err)
	}
	caps := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	waits := s.all()
	if len(waits) != len(caps) {
		t.Fatalf("waits %v; want %d", waits, len(caps))
	}
	for i, w := range waits {
		if w < 0 || w > caps[i] {
			t.Errorf("wait %d = %v; want 0 to %v", i, w, caps[i])
		}
	}

	// A Retry-After longer than a client waits ends the retries; so does
	// a deadline the wait would pass.
	long := &counting{h: h.srv, fail: func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}}
	srv3 := httptest.NewServer(long)
	defer srv3.Close()
	c, s = newClient(t, srv3.URL, nil)
	if _, err := c.Feed(t.Context(), 0, 0); !errors.As(err, &ae) || ae.Status != 429 || ae.RetryAfter != time.Hour || len(s.all()) != 0 {
		t.Errorf("Feed against Retry-After: 3600 = %v after waits %v; want the 429 at once", err, s.all())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, s = newClient(t, srv.URL, nil) // its first two answers were the 503s with Retry-After: 7
	cw.fail = func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}
	if _, err := c.Feed(ctx, 0, 0); !errors.As(err, &ae) || !strings.Contains(err.Error(), "not before the deadline") || len(s.all()) != 0 {
		t.Errorf("Feed with a deadline before the Retry-After = %v, waits %v; want the 503 at once, naming the deadline", err, s.all())
	}
}

// TestClientNeverRetries4xx: an answer another try will not change is
// returned at once.
func TestClientNeverRetries4xx(t *testing.T) {
	h := start(t, nil)
	cw := &counting{h: h.srv}
	srv := httptest.NewServer(cw)
	defer srv.Close()
	c, s := newClient(t, srv.URL, nil)
	bad := evEmail("nobody", t0, "x@example.com")
	for _, status := range []int{400, 409} {
		body := bad
		if status == 400 {
			body = `{"type":"created","basketId":"","at":"` + ts(t0) + `"}`
		}
		_, err := c.Ingest(t.Context(), []byte(body))
		var ae *httpapi.APIError
		if !errors.As(err, &ae) || ae.Status != status {
			t.Errorf("Ingest = %v; want a %d", err, status)
		}
	}
	if n := cw.count("/api/baskets/events"); n != 2 || len(s.all()) != 0 {
		t.Errorf("%d requests, waits %v; want 2 and none", n, s.all())
	}
}

// TestClientFailover: a request that fails on one node goes to the next,
// at once, and later requests stay there.
func TestClientFailover(t *testing.T) {
	h := start(t, nil)
	h.abandon("b-1", t0.Add(-time.Hour), "", "ann@example.com")
	down := &counting{h: h.srv, fail: func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}}
	up := &counting{h: h.srv}
	first, second := httptest.NewServer(down), httptest.NewServer(up)
	defer first.Close()
	defer second.Close()
	c, s := newClient(t, first.URL+", "+second.URL+"/", &httpapi.ClientOptions{Retries: -1})
	for i := range 3 {
		if p, err := c.Abandoned(t.Context(), basket.Query{}); err != nil || len(p.Items) != 1 {
			t.Fatalf("Abandoned %d = %+v, %v; want b-1", i, p, err)
		}
	}
	if d, u := down.count("/api/checkout/abandoned"), up.count("/api/checkout/abandoned"); d != 1 || u != 3 {
		t.Errorf("requests: %d to the failing node, %d to the other; want 1 and 3", d, u)
	}
	if len(s.all()) != 1 || s.all()[0] != 0 {
		t.Errorf("waits %v; want one, of 0, to the other node", s.all())
	}

	// A node that went away entirely: the same.
	gone := httptest.NewServer(h.srv)
	gone.Close()
	c, _ = newClient(t, gone.URL+","+second.URL, &httpapi.ClientOptions{Retries: -1})
	if _, err := c.Ingest(t.Context(), []byte(evCreated("b-2", t0, ""))); err != nil {
		t.Errorf("Ingest with the first node gone = %v", err)
	}
	// Every node failing: the last error, after a try on each.
	c, _ = newClient(t, gone.URL+","+first.URL, &httpapi.ClientOptions{Retries: -1})
	_, err := c.Feed(t.Context(), 0, 0)
	var ae *httpapi.APIError
	if !errors.As(err, &ae) || ae.Status != 503 || !strings.Contains(err.Error(), "after 2 tries") {
		t.Errorf("Feed with every node failing = %v; want the 503 after 2 tries", err)
	}
}

// TestClientOAuth: the client obtains an access token once, reuses it,
// and obtains another when the server refuses the first.
func TestClientOAuth(t *testing.T) {
	h := start(t, nil)
	h.abandon("b-1", t0.Add(-time.Hour), "", "ann@example.com")
	cw := &counting{h: h.srv}
	srv := httptest.NewServer(cw)
	defer srv.Close()
	c, _ := newClient(t, srv.URL, &httpapi.ClientOptions{ClientID: "client-1", ClientSecret: "secret-1-abcdefgh", Scopes: []string{"checkout"}})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Abandoned(t.Context(), basket.Query{}); err != nil {
				t.Errorf("Abandoned = %v", err)
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := cw.count("/oauth2/token"); n != 1 {
		t.Errorf("%d token requests for 4 queries; want 1", n)
	}
	// The scope asked for is the token's: no ingest.
	var ae *httpapi.APIError
	if _, err := c.Ingest(t.Context(), []byte(evCreated("b-2", t0, ""))); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Errorf("Ingest with a checkout token = %v; want a 403", err)
	}
	// Every token issued so far expires on the server's clock.
	h.clk.Advance(2 * time.Hour)
	if _, err := c.Feed(t.Context(), 0, 0); err != nil {
		t.Errorf("Feed after the token expired = %v; want a new token and the page", err)
	}
	if n := cw.count("/oauth2/token"); n != 2 {
		t.Errorf("%d token requests; want 2", n)
	}

	// Wrong credentials: a 401 that names them, not the secret.
	c, _ = newClient(t, srv.URL, &httpapi.ClientOptions{ClientID: "client-1", ClientSecret: "wrong-secret-123"})
	_, err := c.Feed(t.Context(), 0, 0)
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Path != "/oauth2/token" || !strings.Contains(err.Error(), "invalid client credentials") {
		t.Errorf("Feed with a wrong secret = %v; want a 401 of the token endpoint", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-123") {
		t.Errorf("the error %q shows the secret", err)
	}
}

// TestClientErrors: every refusal is an *APIError with the server's
// status, message and index, which errors.Is the basket package's
// sentinel.
func TestClientErrors(t *testing.T) {
	h := start(t, func(_ *basket.Options, o *httpapi.Options) { o.MaxBatch = 3 })
	h.abandon("b-1", t0.Add(-time.Hour), "", "ann@example.com")
	c, _ := newClient(t, h.url, nil)
	ctx := t.Context()
	created := evCreated("b-9", t0.Add(-time.Minute), "")
	tests := []struct {
		name    string
		call    func(*httpapi.Client) error
		status  int
		index   int
		is      error
		message string
	}{
		{"invalid event", func(c *httpapi.Client) error {
			_, err := c.Ingest(ctx, []byte(created+"\n"+evEmail("b-9", t0.Add(-time.Minute), "not-an-email")))
			return err
		}, 400, 1, basket.ErrInvalidEvent, "invalid event: event 1: email"},
		{"unknown basket", func(c *httpapi.Client) error {
			_, err := c.Ingest(ctx, []byte(created+"\n"+evCompleted("nobody", t0.Add(-time.Minute))))
			return err
		}, 409, 1, basket.ErrUnknownBasket, "conflict: event 1"},
		{"created again, differently", func(c *httpapi.Client) error {
			_, err := c.Ingest(ctx, []byte(evCreated("b-1", t0.Add(-time.Hour), "other-tag")))
			return err
		}, 409, 0, basket.ErrConflict, "conflict: event 0"},
		{"too large", func(c *httpapi.Client) error {
			_, err := c.Ingest(ctx, []byte(strings.Repeat(created+"\n", 4)))
			return err
		}, 413, -1, nil, "more than 3 events in one batch"},
		{"wrong token", func(*httpapi.Client) error {
			c, _ := newClient(t, h.url, &httpapi.ClientOptions{Token: "wrong-token-0123456789"})
			_, err := c.Feed(ctx, 0, 0)
			return err
		}, 401, -1, nil, "invalid bearer token"},
		{"tampered cursor", func(c *httpapi.Client) error {
			_, err := c.Abandoned(ctx, basket.Query{Cursor: "AAAA"})
			return err
		}, 400, -1, basket.ErrInvalidCursor, "queryMore:"},
		{"filters beside a cursor", func(c *httpapi.Client) error {
			h.abandon("b-2", t0.Add(-2*time.Minute), "web", "bo@example.com")
			h.abandon("b-3", t0.Add(-time.Minute), "web", "cy@example.com")
			p, err := c.Abandoned(ctx, basket.Query{Limit: 1, Tag: "web"})
			if err != nil || p.Cursor == "" {
				return fmt.Errorf("no cursor: %v", err)
			}
			_, err = c.Abandoned(ctx, basket.Query{Cursor: p.Cursor, Tag: "app"})
			return err
		}, 400, -1, basket.ErrCursorMismatch, "tag: differs"},
		{"bad query", func(c *httpapi.Client) error {
			_, err := c.Abandoned(ctx, basket.Query{CreatedAfter: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)})
			return err
		}, 400, -1, basket.ErrInvalidQuery, "createdAfter: not an ISO-8601"},
		{"no such endpoint", func(*httpapi.Client) error {
			c, _ := newClient(t, h.url+"/elsewhere", nil)
			_, err := c.Feed(ctx, 0, 0)
			return err
		}, 404, -1, basket.ErrNotFound, "no such endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(c)
			var ae *httpapi.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v; want an *APIError", err)
			}
			if ae.Status != tc.status || ae.Index != tc.index || !strings.Contains(ae.Message, tc.message) {
				t.Errorf("err = %+v; want status %d, index %d, a message with %q", ae, tc.status, tc.index, tc.message)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if tc.is == nil && ae.Unwrap() != nil {
				t.Errorf("err unwraps to %v; want nothing", ae.Unwrap())
			}
			for _, secret := range []string{testToken, "wrong-token-0123456789", "not-an-email"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("err %q shows %q", err, secret)
				}
			}
		})
	}
}

// TestClientHidesSecrets: what a server (or a proxy before it) says is
// cleaned of emails and of the client's token, and a failed exchange does
// not show the URL, whose query may hold an email.
func TestClientHidesSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"message":"no basket for ann@example.com (token `+testToken+`)\u0000 <bob@example.org>"}`)
	}))
	defer srv.Close()
	c, _ := newClient(t, srv.URL, nil)
	_, err := c.Customer(t.Context(), "ann@example.com")
	if err == nil {
		t.Fatal("Customer = nil; want an error")
	}
	want := "server answered 400: no basket for [email] (token [redacted])  <[email]>"
	if err.Error() != want {
		t.Errorf("err = %q; want %q", err, want)
	}
	srv.Close()
	_, err = c.Customer(t.Context(), "ann@example.com")
	if err == nil || strings.Contains(err.Error(), "ann") || strings.Contains(err.Error(), "example.com") || !strings.Contains(err.Error(), "GET /api/checkout/customer: no answer") {
		t.Errorf("Customer with the server gone = %v; want no answer, without the address", err)
	}
}

// TestClientHealth: the probe asks once and says why a node does not
// serve.
func TestClientHealth(t *testing.T) {
	for _, tc := range []struct {
		message string
		is      error
	}{
		{"catching up with the cluster's log", basket.ErrCatchingUp},
		{"storage failed: the server takes no writes until it is restarted", basket.ErrStorage},
		{"shutting down", basket.ErrClosed},
		{"this node disagrees with the cluster's log and stopped serving", basket.ErrDiverged},
	} {
		var n atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `{"message":%q}`, tc.message)
		}))
		c, _ := newClient(t, srv.URL, nil)
		_, err := c.Health(t.Context())
		if !errors.Is(err, tc.is) || n.Load() != 1 {
			t.Errorf("Health = %v after %d requests; want %v after 1", err, n.Load(), tc.is)
		}
		srv.Close()
	}
}

// TestClientSuppression: the address travels in a JSON body, never in the
// URL; the answer is decoded.
func TestClientSuppression(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Email string `json:"email"`
		}
		err := json.NewDecoder(r.Body).Decode(&req)
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/api/checkout/suppression" || r.URL.RawQuery != "" ||
			r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer "+testToken || err != nil:
			t.Errorf("%s %s?%s (%s), %v; want a POST of JSON with the token", r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), err)
			w.WriteHeader(http.StatusBadRequest)
		case req.Email == "gone@example.com":
			io.WriteString(w, `{"suppressed":true,"token":"tok-gone"}`)
		case req.Email == "broken@example.com":
			io.WriteString(w, `{"token":"x"}`)
		default:
			io.WriteString(w, `{"suppressed":false,"token":"tok-other"}`)
		}
	}))
	defer srv.Close()
	c, _ := newClient(t, srv.URL, nil)
	for _, tc := range []struct {
		email      string
		suppressed bool
		token      string
	}{{"gone@example.com", true, "tok-gone"}, {"Ann@Example.com", false, "tok-other"}} {
		sup, tok, err := c.Suppression(t.Context(), tc.email)
		if err != nil || sup != tc.suppressed || tok != tc.token {
			t.Errorf("Suppression(%q) = %v, %q, %v; want %v, %q", tc.email, sup, tok, err, tc.suppressed, tc.token)
		}
	}
	if _, _, err := c.Suppression(t.Context(), "broken@example.com"); !errors.Is(err, httpapi.ErrBadAnswer) {
		t.Errorf("Suppression with a bad answer = %v; want ErrBadAnswer", err)
	}
	before := calls.Load()
	if _, _, err := c.Suppression(t.Context(), "no address"); err == nil || strings.Contains(err.Error(), "no address") || calls.Load() != before {
		t.Errorf("Suppression(invalid) = %v; want an error without the value, and no request", err)
	}
}

// TestClientSuppressionServer asks the real endpoint: an address the
// engine suppressed is, another is not, and each has its unsubscribe
// token.
func TestClientSuppressionServer(t *testing.T) {
	h := start(t, nil)
	if err := h.eng.Suppress(t.Context(), "Gone@Example.com"); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, h.url, nil)
	for _, tc := range []struct {
		email      string
		suppressed bool
	}{{"gone@example.com", true}, {"ann@example.com", false}} {
		sup, tok, err := c.Suppression(t.Context(), tc.email)
		if err != nil || sup != tc.suppressed || tok == "" {
			t.Errorf("Suppression(%q) = %v, %q, %v; want %v and a token", tc.email, sup, tok, err, tc.suppressed)
		}
		if addr, err := h.eng.UnsubscribeAddress(tok); err != nil || addr != tc.email {
			t.Errorf("the token of %q is the unsubscribe token of %q, %v", tc.email, addr, err)
		}
	}
	if strings.Contains(h.logs.String(), "example.com") {
		t.Errorf("the access log shows an address:\n%s", h.logs.String())
	}
}

// TestNewClient: bad options are refused, naming what is wrong.
func TestNewClient(t *testing.T) {
	for _, tc := range []struct {
		urls string
		opts *httpapi.ClientOptions
		want string
	}{
		{"ftp://x", nil, "want an http(s) URL"},
		{"127.0.0.1:8080", nil, "want an http(s) URL"},
		{"http://a:1,", nil, "URL 2 of 2"},
		{"http://user:pw@host", nil, "holds credentials"},
		{"http://host/?email=x", nil, "without a query"},
		{"http://host", &httpapi.ClientOptions{Token: "a\nb"}, "Token holds a control character"},
		{"http://host", &httpapi.ClientOptions{Token: "t", ClientID: "c", ClientSecret: "s"}, "not both"},
		{"http://host", &httpapi.ClientOptions{ClientID: "c"}, "go together"},
		{"http://host", &httpapi.ClientOptions{MinBackoff: time.Second, MaxBackoff: time.Millisecond}, "not a range"},
		{"http://host", &httpapi.ClientOptions{IngestPath: "events"}, "IngestPath"},
	} {
		_, err := httpapi.NewClient(tc.urls, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewClient(%q, %+v) = %v; want an error with %q", tc.urls, tc.opts, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("NewClient(%q) = %v shows the password", tc.urls, err)
		}
	}
	c, err := httpapi.NewClient(" http://a:1/ , https://b/base/", nil)
	if err != nil || !slices.Equal(c.URLs(), []string{"http://a:1", "https://b/base"}) {
		t.Errorf("NewClient(two) = %v, %v", c.URLs(), err)
	}
}

// TestClientStopsOnCancel: a cancelled context ends the retries.
func TestClientStopsOnCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	c, err := httpapi.NewClient(srv.URL, &httpapi.ClientOptions{Token: testToken, Retries: 100,
		Sleep: func(ctx context.Context, d time.Duration) error { cancel(); <-ctx.Done(); return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Feed(ctx, 0, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Feed cancelled while waiting = %v; want context.Canceled", err)
	}
}
