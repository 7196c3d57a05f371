package campaign

import (
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// TestForgottenBasketNotTakenInAgain: over HTTP a basket is forgotten
// Options.Watch after its abandonment; abandoned again before its TTL, it
// is not taken in as new: its steps, and their keys, are not sent twice.
func TestForgottenBasketNotTakenInAgain(t *testing.T) {
	f := newFixture(t, nil, nil)
	api, err := httpapi.New(f.eng, &httpapi.Options{APITokens: []string{"campaign-test-token"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	snd := &memSender{}
	dir := t.TempDir()
	src := &HTTPSource{BaseURL: srv.URL, Token: "campaign-test-token"}
	opts := &Options{ShopURL: "shop.example.com", Tokens: f.eng}
	r, err := Open(dir, src, snd, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.r, f.snd = r, snd
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.run(8*24*time.Hour, time.Hour)
	if rep := r.Report(); rep.Total.Sent != 3 || rep.Watched != 0 {
		t.Fatalf("after 8 days: sent %d, watched %d; want 3 sent and the basket forgotten", rep.Total.Sent, rep.Watched)
	}
	// A restart in between: the tombstone is durable.
	r.Close()
	if r, err = Open(dir, src, snd, opts); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r = r
	f.apply(basket.Event{Type: basket.EventItemsChanged, BasketID: "b-1", At: f.clock.Now(),
		OrderItems: []basket.OrderItem{{Name: "Digital Yearly", Path: "/offers/digital-yearly"}}})
	f.run(4*24*time.Hour, time.Hour)
	if got := summary(snd.messages()); !slices.Equal(got, []string{"b-1/1", "b-1/2", "b-1/3"}) {
		t.Errorf("messages = %v; want b-1's three steps once", got)
	}
	if rep := r.Report(); rep.TookIn != 1 {
		t.Errorf("took in %d; want 1", rep.TookIn)
	}
}

// TestWatchShorterThanSequenceRefused: a basket must not be forgotten
// before its last step could be sent; the default Watch grows with the
// steps.
func TestWatchShorterThanSequenceRefused(t *testing.T) {
	eng, err := basket.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	_, err = New(EngineSource{eng}, &memSender{}, &Options{ShopURL: "shop.example.com", Watch: 48 * time.Hour})
	if !errors.Is(err, ErrConfig) {
		t.Errorf("Watch 48h with a last step at 72h: New = %v; want ErrConfig", err)
	}
	long := &Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour, 10 * 24 * time.Hour}}
	r, err := New(EngineSource{eng}, &memSender{}, long)
	if err != nil {
		t.Fatalf("a last step at 10 days with the default Watch: New = %v; want nil", err)
	}
	r.Close()
}

// TestStatePruned: the one-message window of a customer is forgotten once
// over, and so is a forgotten basket once past its TTL.
func TestStatePruned(t *testing.T) {
	f := newFixture(t, &Options{Steps: []time.Duration{time.Hour}, BasketTTL: 3 * 24 * time.Hour}, nil)
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.run(2*time.Hour, 10*time.Minute)
	f.complete("b-1")
	f.run(2*time.Hour, 10*time.Minute)
	if len(f.r.st.LastSent) != 1 || len(f.r.st.Gone) != 1 {
		t.Fatalf("after a message: %d windows, %d forgotten baskets; want 1 and 1", len(f.r.st.LastSent), len(f.r.st.Gone))
	}
	f.run(21*time.Hour, time.Hour)
	if len(f.r.st.LastSent) != 0 || len(f.r.st.Gone) != 1 {
		t.Errorf("a day after: %d windows, %d forgotten baskets; want 0 and 1", len(f.r.st.LastSent), len(f.r.st.Gone))
	}
	f.run(3*24*time.Hour, 6*time.Hour)
	if len(f.r.st.Gone) != 0 {
		t.Errorf("past its TTL: %d forgotten baskets; want 0", len(f.r.st.Gone))
	}
}
