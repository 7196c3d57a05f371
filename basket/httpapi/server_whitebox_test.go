package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/basketlab/abandoned/basket"
)

// TestPanicIs500 checks that a handler's panic answers 500 with a bare
// message, and that neither the answer nor the log holds a stack trace.
func TestPanicIs500(t *testing.T) {
	eng, err := basket.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	var logs bytes.Buffer
	s, err := New(eng, &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := s.wrap("GET /boom", 0, func(http.ResponseWriter, *http.Request) { panic("boom at secret place") })
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/boom?email=ann@example.com", nil))
	if w.Code != http.StatusInternalServerError || w.Body.String() != "{\"message\":\"internal error\"}\n" {
		t.Errorf("panic = %d %s; want 500 internal error", w.Code, w.Body)
	}
	if strings.Contains(logs.String(), "goroutine") || strings.Contains(logs.String(), "ann@example.com") {
		t.Errorf("log holds a stack or an email:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "status=500") {
		t.Errorf("access log lacks the 500:\n%s", logs.String())
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	eng, err := basket.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, o := range []Options{
		{CheckoutURL: "checkout"},
		{PurchasedURL: "javascript:alert(1)"},
		{CheckoutURL: "/checkout#frag"},
		{APITokens: []string{"has space"}},
		{APITokens: []string{""}},
		{OAuthClients: map[string]string{"a:b": "secret"}},
		{OAuthClients: map[string]string{"a": ""}},
		{MaxBody: -1},
		{TokenLifetime: 1},
	} {
		if _, err := New(eng, &o); err == nil {
			t.Errorf("New(%+v) succeeded; want an error", o)
		}
	}
	if _, err := New(nil, nil); err == nil {
		t.Error("New(nil engine) succeeded")
	}
}
