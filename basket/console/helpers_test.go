package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/console"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// The credentials of every test server.
const (
	testToken    = "test-token-0123456789"
	clientID     = "crm"
	clientSecret = "crm-secret-0123456789"
)

// t0 is the start of the test clock.
var t0 = time.Date(2024, 3, 27, 12, 0, 0, 0, time.UTC)

// clock is a settable clock, for the engine, the API and the console; it
// may follow another clock (a simulator's) for a while.
type clock struct {
	mu  sync.Mutex // guards t and src
	t   time.Time
	src func() time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.src != nil {
		return c.src()
	}
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// follow makes the clock read src until stop is called, then stay at
// src's last time.
func (c *clock) follow(src func() time.Time) (stop func()) {
	c.mu.Lock()
	c.src = src
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.t, c.src = src(), nil
		c.mu.Unlock()
	}
}

// harness is the API with the console mounted, served by httptest, over
// an engine with a test clock.
type harness struct {
	t   *testing.T
	eng *basket.Engine
	clk *clock
	api *httpapi.Server
	srv *httptest.Server
	url string
}

// start runs a server; configure, if not nil, adjusts the console's
// options. The engine's invariants are checked at cleanup.
func start(t *testing.T, configure func(*console.Options)) *harness {
	t.Helper()
	return startWith(t, false, configure)
}

func startWith(t *testing.T, tls bool, configure func(*console.Options)) *harness {
	t.Helper()
	clk := &clock{t: t0}
	eng, err := basket.New(&basket.Options{
		Now:             clk.Now,
		RecoverySecrets: [][]byte{[]byte("test-secret-0123456789abcdef")},
		Alias:           "shop.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(eng, &httpapi.Options{
		APITokens:    []string{testToken},
		OAuthClients: map[string]string{clientID: clientSecret},
		Now:          clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := &console.Options{Auth: api, Now: clk.Now}
	if configure != nil {
		configure(opts)
	}
	con, err := console.New(eng, opts)
	if err != nil {
		t.Fatal(err)
	}
	api.Handle(console.Prefix, con)
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(api)
	} else {
		srv = httptest.NewServer(api)
	}
	t.Cleanup(func() {
		srv.Close()
		if err := eng.Check(); err != nil {
			t.Errorf("engine invariants: %v", err)
		}
		eng.Close()
	})
	return &harness{t: t, eng: eng, clk: clk, api: api, srv: srv, url: srv.URL}
}

// offer is every test basket's item.
var offer = []basket.OrderItem{{
	Name: "Digital All Access", Path: "/offers/digital",
	Products: []basket.Product{{Path: "/products/digital", ProductCode: "SKU-1"}},
}}

// customer is a test basket's.
type customer struct {
	id, first, last, email, tag, device string
	created                             time.Time
}

// abandon makes an abandoned basket of c: created, then the email typed a
// minute later.
func (h *harness) abandon(c customer) {
	h.t.Helper()
	tracking := map[string]string{}
	if c.tag != "" {
		tracking["tag"] = c.tag
	}
	if c.device != "" {
		tracking["device"] = c.device
	}
	evs := []basket.Event{
		{Type: basket.EventCreated, BasketID: c.id, At: c.created, Entry: "/checkout", OrderItems: offer, Tracking: tracking},
		{Type: basket.EventCustomerDetailsChanged, BasketID: c.id, At: c.created.Add(time.Minute),
			CustomerDetails: &basket.CustomerDetails{Email: c.email, FirstName: c.first, LastName: c.last}},
	}
	if _, err := h.eng.Apply(context.Background(), evs...); err != nil {
		h.t.Fatalf("Apply(%s): %v", c.id, err)
	}
}

// The seeded customers' names and channels.
var (
	firstNames = []string{"Ann", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Goran", "Hana", "Ines", "Jonas"}
	lastNames  = []string{"Archer", "Baker", "Castro", "Dubois", "Engel", "Fischer", "Garcia", "Huber"}
	tags       = []string{"web", "app", "newsletter"}
	devices    = []string{"desktop", "mobile", "tablet"}
)

// seed makes n abandoned baskets created an hour apart before t0, the
// newest last: basket-000 is the oldest. Customer i's email is
// customer-<i mod 40>@example.com, so that some customers have several.
func (h *harness) seed(n int) []customer {
	h.t.Helper()
	var cs []customer
	for i := range n {
		c := customer{
			id:      fmt.Sprintf("basket-%03d", i),
			first:   firstNames[i%len(firstNames)],
			last:    lastNames[i%len(lastNames)],
			email:   fmt.Sprintf("customer-%d@example.com", i%40),
			tag:     tags[i%len(tags)],
			device:  devices[i%len(devices)],
			created: t0.Add(-time.Duration(n-i) * time.Hour),
		}
		h.abandon(c)
		cs = append(cs, c)
	}
	return cs
}

// accessToken obtains an OAuth2 access token of the test client.
func (h *harness) accessToken(scope string) string {
	h.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {clientSecret}, "scope": {scope}}
	resp, err := http.PostForm(h.url+"/oauth2/token", form)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`"access_token":"([^"]+)"`).FindSubmatch(b)
	if resp.StatusCode != http.StatusOK || m == nil {
		h.t.Fatalf("token: %d %s", resp.StatusCode, b)
	}
	return string(m[1])
}

// browser is a client with a cookie jar that does not follow redirects,
// as a person's browser keeps cookies.
type browser struct {
	h      *harness
	client *http.Client
}

func (h *harness) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	c := *h.srv.Client() // a client of its own: the server's is shared
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{h: h, client: &c}
}

// page is an answer, read whole.
type page struct {
	status int
	header http.Header
	body   string
}

func (p *page) location() string { return p.header.Get("Location") }

func (b *browser) do(req *http.Request) *page {
	b.h.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.h.t.Fatal(err)
	}
	return &page{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (b *browser) get(path string) *page {
	b.h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.h.url+path, nil)
	if err != nil {
		b.h.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) *page {
	b.h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.h.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of a page's first form.
func (p *page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page (%d): %.300s", p.status, p.body)
	}
	return m[1]
}

// signIn signs in with form (token, or client_id and client_secret) and
// returns the page it lands on; it fails the test unless it succeeded.
func (b *browser) signIn(form url.Values) *page {
	b.h.t.Helper()
	p := b.get("/console/signin")
	form.Set("csrf", p.csrf(b.h.t))
	p = b.post("/console/signin", form)
	if p.status != http.StatusSeeOther {
		b.h.t.Fatalf("sign-in = %d; want 303: %.500s", p.status, p.body)
	}
	return b.get(p.location())
}

// signInToken signs in with a token.
func (b *browser) signInToken(token string) *page {
	b.h.t.Helper()
	return b.signIn(url.Values{"token": {token}})
}

// sessionCookie returns the session cookie's value, "" if none.
func (b *browser) sessionCookie() string {
	u, _ := url.Parse(b.h.url + "/console/")
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "abandoned_console" {
			return c.Value
		}
	}
	return ""
}

// rows counts the rows of the baskets table in a page.
func rows(body string) int {
	return strings.Count(body, `<td data-label="Created">`)
}
