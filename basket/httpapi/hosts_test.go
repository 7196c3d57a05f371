package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/basketlab/abandoned/basket/httpapi"
)

func TestNormalizeHost(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"shop.example.com", "shop.example.com", true},
		{"Shop.Example.COM", "shop.example.com", true},
		{"shop.example.com.", "shop.example.com", true},
		{"shop.example.com:8443", "shop.example.com", true},
		{"SHOP.example.com.:80", "shop.example.com", true},
		{"bücher.example", "xn--bcher-kva.example", true},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example", true},
		{"127.0.0.1:8080", "127.0.0.1", true},
		{"[::1]:8080", "::1", true},
		{"[::1]", "::1", true},
		{"", "", false},
		{":8080", "", false},
		{"shop.example.com:", "", false},
		{"shop.example.com:x", "", false},
		{"a b.example", "", false},
		{"user@shop.example", "", false},
		{"shop.example/x", "", false},
		{"[::1", "", false},
		{".", "", false},
	} {
		got, ok := httpapi.NormalizeHost(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// FuzzNormalizeHost: whatever a client sends as Host, normalising never
// panics, is idempotent, and gives a lower-case name without a port, a
// trailing dot or characters a host cannot hold.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"shop.example.com", "Shop.Example.COM.:443", "bücher.example", "[::1]:80", "xn--", "a..b", "\x00", "ß.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h, ok := httpapi.NormalizeHost(in)
		if !ok {
			if h != "" {
				t.Fatalf("refused %q but gave %q", in, h)
			}
			return
		}
		again, ok2 := httpapi.NormalizeHost(h)
		if !ok2 || again != h {
			t.Fatalf("NormalizeHost(%q) = %q, but NormalizeHost(%q) = %q, %v", in, h, h, again, ok2)
		}
		if h != strings.ToLower(h) || strings.HasSuffix(h, ".") || strings.ContainsAny(h, " /\\@?#%[]") {
			t.Fatalf("NormalizeHost(%q) = %q", in, h)
		}
	})
}

// TestHostsRoutes: a request goes to the handler of its host, whatever its
// port, case or trailing dot; a host that matches none is a 404 that names
// nothing; routes replaced take effect at once.
func TestHostsRoutes(t *testing.T) {
	var hs httpapi.Hosts
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	}
	hs.SetRoutes(map[string]http.Handler{"prod.shop.example": named("prod"), "xn--bcher-kva.example": named("books")})
	ask := func(host string) (int, string) {
		r := httptest.NewRequest(http.MethodGet, "/api/checkout/abandoned", nil)
		r.Host = host
		w := httptest.NewRecorder()
		hs.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	for host, want := range map[string]string{"prod.shop.example": "prod", "PROD.shop.example.:8080": "prod", "bücher.example": "books"} {
		if code, body := ask(host); code != 200 || body != want {
			t.Errorf("Host %q: %d %q; want %q", host, code, body, want)
		}
	}
	for _, host := range []string{"staging.shop.example", "", "prod.shop.example.evil", "[::1]"} {
		code, body := ask(host)
		if code != http.StatusNotFound || body != "{\"message\":\"no such environment\"}\n" {
			t.Errorf("Host %q: %d %q; want the 404 that names nothing", host, code, body)
		}
	}
	hs.SetRoutes(map[string]http.Handler{"staging.shop.example": named("staging")})
	if code, _ := ask("prod.shop.example"); code != http.StatusNotFound {
		t.Errorf("a removed host answers %d", code)
	}
	if _, body := ask("staging.shop.example"); body != "staging" {
		t.Errorf("an added host answers %q", body)
	}
}
