package simulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// ingestServer is a small stand-in for the ingest endpoint (POST
// /api/baskets/events): it decodes an NDJSON or JSON-array body into events
// and applies them to an engine as one batch.
type ingestServer struct {
	eng   *basket.Engine
	token string
	// fault, if set, may answer a request (by its number, from 1) instead
	// of the server: before applying (apply false) or after (apply true,
	// as when the answer is lost).
	fault func(n int) (status int, apply bool)

	mu       sync.Mutex // guards requests
	requests int
}

func (s *ingestServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if r.Method != http.MethodPost || r.URL.Path != IngestPath {
		reply(http.StatusNotFound, map[string]string{"message": "not found"})
		return
	}
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		w.Header().Set("WWW-Authenticate", "Bearer")
		reply(http.StatusUnauthorized, map[string]string{"message": "missing or unknown token"})
		return
	}
	s.mu.Lock()
	s.requests++
	n := s.requests
	s.mu.Unlock()
	status, applyFirst := 0, false
	if s.fault != nil {
		status, applyFirst = s.fault(n)
	}
	if status != 0 && !applyFirst {
		reply(status, map[string]string{"message": "try later"})
		return
	}
	events, idx, err := decodeEvents(r)
	if err != nil {
		reply(http.StatusBadRequest, map[string]any{"message": err.Error(), "index": idx})
		return
	}
	res, err := s.eng.Apply(r.Context(), events...)
	var te *basket.TransitionError
	var ee *basket.EventError
	switch {
	case errors.As(err, &ee):
		reply(http.StatusBadRequest, map[string]any{"message": ee.Error(), "index": ee.Index})
		return
	case errors.As(err, &te):
		reply(http.StatusConflict, map[string]any{"message": te.Error(), "index": te.Index})
		return
	case err != nil:
		reply(http.StatusInternalServerError, map[string]string{"message": "internal error"})
		return
	}
	if status != 0 {
		reply(status, map[string]string{"message": "lost answer"})
		return
	}
	reply(http.StatusOK, map[string]int{"applied": res.Applied})
}

func decodeEvents(r *http.Request) ([]basket.Event, int, error) {
	br := bufio.NewReader(r.Body)
	var events []basket.Event
	if b, err := br.Peek(1); err == nil && b[0] == '[' {
		err := json.NewDecoder(br).Decode(&events)
		return events, 0, err
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev basket.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, len(events), fmt.Errorf("line %d: %v", len(events)+1, err)
		}
		events = append(events, ev)
	}
	return events, len(events), sc.Err()
}

func newEngine(t testing.TB, now func() time.Time) *basket.Engine {
	t.Helper()
	eng, err := basket.New(&basket.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.Check(); err != nil {
			t.Errorf("engine invariants: %v", err)
		}
		eng.Close()
	})
	return eng
}

func stateOf(t testing.TB, eng *basket.Engine) basket.Stats {
	st := mustStats(t, eng)
	st.LastPosition = 0 // feed positions count re-abandonments, which batching changes
	return st
}

// TestReplayJSONL writes a run's events as JSON lines, posts the file to an
// NDJSON ingest endpoint in one request (as curl --data-binary @file does)
// into a second engine, and checks that both engines hold the same
// abandoned baskets: through the real HTTP API, and through a minimal
// stand-in that only decodes and applies.
func TestReplayJSONL(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 5
	sc.Rate = float64(big(300, 60))
	var file bytes.Buffer
	rep, eng := runEngine(t, sc, 77, nil, NewJSONLSink(&file))
	if rep.Funnel.AbandonedContactable == 0 {
		t.Fatal("nothing abandoned; the test proves nothing")
	}
	if got := int64(bytes.Count(file.Bytes(), []byte("\n"))); got != rep.Events {
		t.Fatalf("the file has %d lines for %d events", got, rep.Events)
	}
	want := abandonedSet(t, eng)
	servers := []struct {
		name   string
		handle func(t *testing.T, replayed *basket.Engine) http.Handler
	}{
		{"httpapi", func(t *testing.T, replayed *basket.Engine) http.Handler {
			srv, err := httpapi.New(replayed, &httpapi.Options{APITokens: []string{"replay-token-0123456789"}, MaxBody: 1 << 30})
			if err != nil {
				t.Fatal(err)
			}
			return srv
		}},
		{"stand-in", func(t *testing.T, replayed *basket.Engine) http.Handler {
			return &ingestServer{eng: replayed, token: "replay-token-0123456789"}
		}},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			end := NewClock(rep.End)
			replayed := newEngine(t, end.Now)
			srv := httptest.NewServer(s.handle(t, replayed))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+IngestPath, bytes.NewReader(file.Bytes()))
			req.Header.Set("Authorization", "Bearer replay-token-0123456789")
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var ans struct {
				Applied int64  `json:"applied"`
				Message string `json:"message"`
			}
			json.NewDecoder(resp.Body).Decode(&ans)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || ans.Applied != rep.Events {
				t.Fatalf("POST = %d %+v; want 200 and %d applied", resp.StatusCode, ans, rep.Events)
			}
			if got := abandonedSet(t, replayed); !slices.Equal(want, got) {
				t.Fatalf("in process and replayed differ: %s", diffSets(want, got))
			}
			if sa, sb := stateOf(t, eng), stateOf(t, replayed); sa != sb {
				t.Errorf("Stats: in process %+v, replayed %+v", sa, sb)
			}
		})
	}
}

// TestHTTPSink feeds a server through the HTTP sink, in batches, and checks
// that it ends with the same abandoned baskets as the engine fed in
// process by the same seed: also when the server fails some requests, and
// loses the answer of others after applying them.
func TestHTTPSink(t *testing.T) {
	tests := []struct {
		name    string
		erasure bool // also itemsChanged; see "faults"
		fault   func(n int) (int, bool)
	}{
		{"clean", true, nil},
		// A lost answer makes the sink send a batch again. Re-sending is
		// harmless (idempotent events), but two cases are not, so this case runs
		// without them: an erasure followed, in the same batch, by the
		// same customer's new basket (the second erasure takes it too), and
		// a created event re-sent after an itemsChanged (the engine
		// compares it with the basket's current items, not those it was
		// created with, and refuses it as a conflict).
		{"faults", false, func(n int) (int, bool) {
			switch {
			case n%5 == 0:
				return http.StatusServiceUnavailable, false
			case n%7 == 0:
				return http.StatusBadGateway, true
			case n%11 == 0:
				return http.StatusTooManyRequests, false
			}
			return 0, false
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := DefaultScenario()
			sc.Days = 3
			sc.Rate = float64(big(300, 60))
			if !tc.erasure {
				sc.Erasure.Share = 0
				sc.ItemsChanged = 0
			}
			_, inProcess := runEngine(t, sc, 1234, nil)

			clock := NewClock(sc.Start)
			server := newEngine(t, clock.Now)
			is := &ingestServer{eng: server, token: "tok-123", fault: tc.fault}
			srv := httptest.NewServer(is)
			defer srv.Close()
			sink, err := NewHTTPSink(srv.URL, &HTTPOptions{Token: "tok-123", BatchSize: 700, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			sim, err := New(&Options{Scenario: &sc, Seed: 1234, Clock: clock, Sink: sink})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := sim.Run(t.Context())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			posts, tries, events := sink.Stats()
			t.Logf("%d events in %d posts, %d tries", events, posts, tries)
			if events != rep.Events {
				t.Errorf("the server accepted %d events; the run made %d", events, rep.Events)
			}
			if tc.fault != nil && tries <= posts {
				t.Errorf("%d tries for %d posts; want retries", tries, posts)
			}
			if tc.fault == nil && tries != posts {
				t.Errorf("%d tries for %d posts; want no retry", tries, posts)
			}
			a, b := abandonedSet(t, inProcess), abandonedSet(t, server)
			if len(a) == 0 || !slices.Equal(a, b) {
				t.Fatalf("in process and over HTTP differ: %s", diffSets(a, b))
			}
		})
	}
}

func TestHTTPSinkErrors(t *testing.T) {
	ev := []basket.Event{{Type: basket.EventCreated, BasketID: "b-1", At: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}}
	tests := []struct {
		name      string
		status    int
		body      string
		header    map[string]string
		tries     int64
		wantInErr []string
		index     int
	}{
		{"bad event", 400, `{"message":"event 0: email: empty email","index":0}`, nil, 1, []string{"HTTP 400", "empty email", "event 0 of the batch"}, 0},
		{"conflict", 409, `{"message":"basket already completed","index":0}`, nil, 1, []string{"HTTP 409", "already completed"}, 0},
		{"unauthorised", 401, `{"message":"missing or unknown token"}`, nil, 1, []string{"HTTP 401", "unknown token"}, -1},
		{"too large", 413, ``, nil, 1, []string{"HTTP 413", "Request Entity Too Large"}, -1},
		{"always unavailable", 503, `{"message":"busy"}`, nil, 3, []string{"after 3 tries", "HTTP 503", "busy"}, -1},
		{"rate limited", 429, `{"message":"slow down"}`, map[string]string{"Retry-After": "1"}, 3, []string{"HTTP 429"}, -1},
		{"not JSON", 500, `<html>oops</html>`, nil, 3, []string{"HTTP 500", "Internal Server Error"}, -1},
		{"wrong count", 200, `{"applied":7}`, nil, 1, []string{"applied 7 of 1"}, -1},
		{"no count", 200, `{}`, nil, 1, []string{`not {"applied":N}`}, -1},
		{"control characters", 400, "{\"message\":\"bad\\u0000\\nthing\"}", nil, 1, []string{"bad  thing"}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var auth []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				auth = append(auth, r.Header.Get("Authorization"))
				mu.Unlock()
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			sink, err := NewHTTPSink(srv.URL+"/", &HTTPOptions{Token: "secret-token", MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if err := sink.Write(t.Context(), ev); err != nil {
				t.Fatalf("Write = %v; want it buffered", err)
			}
			err = sink.Flush(t.Context())
			if err == nil {
				t.Fatal("Flush succeeded; want an error")
			}
			for _, s := range tc.wantInErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Flush = %q; want it to contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Errorf("the error %q shows the token", err)
			}
			var ie *IngestError
			if !errors.As(err, &ie) || ie.Index != tc.index {
				t.Errorf("Flush = %#v; want an *IngestError with Index %d", err, tc.index)
			}
			_, tries, events := sink.Stats()
			if tries != tc.tries || events != 0 {
				t.Errorf("tries %d, events %d; want %d tries, 0 events", tries, events, tc.tries)
			}
			for _, a := range auth {
				if a != "Bearer secret-token" {
					t.Errorf("Authorization = %q; want the bearer token", a)
				}
			}
		})
	}
}

func TestHTTPSinkNetworkErrorAndCancel(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	ev := []basket.Event{{Type: basket.EventCreated, BasketID: "b-1", At: time.Now()}}

	sink, err := NewHTTPSink(url, &HTTPOptions{MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = sink.Write(t.Context(), ev)
	var ie *IngestError
	if !errors.As(err, &ie) || ie.Status != 0 || !strings.Contains(err.Error(), "after 2 tries") {
		t.Fatalf("Write = %v; want a network *IngestError after 2 tries", err)
	}

	// Cancelled while waiting to retry.
	sink, _ = NewHTTPSink(url, &HTTPOptions{MaxAttempts: 10, MinBackoff: time.Hour, MaxBackoff: time.Hour, BatchSize: 1})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	if err := sink.Write(ctx, ev); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write = %v; want context.Canceled", err)
	}
}

// TestHTTPSinkNodes: with the URLs of two nodes, a batch that finds the
// first gone goes to the second, and the next batches stay there.
func TestHTTPSinkNodes(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	eng := newEngine(t, time.Now)
	is := &ingestServer{eng: eng, token: "tok-123"}
	srv := httptest.NewServer(is)
	defer srv.Close()
	sink, err := NewHTTPSink(gone.URL+","+srv.URL, &HTTPOptions{Token: "tok-123", BatchSize: 1, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute)
	evs := []basket.Event{
		{Type: basket.EventCreated, BasketID: "b-1", At: at, Entry: "/checkout"},
		{Type: basket.EventCreated, BasketID: "b-2", At: at, Entry: "/checkout"},
	}
	if err := sink.Write(t.Context(), evs); err != nil {
		t.Fatalf("Write = %v; want the second node to take both", err)
	}
	if posts, tries, events := sink.Stats(); posts != 2 || tries != 3 || events != 2 {
		t.Errorf("Stats = %d posts, %d tries, %d events; want 2, 3 (one to the node gone), 2", posts, tries, events)
	}
}

func TestNewHTTPSink(t *testing.T) {
	tests := []struct {
		target string
		opts   *HTTPOptions
		url    string // "" for an error
	}{
		{"http://127.0.0.1:8080", nil, "http://127.0.0.1:8080/api/baskets/events"},
		{"http://127.0.0.1:8080/", nil, "http://127.0.0.1:8080/api/baskets/events"},
		{"https://ingest.example.com/custom/path", nil, "https://ingest.example.com/custom/path"},
		{"ftp://x", nil, ""},
		{"127.0.0.1:8080", nil, ""},
		{"http://user:pw@host", nil, ""},
		{"http://host", &HTTPOptions{BatchSize: -1}, ""},
		{"http://host", &HTTPOptions{MaxAttempts: 1000}, ""},
		{"http://host", &HTTPOptions{MinBackoff: time.Second, MaxBackoff: time.Millisecond}, ""},
		{"http://host", &HTTPOptions{Token: "a\nb"}, ""},
		{"http://a:1, http://b:2/", nil, "http://a:1/api/baskets/events"},
		{"http://a:1/in,http://b:2/in", nil, "http://a:1/in"},
		{"http://a:1/in,http://b:2/", nil, ""},
		{"http://a:1,ftp://b", nil, ""},
	}
	for _, tc := range tests {
		s, err := NewHTTPSink(tc.target, tc.opts)
		switch {
		case tc.url == "" && err == nil:
			t.Errorf("NewHTTPSink(%q, %+v) = %v; want an error", tc.target, tc.opts, s.URL())
		case tc.url != "" && (err != nil || s.URL() != tc.url):
			t.Errorf("NewHTTPSink(%q) = %v, %v; want %s", tc.target, s, err, tc.url)
		}
	}
}

// TestEngineAgreesWithOracle plays 16 days (past the baskets' time to live)
// into an engine and checks its abandoned set against a plain model built
// from the event stream: contactable, not completed, not erased, not
// expired.
func TestEngineAgreesWithOracle(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 16
	sc.Rate = float64(big(100, 40))
	sc.Erasure.Share = 0.02 // enough erasures to matter
	rec := &recorder{}
	rep, eng := runEngine(t, sc, 99, nil, rec)
	type state struct {
		created           time.Time
		email             string
		contactable, done bool
	}
	baskets := map[string]*state{}
	erasures := 0
	for _, ev := range rec.events {
		b := baskets[ev.BasketID]
		switch ev.Type {
		case basket.EventCreated:
			baskets[ev.BasketID] = &state{created: ev.At}
		case basket.EventIdentified:
			b.contactable = true
			if ev.CustomerDetails != nil && ev.CustomerDetails.Email != "" {
				b.email = basket.NormalizeEmail(ev.CustomerDetails.Email)
			}
		case basket.EventEmailCaptured:
			b.contactable, b.email = true, basket.NormalizeEmail(ev.Email)
		case basket.EventCompleted:
			b.done = true
		case basket.EventErased:
			erasures++
			key := basket.NormalizeEmail(ev.Email)
			for id, x := range baskets {
				if x.email == key {
					delete(baskets, id)
				}
			}
		}
	}
	if erasures == 0 {
		t.Fatal("no erasure in the run; the test proves less than it should")
	}
	var want []string
	for id, b := range baskets {
		if b.contactable && !b.done && b.created.Add(basket.DefaultTTL).After(rep.End) {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	var got []string
	for _, line := range abandonedSet(t, eng) {
		got = append(got, strings.Fields(line)[0])
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("engine and oracle differ: %s", diffSets(got, want))
	}
	if rep.Engine.Expired == 0 {
		t.Error("no basket expired in 16 days; want the oldest gone")
	}
}
