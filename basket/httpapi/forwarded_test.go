package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/basketlab/abandoned/basket/httpapi"
)

// TestWithClientAddr: failed authentications of a forwarded request count
// against the client it names, not the connection's peer (the forwarding
// node), whose other clients go on unslowed.
func TestWithClientAddr(t *testing.T) {
	h := start(t, nil)
	ask := func(client string) int {
		r := httptest.NewRequest(http.MethodGet, "/api/checkout/abandoned", nil)
		r.RemoteAddr = "192.0.2.7:4000" // the forwarding node
		r.Header.Set("Authorization", "Bearer not-a-token-of-this-server")
		w := httptest.NewRecorder()
		h.srv.ServeHTTP(w, httpapi.WithClientAddr(r, client))
		return w.Code
	}
	throttled := false
	for range 30 {
		if ask("198.51.100.1:5000") == http.StatusTooManyRequests {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("a client failing again and again was never slowed down")
	}
	if code := ask("198.51.100.2:5000"); code != http.StatusUnauthorized {
		t.Fatalf("another client through the same node: %d; want 401, not slowed down", code)
	}
}
