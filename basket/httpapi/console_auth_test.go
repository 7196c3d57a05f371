package httpapi_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// TestAuthenticate: a sign-in form's token is checked as a bearer token
// is: static tokens hold every scope, an access token its own scopes and
// expiry; a bad one is ErrBadCredentials and counts towards the backoff,
// which then refuses even good credentials.
func TestAuthenticate(t *testing.T) {
	h := start(t, nil)
	readOnly := h.token("checkout")
	req := httptest.NewRequest(http.MethodPost, "/console/signin", nil)
	req.RemoteAddr = "192.0.2.7:1234"

	for _, tc := range []struct {
		name, token string
		want        httpapi.Grant
	}{
		{"static", testToken, httpapi.Grant{Scope: httpapi.ScopeCheckout | httpapi.ScopeIngest, Subject: "API token"}},
		{"static with spaces", "  " + testToken + "\n", httpapi.Grant{Scope: httpapi.ScopeCheckout | httpapi.ScopeIngest, Subject: "API token"}},
		{"access token, checkout", readOnly, httpapi.Grant{Scope: httpapi.ScopeCheckout, Subject: "client client-1", Expires: t0.Add(time.Hour)}},
	} {
		g, err := h.srv.Authenticate(req, tc.token)
		if err != nil || g != tc.want {
			t.Errorf("%s: Authenticate = %+v, %v; want %+v", tc.name, g, err, tc.want)
		}
	}
	if g, _ := h.srv.Authenticate(req, readOnly); !g.CanRead() || g.CanWrite() {
		t.Errorf("checkout-only grant: CanRead %v, CanWrite %v; want true, false", g.CanRead(), g.CanWrite())
	}
	g, err := h.srv.AuthenticateClient(req, "client-1", "secret-1-abcdefgh")
	if err != nil || g.Subject != "client client-1" || !g.CanRead() || !g.CanWrite() || !g.Expires.IsZero() {
		t.Errorf("AuthenticateClient = %+v, %v; want every scope, no expiry", g, err)
	}

	h.clk.Advance(2 * time.Hour)
	if _, err := h.srv.Authenticate(req, readOnly); !errors.Is(err, httpapi.ErrExpiredCredentials) {
		t.Errorf("expired access token: err = %v; want ErrExpiredCredentials", err)
	}

	// Ten failures pass; the eleventh makes the address wait.
	for i := range 11 {
		var err error
		if i%2 == 0 {
			_, err = h.srv.Authenticate(req, "wrong-token-0123456789")
		} else {
			_, err = h.srv.AuthenticateClient(req, "client-1", "wrong-secret-0123")
		}
		if !errors.Is(err, httpapi.ErrBadCredentials) {
			t.Fatalf("failure %d: err = %v; want ErrBadCredentials", i+1, err)
		}
	}
	_, err = h.srv.Authenticate(req, testToken)
	var te *httpapi.ThrottledError
	if !errors.As(err, &te) || !errors.Is(err, httpapi.ErrThrottled) || te.RetryAfter != time.Second {
		t.Fatalf("good token after 11 failures: err = %v; want a *ThrottledError of 1 s", err)
	}
	if !strings.Contains(err.Error(), "retry in 1 s") {
		t.Errorf("ThrottledError = %q; want it to say when to retry", err)
	}
	// The API's own endpoints share the backoff: the same address is
	// refused there too.
	if _, err := h.srv.AuthenticateClient(req, "client-1", "secret-1-abcdefgh"); !errors.Is(err, httpapi.ErrThrottled) {
		t.Errorf("good client after 11 failures: err = %v; want ErrThrottled", err)
	}
	other := httptest.NewRequest(http.MethodPost, "/console/signin", nil)
	other.RemoteAddr = "192.0.2.8:1234"
	if _, err := h.srv.Authenticate(other, testToken); err != nil {
		t.Errorf("another address: err = %v; want none", err)
	}
}

// TestHandle: a handler mounted in the API answers its pattern, counted
// under its route, and the API's endpoints keep theirs.
func TestHandle(t *testing.T) {
	eng, err := basket.New(&basket.Options{RecoverySecrets: [][]byte{[]byte("test-secret-0123456789abcdef")}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{testToken}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle("/console/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "console "+r.URL.Path)
	}))
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/console/", 200, "console /console/"},
		{"/console/baskets", 200, "console /console/baskets"},
		{"/healthz", 200, `{"status":"ok"}`},
		{"/consoles", 404, "no such endpoint"},
	} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("GET %s = %d %q; want %d %q", tc.path, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := `abandoned_http_requests_total{code="200",method="get",route="/console/"} 2`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics lack %s", want)
	}
}
