package campaign

import (
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// TestHTTPSource runs a campaign against a server's API (the feed and the
// customer's baskets) instead of an engine in process.
func TestHTTPSource(t *testing.T) {
	f := newFixture(t, &Options{Steps: []time.Duration{time.Hour, 48 * time.Hour}}, nil)
	api, err := httpapi.New(f.eng, &httpapi.Options{APITokens: []string{"campaign-test-token"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	tokens := f.eng
	snd := &memSender{}
	r, err := New(&HTTPSource{BaseURL: srv.URL, Token: "campaign-test-token"}, snd,
		&Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour, 48 * time.Hour}, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r, f.snd = r, snd
	f.basket("old", "old@example.com", nil) // the backlog
	f.clock.Add(time.Minute)
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.basket("b-2", "bob@example.com", nil)
	f.basket("b-3", "cy@example.com", func(ev *basket.Event) { ev.Tracking = map[string]string{"tag": "web"} })
	f.run(30*time.Minute, 5*time.Minute)
	f.complete("b-2") // seen through the customer's baskets: skipped as completed
	f.run(50*time.Hour, 10*time.Minute)
	want := []string{"b-1/1", "b-3/1", "b-1/2", "b-3/2"}
	if got := summary(snd.messages()); !slices.Equal(got, want) {
		t.Errorf("messages = %v; want %v", got, want)
	}
	if rep := r.Report(); rep.TookIn != 3 || rep.Total.Sent != 4 || rep.Skipped[ReasonCompleted] != 1 {
		t.Errorf("report took in %d, sent %d, skipped as completed %d; want 3, 4 and 1", rep.TookIn, rep.Total.Sent, rep.Skipped[ReasonCompleted])
	}
	bad := &HTTPSource{BaseURL: srv.URL, Token: "wrong", Retries: -1}
	if _, err := bad.Feed(t.Context(), 0, 10); err == nil {
		t.Error("Feed with a wrong token = nil; want an error")
	}
}
