package campaign

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// TestHTTPSourceSuppression: Suppression asks the server with the address
// in a JSON body, and returns its answer.
func TestHTTPSourceSuppression(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Email string `json:"email"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/api/checkout/suppression" || r.URL.RawQuery != "" ||
			json.NewDecoder(r.Body).Decode(&req) != nil || r.Header.Get("Authorization") != "Bearer campaign-test-token" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"message":"not the request"}`)
			return
		}
		if req.Email == "gone@example.com" {
			io.WriteString(w, `{"suppressed":true,"token":"unsub-1"}`)
			return
		}
		io.WriteString(w, `{"suppressed":false,"token":"unsub-2"}`)
	}))
	defer srv.Close()
	src := &HTTPSource{BaseURL: srv.URL, Token: "campaign-test-token", Retries: -1}
	for _, tc := range []struct {
		email      string
		suppressed bool
		token      string
	}{{"gone@example.com", true, "unsub-1"}, {"ann@example.com", false, "unsub-2"}} {
		sup, tok, err := src.Suppression(t.Context(), tc.email)
		if err != nil || sup != tc.suppressed || tok != tc.token {
			t.Errorf("Suppression(%q) = %v, %q, %v; want %v, %q", tc.email, sup, tok, err, tc.suppressed, tc.token)
		}
	}
	src.Token = "wrong"
	_, _, err := src.Suppression(t.Context(), "ann@example.com")
	var ae *httpapi.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Errorf("Suppression with another token = %v; want the server's 400", err)
	}
	bad := &HTTPSource{BaseURL: "ftp://x"}
	if _, _, err := bad.Suppression(t.Context(), "ann@example.com"); !errors.Is(err, ErrConfig) {
		t.Errorf("Suppression with a bad URL = %v; want ErrConfig", err)
	}
}

// TestHTTPSourceClientCredentials: with ClientID and ClientSecret the
// source reads the feed, the customer's baskets and the suppression list
// with an access token of scope checkout.
func TestHTTPSourceClientCredentials(t *testing.T) {
	f := newFixture(t, nil, nil)
	api, err := httpapi.New(f.eng, &httpapi.Options{OAuthClients: map[string]string{"campaign": "campaign-secret-0123"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	f.basket("b-1", "ann@example.com", nil)
	src := &HTTPSource{BaseURL: srv.URL, ClientID: "campaign", ClientSecret: "campaign-secret-0123"}
	p, err := src.Feed(t.Context(), 0, 10)
	if err != nil || len(p.Items) != 1 || p.Items[0].ID != "b-1" {
		t.Fatalf("Feed = %+v, %v; want b-1", p, err)
	}
	bs, complete, err := src.Customer(t.Context(), "ann@example.com")
	if err != nil || !complete || len(bs) != 1 || bs[0].State != basket.StateContactable {
		t.Errorf("Customer = %+v, %v, %v; want b-1, complete", bs, complete, err)
	}
	if err := f.eng.Suppress(t.Context(), "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if sup, tok, err := src.Suppression(t.Context(), "bob@example.com"); err != nil || !sup || tok == "" {
		t.Errorf("Suppression of an unsubscribed address = %v, %q, %v; want true and its token", sup, tok, err)
	}
	src.ClientSecret = "wrong-secret-0123"
	if _, err := src.Feed(t.Context(), 0, 10); err == nil {
		t.Error("Feed with a wrong secret = nil; want an error")
	}
}
