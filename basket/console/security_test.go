package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/console"
)

// TestPagesNeedSession: every page without a session sends the person to
// the sign-in page (and back afterwards); every form is refused the same
// way and changes nothing; the feed's JSON answers 401.
func TestPagesNeedSession(t *testing.T) {
	h := start(t, func(o *console.Options) { o.CampaignDir = t.TempDir() })
	h.seed(3)
	b := h.browser()
	for _, path := range []string{
		"/console/", "/console/baskets", "/console/baskets?q=abc", "/console/baskets/basket-001",
		"/console/feed", "/console/dashboard", "/console/campaign", "/console/no-such-page",
	} {
		p := b.get(path)
		want := "/console/signin?next=" + url.QueryEscape(path)
		if p.status != http.StatusSeeOther || p.location() != want {
			t.Errorf("GET %s = %d, Location %q; want 303 to %s", path, p.status, p.location(), want)
		}
		if strings.Contains(p.body, "example.com") {
			t.Errorf("GET %s without a session shows an email", path)
		}
	}
	for _, path := range []string{"/console/baskets", "/console/baskets/basket-001/follow-up", "/console/signout"} {
		p := b.post(path, url.Values{"note": {"called"}, "email": {"customer-1@example.com"}})
		if p.status != http.StatusSeeOther || p.location() != "/console/signin" {
			t.Errorf("POST %s = %d, Location %q; want 303 to /console/signin", path, p.status, p.location())
		}
	}
	if got, _ := h.eng.Get(context.Background(), "basket-001"); !got.FollowedUpAt.IsZero() {
		t.Error("a follow-up without a session was kept")
	}
	if p := b.get("/console/feed.json?after=0"); p.status != http.StatusUnauthorized || strings.Contains(p.body, "example.com") {
		t.Errorf("feed.json without a session = %d %q; want 401 without baskets", p.status, p.body)
	}
	// The sign-in page and the assets are public.
	for _, path := range []string{"/console/signin", "/console/assets/console.css", "/console/assets/console.js"} {
		if p := b.get(path); p.status != http.StatusOK {
			t.Errorf("GET %s = %d; want 200", path, p.status)
		}
	}
	if p := b.get("/console/assets/nothing.js"); p.status != http.StatusNotFound {
		t.Errorf("GET an unknown asset = %d; want 404", p.status)
	}
}

// TestSignIn: each kind of credential signs in, and lands where the
// person was going; a bad one is refused with a message and no session.
func TestSignIn(t *testing.T) {
	h := start(t, nil)
	h.seed(2)
	for _, tc := range []struct {
		name    string
		form    url.Values
		subject string
	}{
		{"API token", url.Values{"token": {testToken}}, "API token"},
		{"client", url.Values{"client_id": {clientID}, "client_secret": {clientSecret}}, "client crm"},
		{"access token", url.Values{"token": {h.accessToken("checkout ingest")}}, "client crm"},
	} {
		b := h.browser()
		p := b.signIn(tc.form)
		if p.status != http.StatusOK || !strings.Contains(p.body, `<span class="subject">`+tc.subject) || !strings.Contains(p.body, "basket-001") {
			t.Errorf("%s: the list after sign-in = %d; want it, signed in as %q: %.400s", tc.name, p.status, tc.subject, p.body)
		}
		if strings.Contains(p.body, "read-only") {
			t.Errorf("%s: signed in read-only; want every scope", tc.name)
		}
	}

	b := h.browser()
	p := b.get("/console/signin?next=" + url.QueryEscape("/console/baskets/basket-001"))
	form := url.Values{"token": {testToken}, "csrf": {p.csrf(t)}, "next": {"/console/baskets/basket-001"}}
	if p = b.post("/console/signin", form); p.location() != "/console/baskets/basket-001" {
		t.Errorf("sign-in with next = %d %q; want 303 to the basket", p.status, p.location())
	}
	for _, next := range []string{"//evil.example/x", "https://evil.example/console/", "/api/checkout/abandoned", "/console/../api", `/console/\evil`} {
		b := h.browser()
		p := b.get("/console/signin")
		p = b.post("/console/signin", url.Values{"token": {testToken}, "csrf": {p.csrf(t)}, "next": {next}})
		if p.location() != "/console/baskets" {
			t.Errorf("sign-in with next %q goes to %q; want /console/baskets", next, p.location())
		}
	}

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		msg    string
	}{
		{"bad token", url.Values{"token": {"not-the-token-0123456789"}}, http.StatusUnauthorized, "not valid"},
		{"bad secret", url.Values{"client_id": {clientID}, "client_secret": {"wrong-secret-0123456"}}, http.StatusUnauthorized, "not valid"},
		{"no secret", url.Values{"client_id": {clientID}}, http.StatusBadRequest, "both the client&#39;s id and its secret"},
		{"nothing", url.Values{}, http.StatusBadRequest, "Give a token"},
		{"ingest only", url.Values{"token": {h.accessToken("ingest")}}, http.StatusForbidden, "checkout scope"},
	} {
		b := h.browser()
		p := b.get("/console/signin")
		tc.form.Set("csrf", p.csrf(t))
		p = b.post("/console/signin", tc.form)
		if p.status != tc.status || !strings.Contains(p.body, tc.msg) || b.sessionCookie() != "" {
			t.Errorf("%s: sign-in = %d, session %q; want %d saying %q: %.300s", tc.name, p.status, b.sessionCookie(), tc.status, tc.msg, p.body)
		}
	}
}

// TestSignInThrottle: failed sign-ins count against the address as the
// API's failures do; past ten, even the right token waits, 429 with
// Retry-After.
func TestSignInThrottle(t *testing.T) {
	h := start(t, nil)
	b := h.browser()
	for i := range 11 {
		p := b.get("/console/signin")
		p = b.post("/console/signin", url.Values{"token": {"guess-0123456789abcdef"}, "csrf": {p.csrf(t)}})
		if p.status != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d; want 401", i+1, p.status)
		}
	}
	p := b.get("/console/signin")
	p = b.post("/console/signin", url.Values{"token": {testToken}, "csrf": {p.csrf(t)}})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "1" || !strings.Contains(p.body, "Too many failed sign-ins") {
		t.Errorf("the right token after 11 failures = %d, Retry-After %q; want 429, 1", p.status, p.header.Get("Retry-After"))
	}
	h.clk.Advance(2 * time.Second)
	b.signInToken(testToken)
}

// TestCookies: the session cookie is HttpOnly, SameSite=Strict, for the
// console's paths, expiring; Secure over TLS.
func TestCookies(t *testing.T) {
	for _, tls := range []bool{false, true} {
		h := startWith(t, tls, nil)
		b := h.browser()
		p := b.get("/console/signin")
		p = b.post("/console/signin", url.Values{"token": {testToken}, "csrf": {p.csrf(t)}})
		var session *http.Cookie
		for _, c := range (&http.Response{Header: p.header}).Cookies() {
			if c.Name == "abandoned_console" {
				session = c
			}
		}
		if session == nil {
			t.Fatalf("tls %v: no session cookie in %v", tls, p.header["Set-Cookie"])
		}
		if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/console/" ||
			session.MaxAge != int(console.DefaultSessionLifetime/time.Second) || session.Secure != tls {
			t.Errorf("tls %v: session cookie %+v; want HttpOnly, SameSite=Strict, Path=/console/, Max-Age 12 h, Secure %v", tls, session, tls)
		}
		if len(session.Value) < 40 || strings.Contains(session.Value, testToken) {
			t.Errorf("tls %v: session id %q; want a long random id, never the token", tls, session.Value)
		}
	}
}

// TestCookieBehindProxy: behind a proxy that ends TLS and says so, the
// cookie is Secure too.
func TestCookieBehindProxy(t *testing.T) {
	h := start(t, nil)
	b := h.browser()
	p := b.get("/console/signin")
	req, err := http.NewRequest(http.MethodPost, h.url+"/console/signin", strings.NewReader(url.Values{"token": {testToken}, "csrf": {p.csrf(t)}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	p = b.do(req)
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "abandoned_console" && !c.Secure {
			t.Errorf("behind a TLS proxy the session cookie %+v is not Secure", c)
		}
	}
	if !strings.Contains(strings.Join(p.header["Set-Cookie"], "\n"), "abandoned_console=") {
		t.Errorf("no session cookie: %v", p.header["Set-Cookie"])
	}
}

// TestForgedAndExpiredSessions: a cookie the server did not make is
// refused, and so is one past its session's expiry; a session made with
// an access token ends with the token.
func TestForgedAndExpiredSessions(t *testing.T) {
	h := start(t, nil)
	h.seed(1)
	u, _ := url.Parse(h.url + "/console/")
	for _, forged := range []string{"", "x", strings.Repeat("A", 43), "../../etc", strings.Repeat("A", 4000)} {
		b := h.browser()
		b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "abandoned_console", Value: forged, Path: "/console/"}})
		if p := b.get("/console/baskets"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/console/signin") {
			t.Errorf("forged cookie %.20q: GET = %d %q; want 303 to sign-in", forged, p.status, p.location())
		}
	}

	b := h.browser()
	b.signInToken(testToken)
	h.clk.Advance(console.DefaultSessionLifetime - time.Second)
	if p := b.get("/console/baskets"); p.status != http.StatusOK {
		t.Fatalf("a second before the session expires: GET = %d; want 200", p.status)
	}
	h.clk.Advance(time.Second)
	if p := b.get("/console/baskets"); p.status != http.StatusSeeOther {
		t.Errorf("once the session expired: GET = %d; want 303 to sign-in", p.status)
	}

	// An access token lives an hour: so does its session.
	b = h.browser()
	b.signInToken(h.accessToken("checkout"))
	h.clk.Advance(time.Hour - time.Second)
	if p := b.get("/console/baskets"); p.status != http.StatusOK {
		t.Fatalf("an access token's session before the token expires: GET = %d; want 200", p.status)
	}
	h.clk.Advance(time.Second)
	if p := b.get("/console/baskets"); p.status != http.StatusSeeOther {
		t.Errorf("an access token's session once the token expired: GET = %d; want 303", p.status)
	}
}

// TestCSRF: a form that changes something, without its token or with
// another session's, is refused 403 and changes nothing.
func TestCSRF(t *testing.T) {
	h := start(t, nil)
	h.seed(2)
	b := h.browser()
	b.signInToken(testToken)
	other := h.browser()
	otherToken := other.signInToken(testToken).csrf(t)

	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/console/baskets/basket-001/follow-up", url.Values{"note": {"called"}}},
		{"/console/baskets/basket-001/follow-up", url.Values{"note": {"called"}, "csrf": {""}}},
		{"/console/baskets/basket-001/follow-up", url.Values{"note": {"called"}, "csrf": {otherToken}}},
		{"/console/baskets", url.Values{"email": {"customer-1@example.com"}}},
		{"/console/signout", url.Values{}},
		{"/console/signout", url.Values{"csrf": {otherToken}}},
	} {
		p := b.post(tc.path, tc.form)
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "did not come from the console") {
			t.Errorf("POST %s %v = %d; want 403", tc.path, tc.form, p.status)
		}
	}
	if got, _ := h.eng.Get(context.Background(), "basket-001"); !got.FollowedUpAt.IsZero() {
		t.Error("a follow-up without its CSRF token was kept")
	}
	if p := b.get("/console/baskets"); p.status != http.StatusOK {
		t.Errorf("after a sign-out without its token, GET = %d; want 200: still signed in", p.status)
	}

	// The sign-in form has its own token, in a cookie and in the form.
	fresh := h.browser()
	fresh.get("/console/signin")
	if p := fresh.post("/console/signin", url.Values{"token": {testToken}}); p.status != http.StatusForbidden || fresh.sessionCookie() != "" {
		t.Errorf("sign-in without its token = %d; want 403 and no session", p.status)
	}
	if p := h.browser().post("/console/signin", url.Values{"token": {testToken}, "csrf": {otherToken}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in with a token but no cookie = %d; want 403", p.status)
	}
}

// TestSignOut: signing out ends the session on the server: the same
// cookie, sent again, is refused.
func TestSignOut(t *testing.T) {
	h := start(t, nil)
	b := h.browser()
	p := b.signInToken(testToken)
	sid := b.sessionCookie()
	p = b.post("/console/signout", url.Values{"csrf": {p.csrf(t)}})
	if p.status != http.StatusSeeOther || p.location() != "/console/signin" {
		t.Fatalf("sign-out = %d %q; want 303 to the sign-in page", p.status, p.location())
	}
	if b.sessionCookie() != "" {
		t.Error("the session cookie is still in the browser after sign-out")
	}
	replay := h.browser()
	u, _ := url.Parse(h.url + "/console/")
	replay.client.Jar.SetCookies(u, []*http.Cookie{{Name: "abandoned_console", Value: sid, Path: "/console/"}})
	if p := replay.get("/console/baskets"); p.status != http.StatusSeeOther {
		t.Errorf("the signed-out session's cookie, sent again: GET = %d; want 303 to sign-in", p.status)
	}
}

// TestEscaping: emails and names are text wherever they show: the list,
// the basket, the feed (the page and its JSON), the filter form. The
// engine refuses an email with < or > (it is no RFC 5322 address), so a
// <script> email reaches a page only typed into the filter form; names
// may hold anything.
func TestEscaping(t *testing.T) {
	h := start(t, nil)
	const script = "<script>alert(1)</script>"
	email := "o'neil&co{script}=1@example.com"
	h.abandon(customer{id: "basket-x", first: script, last: `<img src=x onerror=alert(2)> "Bobby" & co`, email: email, tag: "<b>web</b>", created: t0.Add(-time.Hour)})
	if _, err := h.eng.Apply(context.Background(), basket.Event{Type: basket.EventEmailCaptured, BasketID: "basket-x", At: t0, Email: `"` + script + `"@example.com`}); err == nil {
		t.Fatal("the engine took an email with <script> in it; this test assumes it refuses it")
	}
	b := h.browser()
	b.signInToken(testToken)
	list := b.get("/console/baskets")
	p := b.post("/console/baskets", url.Values{"csrf": {list.csrf(t)}, "email": {email}})
	filtered := b.get(p.location())
	typed := b.post("/console/baskets", url.Values{"csrf": {list.csrf(t)}, "email": {script + "@example.com"}})
	if typed.status != http.StatusBadRequest || !strings.Contains(typed.body, "Email: ") {
		t.Errorf("a <script> email in the filter = %d; want 400 naming Email", typed.status)
	}
	if !strings.Contains(typed.body, `value="&lt;script&gt;alert(1)&lt;/script&gt;@example.com"`) {
		t.Error("the filter form does not show the <script> email typed as text")
	}
	for name, page := range map[string]*page{
		"list": list, "filtered list": filtered, "basket": b.get("/console/baskets/basket-x"), "feed": b.get("/console/feed"), "typed filter": typed,
	} {
		for _, raw := range []string{script, "<img src=x", "<b>web", `"Bobby"`} {
			if strings.Contains(page.body, raw) {
				t.Errorf("%s holds %q unescaped", name, raw)
			}
		}
		if name == "typed filter" {
			continue
		}
		for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt; &#34;Bobby&#34; &amp; co", "o&#39;neil&amp;co{script}=1@example.com"} {
			if !strings.Contains(page.body, want) {
				t.Errorf("%s does not show %q as text", name, want)
			}
		}
	}
	js := b.get("/console/feed.json?after=0")
	if strings.Contains(js.body, "<script>") || !strings.Contains(js.body, `\u003cscript\u003e`) || !strings.Contains(js.body, `o'neil\u0026co`) {
		t.Errorf("feed.json = %s; want <, > and & escaped", js.body)
	}
}

// TestReadOnly: an access token with the checkout scope only signs in
// read-only: it sees baskets, has no follow-up form, and a follow-up
// posted all the same is refused and kept nowhere.
func TestReadOnly(t *testing.T) {
	h := start(t, nil)
	h.seed(2)
	b := h.browser()
	list := b.signInToken(h.accessToken("checkout"))
	if !strings.Contains(list.body, "read-only") || !strings.Contains(list.body, "basket-001") {
		t.Errorf("read-only list: want it marked read-only, with the baskets: %.400s", list.body)
	}
	p := b.get("/console/baskets/basket-001")
	if p.status != http.StatusOK || strings.Contains(p.body, `name="note"`) || !strings.Contains(p.body, "signed in read-only") {
		t.Errorf("read-only basket page = %d; want it without the follow-up form, saying why", p.status)
	}
	p = b.post("/console/baskets/basket-001/follow-up", url.Values{"csrf": {p.csrf(t)}, "note": {"called"}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "read-only") {
		t.Errorf("read-only follow-up = %d; want 403", p.status)
	}
	if got, _ := h.eng.Get(context.Background(), "basket-001"); !got.FollowedUpAt.IsZero() {
		t.Error("a read-only follow-up was kept")
	}
}

// TestHeaders: every page forbids framing and anything from elsewhere,
// and is not cached.
func TestHeaders(t *testing.T) {
	h := start(t, nil)
	h.seed(1)
	b := h.browser()
	b.signInToken(testToken)
	const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
	for _, path := range []string{"/console/signin", "/console/baskets", "/console/baskets/basket-000", "/console/feed", "/console/dashboard", "/console/nothing"} {
		p := b.get(path)
		if got := p.header.Get("Content-Security-Policy"); got != csp {
			t.Errorf("GET %s: Content-Security-Policy %q; want %q", path, got, csp)
		}
		if p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("X-Content-Type-Options") != "nosniff" || p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: headers %v; want X-Frame-Options DENY, nosniff, no-store", path, p.header)
		}
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "<style") || strings.Contains(p.body, " style=") ||
			strings.Contains(p.body, "http://") && !strings.Contains(p.body, `xmlns="http://www.w3.org/2000/svg"`) {
			t.Errorf("GET %s: an inline script or style, or a link elsewhere", path)
		}
	}
}
