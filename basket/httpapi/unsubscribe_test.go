package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/basketlab/abandoned/basket/httpapi"
)

// suppression asks POST /api/checkout/suppression about an address.
func (h *harness) suppression(email string) (bool, string) {
	h.t.Helper()
	r := h.do(http.MethodPost, "/api/checkout/suppression", testToken, "application/json",
		strings.NewReader(`{"email":"`+email+`"}`))
	if r.status != http.StatusOK {
		h.t.Fatalf("suppression: %d %s", r.status, r.body)
	}
	v := r.json(h.t)
	s, ok := v["suppressed"].(bool)
	tok, _ := v["token"].(string)
	if !ok || tok == "" {
		h.t.Fatalf("suppression answered %s", r.body)
	}
	return s, tok
}

// TestUnsubscribeOneClick: a campaign gets the token of an address; a GET
// of the link only shows a page (with the address masked, and a form that
// POSTs); the one-click POST of RFC 8058 puts the address on the list,
// which the next question shows; a tampered token is a 403 and changes
// nothing.
func TestUnsubscribeOneClick(t *testing.T) {
	h := start(t, nil)
	const email = "anna.smith@example.com"
	if s, _ := h.suppression(email); s {
		t.Fatal("suppressed before anything")
	}
	_, tok := h.suppression("Anna.Smith@Example.com ")
	if strings.Contains(strings.ToLower(tok), "anna") {
		t.Fatal("the token shows the address")
	}
	link := "/api/checkout/unsubscribe?token=" + url.QueryEscape(tok)

	page := h.do(http.MethodGet, link, "", "", nil)
	if page.status != http.StatusOK || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET: %d %s", page.status, page.header.Get("Content-Type"))
	}
	body := string(page.body)
	if strings.Contains(body, email) || !strings.Contains(body, "a***@example.com") {
		t.Fatalf("the page should mask the address: %s", body)
	}
	if !strings.Contains(body, `method="post"`) || strings.Contains(body, "<script") {
		t.Fatalf("the page should hold a form that POSTs, and no script: %s", body)
	}
	for name, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := page.header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if s, _ := h.suppression(email); s {
		t.Fatal("a GET unsubscribed")
	}

	bad := tok[:len(tok)-2] + "AA"
	for _, p := range []string{"/api/checkout/unsubscribe?token=" + bad, "/api/checkout/unsubscribe", "/api/checkout/unsubscribe?token="} {
		r := h.do(http.MethodPost, p, "", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if r.status != http.StatusForbidden || r.message(t) != "this unsubscribe link is not valid" {
			t.Fatalf("POST %s: %d %s", p, r.status, r.body)
		}
		if g := h.do(http.MethodGet, p, "", "", nil); g.status != http.StatusForbidden {
			t.Fatalf("GET %s: %d", p, g.status)
		}
	}
	if s, _ := h.suppression(email); s {
		t.Fatal("a bad token unsubscribed")
	}

	r := h.do(http.MethodPost, link, "", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if r.status != http.StatusOK || string(r.body) != "{\"unsubscribed\":true}\n" {
		t.Fatalf("one-click POST: %d %s", r.status, r.body)
	}
	if s, tok2 := h.suppression(email); !s || tok2 != tok {
		t.Fatalf("after the POST: suppressed %v, token %s (want true, the same token)", s, tok2)
	}
	// The page's own form, from a browser: an HTML answer; again harmless.
	req, _ := http.NewRequest(http.MethodPost, h.url+link, strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("browser POST: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(h.logs.String(), "anna") || strings.Contains(h.logs.String(), tok) {
		t.Fatal("the log shows the address or the token")
	}
}

// TestSuppressionEndpointErrors: the question needs the checkout scope,
// and a body that is not {"email": a valid address} is a 400 that names
// what is wrong and never echoes the address.
func TestSuppressionEndpointErrors(t *testing.T) {
	h := start(t, nil)
	ingestOnly := h.token("ingest")
	if r := h.do(http.MethodPost, "/api/checkout/suppression", "", "application/json", strings.NewReader(`{"email":"a@b.co"}`)); r.status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", r.status)
	}
	if r := h.do(http.MethodPost, "/api/checkout/suppression", ingestOnly, "application/json", strings.NewReader(`{"email":"a@b.co"}`)); r.status != http.StatusForbidden {
		t.Fatalf("ingest scope: %d", r.status)
	}
	for _, c := range []struct{ body, want string }{
		{``, "body: want a JSON object"},
		{`{"email":`, "body: want a JSON object"},
		{`{}`, "email: missing"},
		{`{"email":42}`, "email: want a string"},
		{`{"email":"secret-person@"}`, "email: not a valid address"},
		{`{"email":"a@b.co","extra":1}`, `unknown field "extra"`},
		{`{"email":"a@b.co"} {}`, "body: want one JSON object"},
	} {
		r := h.do(http.MethodPost, "/api/checkout/suppression", testToken, "application/json", strings.NewReader(c.body))
		if r.status != http.StatusBadRequest || !strings.Contains(r.message(t), c.want) || strings.Contains(string(r.body), "secret-person") {
			t.Errorf("body %s: %d %s; want 400 naming %q", c.body, r.status, r.body, c.want)
		}
	}
	r := h.do(http.MethodPost, "/api/checkout/suppression", testToken, "application/json",
		strings.NewReader(`{"email":"`+strings.Repeat("a", 5000)+`@b.co"}`))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a large body: %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodPost, "/api/checkout/suppression", testToken, "text/plain", strings.NewReader(`{"email":"a@b.co"}`)); r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d", r.status)
	}
	if r := h.do(http.MethodGet, "/api/checkout/suppression", testToken, "", nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Fatalf("GET: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	if r := h.do(http.MethodPut, "/api/checkout/unsubscribe", "", "", nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("PUT unsubscribe: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	_ = httpapi.ScopeCheckout
}
