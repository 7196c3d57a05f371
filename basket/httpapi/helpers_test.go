package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// testToken is the static API token of every test server.
const testToken = "test-token-0123456789"

// t0 is the start of the test clock; events happen shortly before.
var t0 = time.Date(2024, 3, 27, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for the engine.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a real server on a loopback port over an engine with a test
// clock.
type harness struct {
	t      *testing.T
	eng    *basket.Engine
	clk    *clock
	srv    *httpapi.Server
	url    string
	logs   *syncBuffer
	client *http.Client
}

// start runs a server; configure, if not nil, adjusts the options first.
// The server stops, and the engine's invariants are checked, at cleanup.
func start(t *testing.T, configure func(*basket.Options, *httpapi.Options)) *harness {
	t.Helper()
	clk := &clock{t: t0}
	bo := &basket.Options{
		Now:             clk.Now,
		RecoverySecrets: [][]byte{[]byte("test-secret-0123456789abcdef")},
		Alias:           "test.example",
	}
	logs := &syncBuffer{}
	ho := &httpapi.Options{
		APITokens:    []string{testToken},
		OAuthClients: map[string]string{"client-1": "secret-1-abcdefgh"},
		Now:          clk.Now,
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
	}
	if configure != nil {
		configure(bo, ho)
	}
	eng, err := basket.New(bo)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(eng, ho)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	h := &harness{
		t: t, eng: eng, clk: clk, srv: srv, logs: logs,
		url: "http://" + ln.Addr().String(),
		client: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       30 * time.Second,
		},
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := eng.Check(); err != nil {
			t.Errorf("engine invariants: %v", err)
		}
		eng.Close()
	})
	return h
}

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return v
}

// message returns the body's "message".
func (r *response) message(t *testing.T) string {
	t.Helper()
	m, _ := r.json(t)["message"].(string)
	return m
}

// do sends a request; token "" sends none.
func (h *harness) do(method, path, token, contentType string, body io.Reader) *response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *harness) get(path string) *response {
	h.t.Helper()
	return h.do(http.MethodGet, path, testToken, "", nil)
}

// ingest posts events (JSON lines) as NDJSON and fails the test unless
// they are applied.
func (h *harness) ingest(lines ...string) {
	h.t.Helper()
	r := h.do(http.MethodPost, "/api/baskets/events", testToken, "application/x-ndjson",
		strings.NewReader(strings.Join(lines, "\n")))
	if r.status != http.StatusOK {
		h.t.Fatalf("ingest: %d %s", r.status, r.body)
	}
}

// token obtains an OAuth2 access token.
func (h *harness) token(scope string) string {
	h.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"client-1"}, "client_secret": {"secret-1-abcdefgh"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	r := h.do(http.MethodPost, "/oauth2/token", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if r.status != http.StatusOK {
		h.t.Fatalf("token: %d %s", r.status, r.body)
	}
	return r.json(h.t)["access_token"].(string)
}

// Event builders, as JSON lines.

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func evCreated(id string, at time.Time, tag string) string {
	tracking := "{}"
	if tag != "" {
		tracking = fmt.Sprintf(`{"tag":%q}`, tag)
	}
	return fmt.Sprintf(`{"type":"created","basketId":%q,"at":%q,"entry":"/checkout",`+
		`"orderItems":[{"name":"The Offer","path":"/offers2/The Offer","products":[{"path":"/products/Digital All Access","productCode":"SKU-00000001"}]}],`+
		`"tracking":%s}`, id, ts(at), tracking)
}

func evEmail(id string, at time.Time, email string) string {
	return fmt.Sprintf(`{"type":"emailCaptured","basketId":%q,"at":%q,"email":%q}`, id, ts(at), email)
}

func evCompleted(id string, at time.Time) string {
	return fmt.Sprintf(`{"type":"completed","basketId":%q,"at":%q}`, id, ts(at))
}

// abandon ingests a basket that is abandoned at once.
func (h *harness) abandon(id string, created time.Time, tag, email string) {
	h.t.Helper()
	h.ingest(evCreated(id, created, tag), evEmail(id, created.Add(time.Second), email))
}

// page is a decoded page of the query API.
type page struct {
	Items     []map[string]any `json:"items"`
	QueryMore *struct {
		From  string `json:"from"`
		Alias string `json:"alias"`
	} `json:"queryMore"`
	Total *int   `json:"total"`
	Next  string `json:"next"`
}

func (h *harness) page(path string) page {
	h.t.Helper()
	r := h.get(path)
	if r.status != http.StatusOK {
		h.t.Fatalf("GET %s = %d %s", path, r.status, r.body)
	}
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return p
}

// ids returns the ids of a page's items.
func ids(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i], _ = it["id"].(string)
	}
	return out
}

// walk pages through a query to its end and returns every id.
func (h *harness) walk(params url.Values) []string {
	h.t.Helper()
	var all []string
	for range 10_000 {
		p := h.page("/api/checkout/abandoned?" + params.Encode())
		all = append(all, ids(p.Items)...)
		if p.QueryMore == nil {
			return all
		}
		params.Set("queryMore", p.QueryMore.From)
	}
	h.t.Fatal("walk did not end")
	return nil
}
