package campaign

import (
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// TestClosedEngineForgetsNothing: a closed engine is not an empty one, so
// Settle fails with basket.ErrClosed and the runner keeps every basket it
// watches.
func TestClosedEngineForgetsNothing(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.clock.Add(time.Minute)
	f.tick()
	for _, id := range []string{"b-1", "b-2", "b-3"} {
		f.basket(id, id+"@example.com", nil)
	}
	f.run(2*time.Hour, 10*time.Minute)
	before := f.r.Report()
	if before.Running != 3 || before.Watched != 3 {
		t.Fatalf("before Close: running %d, watched %d; want 3 and 3", before.Running, before.Watched)
	}
	if err := f.eng.Close(); err != nil {
		t.Fatal(err)
	}
	err := f.r.Settle(t.Context(), f.clock.Now())
	if !errors.Is(err, basket.ErrClosed) {
		t.Fatalf("Settle after the engine's Close = %v; want basket.ErrClosed", err)
	}
	if _, err := f.r.Tick(t.Context(), f.clock.Now().Add(24*time.Hour)); !errors.Is(err, basket.ErrClosed) {
		t.Fatalf("Tick after the engine's Close = %v; want basket.ErrClosed", err)
	}
	if after := f.r.Report(); after.Running != before.Running || after.Watched != before.Watched || after.Total.Sent != before.Total.Sent {
		t.Fatalf("after Close: running %d, watched %d, sent %d; want %d, %d, %d", after.Running, after.Watched,
			after.Total.Sent, before.Running, before.Watched, before.Total.Sent)
	}
}

// TestServerGoneForgetsNothing: over HTTP, a server that went away makes a
// turn fail; the runner keeps every basket it watches and sends nothing.
func TestServerGoneForgetsNothing(t *testing.T) {
	f := newFixture(t, nil, nil)
	api, err := httpapi.New(f.eng, &httpapi.Options{APITokens: []string{"campaign-test-token"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	snd := &memSender{}
	r, err := New(&HTTPSource{BaseURL: srv.URL, Token: "campaign-test-token", Retries: -1}, snd,
		&Options{ShopURL: "shop.example.com", Tokens: f.eng})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r, f.snd = r, snd
	f.clock.Add(time.Minute)
	f.tick()
	for _, id := range []string{"b-1", "b-2", "b-3"} {
		f.basket(id, id+"@example.com", nil)
	}
	f.run(2*time.Hour, 10*time.Minute)
	before := r.Report()
	if before.Running != 3 || before.Watched != 3 || before.Total.Sent != 3 {
		t.Fatalf("before the server went: running %d, watched %d, sent %d; want 3, 3, 3", before.Running, before.Watched, before.Total.Sent)
	}
	srv.Close()
	if err := r.Settle(t.Context(), f.clock.Now()); err != nil {
		t.Fatalf("Settle with the server gone = %v; want nil: it cannot look baskets up by id and forgets none before Watch", err)
	}
	if _, err := r.Tick(t.Context(), f.clock.Now().Add(24*time.Hour)); err == nil {
		t.Fatal("Tick with the server gone = nil; want an error")
	}
	if after := r.Report(); after.Running != before.Running || after.Watched != before.Watched || after.Total.Sent != before.Total.Sent {
		t.Fatalf("with the server gone: running %d, watched %d, sent %d; want %d, %d, %d", after.Running, after.Watched,
			after.Total.Sent, before.Running, before.Watched, before.Total.Sent)
	}
}

// TestServerRestartedEmpty: a campaign over HTTP keeps its checkpoint when
// the server restarts without a data directory; the new server's positions
// start above it, so the campaign mails the new abandonments too.
func TestServerRestartedEmpty(t *testing.T) {
	f := newFixture(t, nil, nil)
	serve := func(eng *basket.Engine) *httptest.Server {
		api, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{"campaign-test-token"}})
		if err != nil {
			t.Fatal(err)
		}
		return httptest.NewServer(api)
	}
	srv := serve(f.eng)
	src := &HTTPSource{BaseURL: srv.URL, Token: "campaign-test-token", Retries: -1}
	snd := &memSender{}
	r, err := New(src, snd, &Options{ShopURL: "shop.example.com", Tokens: f.eng})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r, f.snd = r, snd
	f.clock.Add(time.Minute)
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.basket("b-2", "bob@example.com", nil)
	f.run(2*time.Hour, 10*time.Minute)
	if got := len(snd.messages()); got != 2 {
		t.Fatalf("before the restart %d messages; want 2", got)
	}
	// The server restarts, empty, a moment later.
	srv.Close()
	f.clock.Add(time.Second)
	eng, err := basket.New(&basket.Options{Now: f.clock.Now, RecoverySecrets: [][]byte{btest.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv = serve(eng)
	defer srv.Close()
	src.BaseURL = srv.URL
	f.eng = eng
	f.basket("c-1", "cy@example.com", nil)
	f.basket("c-2", "di@example.com", nil)
	f.run(2*time.Hour, 10*time.Minute)
	var firsts []string
	for _, m := range snd.messages() {
		if m.Step == 1 {
			firsts = append(firsts, m.BasketID)
		}
	}
	if want := []string{"b-1", "b-2", "c-1", "c-2"}; !slices.Equal(firsts, want) {
		t.Fatalf("first messages = %v; want %v", firsts, want)
	}
}

// TestHTTPSourceNodes: with the URLs of several nodes, a source whose node
// goes away reads from the next, and the campaign goes on without a
// duplicate or a gap.
func TestHTTPSourceNodes(t *testing.T) {
	f := newFixture(t, nil, nil)
	api, err := httpapi.New(f.eng, &httpapi.Options{APITokens: []string{"campaign-test-token"}})
	if err != nil {
		t.Fatal(err)
	}
	// Two servers over one engine stand for two nodes of a cluster.
	first, second := httptest.NewServer(api), httptest.NewServer(api)
	defer second.Close()
	snd := &memSender{}
	r, err := New(&HTTPSource{BaseURL: first.URL + "," + second.URL, Token: "campaign-test-token", Retries: -1}, snd,
		&Options{ShopURL: "shop.example.com", Tokens: f.eng})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r, f.snd = r, snd
	f.clock.Add(time.Minute)
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.run(2*time.Hour, 10*time.Minute)
	first.Close() // the node goes away
	f.basket("b-2", "bob@example.com", nil)
	f.run(2*time.Hour, 10*time.Minute)
	var firsts []string
	for _, m := range snd.messages() {
		if m.Step == 1 {
			firsts = append(firsts, m.BasketID)
		}
	}
	if want := []string{"b-1", "b-2"}; !slices.Equal(firsts, want) {
		t.Fatalf("first messages = %v; want %v", firsts, want)
	}
}
