package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// liveServer runs the API on a loopback port over an engine holding n
// abandoned baskets, q-00 … (created a minute apart; even ones tagged
// "web"), and returns its URL. wrap, if not nil, wraps the handler.
func liveServer(t *testing.T, n int, wrap func(http.Handler) http.Handler) (string, *testClock) {
	t.Helper()
	clk := &testClock{t: time.Date(2024, 3, 27, 12, 0, 0, 0, time.UTC)}
	eng, err := basket.New(&basket.Options{Now: clk.Now, Alias: "q"})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 3, 26, 0, 0, 0, 0, time.UTC)
	var events []basket.Event
	for i := range n {
		id := fmt.Sprintf("q-%02d", i)
		at := base.Add(time.Duration(i) * time.Minute)
		tag := "app"
		if i%2 == 0 {
			tag = "web"
		}
		events = append(events,
			basket.Event{Type: basket.EventCreated, BasketID: id, At: at, Tracking: map[string]string{"tag": tag}},
			basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: id + "@example.com"})
	}
	if _, err := eng.Apply(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(eng, &httpapi.Options{
		APITokens:    []string{"query-token-0123456789"},
		OAuthClients: map[string]string{"cli": "cli-secret-0123456789"},
		Now:          clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		eng.Close()
	})
	return "http://" + ln.Addr().String(), clk
}

// lines decodes JSON lines into their ids, failing on a line that is not
// a JSON object.
func lines(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		var v struct {
			ID              string `json:"id"`
			CustomerDetails struct {
				Email string `json:"email"`
			} `json:"customerDetails"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.CustomerDetails.Email == "" {
			t.Fatalf("line %q is not a basket: %v", l, err)
		}
		ids = append(ids, v.ID)
	}
	return ids
}

func wantIDs(n int, keep func(int) bool) []string {
	var ids []string
	for i := range n {
		if keep == nil || keep(i) {
			ids = append(ids, fmt.Sprintf("q-%02d", i))
		}
	}
	return ids
}

func TestQueryCommand(t *testing.T) {
	u, _ := liveServer(t, 25, nil)
	withEnv(t, map[string]string{})
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"query", "-url", u, "-token", "query-token-0123456789", "-limit", "7"}, &out, &errs); err != nil {
		t.Fatalf("query = %v; stderr %s", err, errs.String())
	}
	if got := lines(t, out.String()); !slices.Equal(got, wantIDs(25, nil)) {
		t.Errorf("query wrote %v", got)
	}
	// Filters, and OAuth2 client credentials from the environment.
	withEnv(t, map[string]string{"ABANDONED_CLIENT_ID": "cli", "ABANDONED_CLIENT_SECRET": "cli-secret-0123456789"})
	out.Reset()
	err := run(context.Background(), []string{"query", "-url", u + "/", "-tag", "web", "-created-after", "2024-03-26T00:03", "-limit", "2"}, &out, &errs)
	if err != nil {
		t.Fatalf("query with client credentials = %v", err)
	}
	if got, want := lines(t, out.String()), wantIDs(25, func(i int) bool { return i%2 == 0 && i > 3 }); !slices.Equal(got, want) {
		t.Errorf("filtered query wrote %v; want %v", got, want)
	}
}

func TestQueryCommandErrors(t *testing.T) {
	u, _ := liveServer(t, 3, nil)
	withEnv(t, map[string]string{})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-url", u, "-token", "wrong"}, "401: invalid bearer token"},
		{[]string{"-url", u, "-token", "query-token-0123456789", "-created-after", "soon"}, "-created-after: not an ISO-8601"},
		{[]string{"-url", u, "-client-id", "cli", "-client-secret", "wrong-secret"}, "401: invalid client credentials"},
		{[]string{"-url", u}, "give an API token (-token or ABANDONED_API_TOKEN)"},
		{[]string{"-url", u, "-token", "t", "-limit", "0"}, "-limit"},
		{[]string{"-url", "ftp://x", "-token", "t"}, "-url"},
		{[]string{"-url", u + ",http://user:pw@x", "-token", "t"}, "-url: URL 2 of 2: holds credentials"},
		{[]string{"-url", u, "-token", "t", "-email", "not an address"}, "-email: "},
	} {
		var out, errs bytes.Buffer
		err := run(context.Background(), append([]string{"query", "-retries", "0"}, tt.args...), &out, &errs)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("query %q = %v; want an error mentioning %q", tt.args, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("error repeats the secret: %v", err)
		}
		if out.Len() != 0 {
			t.Errorf("query %q wrote %q", tt.args, out.String())
		}
	}
}

// TestQueryRetries runs the client through a proxy that fails requests in
// every way it retries: 503s, 429s and dropped connections. The output
// holds every basket once, in order.
func TestQueryRetries(t *testing.T) {
	var n atomic.Int64
	u, _ := liveServer(t, 40, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch n.Add(1) % 4 {
			case 1:
				http.Error(w, `{"message":"try later"}`, http.StatusServiceUnavailable)
			case 2:
				w.Header().Set("Retry-After", "0")
				http.Error(w, `{"message":"slow down"}`, http.StatusTooManyRequests)
			case 3:
				// Drop the connection without an answer.
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
			default:
				h.ServeHTTP(w, r)
			}
		})
	})
	cfg := queryConfig{url: u, limit: 6, retries: 5, timeout: 10 * time.Second, backoff: time.Millisecond, maxBackoff: 5 * time.Millisecond}
	cfg.token.v = "query-token-0123456789"
	var out bytes.Buffer
	if err := query(context.Background(), &cfg, &out); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, out.String()); !slices.Equal(got, wantIDs(40, nil)) {
		t.Errorf("query through failures wrote %v", got)
	}
	// Retries are bounded.
	u2, _ := liveServer(t, 1, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	})
	cfg.url, cfg.retries = u2, 2
	err := query(context.Background(), &cfg, &out)
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 tries") {
		t.Errorf("query against a dead server = %v; want giving up after 3 tries", err)
	}
}

// TestQueryRenewsToken lets the access token expire in the middle of a
// walk: the client obtains a new one and goes on.
func TestQueryRenewsToken(t *testing.T) {
	var clk *testClock
	var pages atomic.Int64
	u, c := liveServer(t, 10, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.URL.Path == "/api/checkout/abandoned" && pages.Add(1) == 2 {
				clk.Advance(2 * time.Hour) // every token issued so far has expired
			}
		})
	})
	clk = c
	cfg := queryConfig{url: u, clientID: "cli", limit: 3, retries: 1, timeout: 10 * time.Second, backoff: time.Millisecond, maxBackoff: time.Millisecond}
	cfg.clientSecret.v = "cli-secret-0123456789"
	var out bytes.Buffer
	if err := query(context.Background(), &cfg, &out); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, out.String()); !slices.Equal(got, wantIDs(10, nil)) {
		t.Errorf("query across a token expiry wrote %v", got)
	}
}

// TestQueryStopsOnCancel checks that a cancelled context stops the client
// between retries.
func TestQueryStopsOnCancel(t *testing.T) {
	u, _ := liveServer(t, 1, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := queryConfig{url: u, limit: 5, retries: 100, timeout: time.Second, backoff: time.Hour, maxBackoff: time.Hour}
	cfg.token.v = "query-token-0123456789"
	if err := query(ctx, &cfg, &bytes.Buffer{}); err == nil {
		t.Error("query with a cancelled context succeeded")
	}
}

// TestQueryProgress: on a terminal, a query of several pages draws a
// progress line on stderr, and clears it at the end; one page draws none.
func TestQueryProgress(t *testing.T) {
	u, _ := liveServer(t, 25, nil)
	for _, tc := range []struct {
		limit int
		drawn bool
	}{{7, true}, {100, false}} {
		var errb, out bytes.Buffer
		cfg := queryConfig{url: u, limit: tc.limit, retries: 1, timeout: 10 * time.Second, progress: &progress{w: &errb, on: true}}
		cfg.token.v = "query-token-0123456789"
		if err := query(context.Background(), &cfg, &out); err != nil {
			t.Fatal(err)
		}
		if got := lines(t, out.String()); !slices.Equal(got, wantIDs(25, nil)) {
			t.Errorf("query -limit %d wrote %v", tc.limit, got)
		}
		drawn := strings.HasPrefix(errb.String(), "\r[") && strings.Contains(errb.String(), " of 25 baskets  2 pages ") &&
			strings.HasSuffix(errb.String(), "\r\033[K")
		if drawn != tc.drawn || (!tc.drawn && errb.Len() != 0) {
			t.Errorf("query -limit %d drew %q; want a line: %v", tc.limit, errb.String(), tc.drawn)
		}
	}
}

func TestQueryBarLine(t *testing.T) {
	if got, want := queryBarLine(5, 20, 2, 10), "[██░░░░░░░░]  25%  5 of 20 baskets  2 pages "; got != want {
		t.Errorf("bar = %q; want %q", got, want)
	}
	if got, want := queryBarLine(5, -1, 2, 10), "5 baskets  2 pages "; got != want {
		t.Errorf("bar without a total = %q; want %q", got, want)
	}
}

// TestQueryNodes: with the URLs of several nodes, a node that does not
// answer is passed over.
func TestQueryNodes(t *testing.T) {
	u, _ := liveServer(t, 12, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	withEnv(t, map[string]string{"ABANDONED_API_TOKEN": "query-token-0123456789"})
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"query", "-url", dead + "," + u, "-limit", "5", "-retries", "0"}, &out, &errs); err != nil {
		t.Fatalf("query = %v; stderr %s", err, errs.String())
	}
	if got := lines(t, out.String()); !slices.Equal(got, wantIDs(12, nil)) {
		t.Errorf("query over two nodes wrote %v", got)
	}
}
