package campaign

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
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
