package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// fixture ingests ten abandoned baskets, b-00 … b-09, created a minute
// apart from base; even ones tagged "web", odd ones "app"; b-03 and b-07
// belong to Ann (spelt differently), the others to their own customer.
func fixture(h *harness) time.Time {
	base := time.Date(2024, 3, 26, 15, 0, 0, 0, time.UTC)
	for i := range 10 {
		tag := "web"
		if i%2 == 1 {
			tag = "app"
		}
		email := fmt.Sprintf("c%d@example.com", i)
		switch i {
		case 3:
			email = "Ann@Example.com"
		case 7:
			email = "ann@example.com"
		}
		h.abandon(fmt.Sprintf("b-%02d", i), base.Add(time.Duration(i)*time.Minute), tag, email)
	}
	return base
}

func TestQueryParameters(t *testing.T) {
	h := start(t, nil)
	fixture(h)
	all := []string{"b-00", "b-01", "b-02", "b-03", "b-04", "b-05", "b-06", "b-07", "b-08", "b-09"}
	tests := []struct {
		query string
		want  []string
	}{
		{"", all},
		{"limit=1000", all},
		{"unknown=1&limit=10", all},
		{"createdAfter=2024-03-26T15:04", all[5:]},              // exclusive; minutes, no zone: UTC
		{"createdAfter=2024-03-26T15:04:00Z", all[5:]},          // seconds, Z
		{"createdAfter=2024-03-26T15:03:59.999Z", all[4:]},      // fraction
		{"createdAfter=2024-03-26T15:04:00.000000001", all[5:]}, // nanoseconds
		{"createdAfter=2024-03-26T16:04:00%2B01:00", all[5:]},   // offset
		{"createdAfter=2024-03-26T16:04:00+01:00", all[5:]},     // an unescaped + reads as a space
		{"createdAfter=2024-03-26T11:04-04:00", all[5:]},
		{"createdAfter=2024-03-26T17:04:00%2B0200", all[5:]},
		{"createdAfter=2024-03-26", all},
		{"createdAfter=2024-03-27", nil},
		{"createdBefore=2024-03-26T15:02", all[:2]}, // exclusive
		{"createdAfter=2024-03-26T15:02&createdBefore=2024-03-26T15:05:00.001Z", all[3:6]},
		{"tag=web", []string{"b-00", "b-02", "b-04", "b-06", "b-08"}},
		{"tag=none", nil},
		{"email=ANN@example.com", []string{"b-03", "b-07"}},
		{"email=ann%40example.com&tag=app&createdAfter=2024-03-26T15:05", []string{"b-07"}},
		{"email=nobody@example.com", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := h.walk(mustParseQuery(t, tt.query))
			if !slices.Equal(got, tt.want) {
				t.Errorf("GET ?%s = %v; want %v", tt.query, got, tt.want)
			}
		})
	}
}

func mustParseQuery(t *testing.T, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestQueryPagingAndCount(t *testing.T) {
	h := start(t, nil)
	fixture(h)
	p := h.page("/api/checkout/abandoned?limit=3&count=exact&tag=web")
	if got := ids(p.Items); !slices.Equal(got, []string{"b-00", "b-02", "b-04"}) {
		t.Fatalf("page 1 = %v", got)
	}
	if p.Total == nil || *p.Total != 5 {
		t.Errorf("total = %v; want 5", p.Total)
	}
	if p.QueryMore == nil || p.QueryMore.Alias != "test.example" || p.QueryMore.From == "" {
		t.Fatalf("queryMore = %+v; want a cursor and the alias", p.QueryMore)
	}
	// limit may change; the filters travel in the cursor.
	p2 := h.page("/api/checkout/abandoned?limit=2&queryMore=" + url.QueryEscape(p.QueryMore.From))
	if got := ids(p2.Items); !slices.Equal(got, []string{"b-06", "b-08"}) {
		t.Errorf("page 2 = %v; want [b-06 b-08]", got)
	}
	if p2.QueryMore != nil {
		t.Errorf("last page has queryMore %+v; want none (no empty trailing page)", p2.QueryMore)
	}
	if p2.Total != nil {
		t.Errorf("total without count=exact: %v", *p2.Total)
	}
	// The same filter beside the cursor is fine.
	p3 := h.page("/api/checkout/abandoned?limit=2&tag=web&queryMore=" + url.QueryEscape(p.QueryMore.From))
	if got := ids(p3.Items); !slices.Equal(got, []string{"b-06", "b-08"}) {
		t.Errorf("page 2 with its filter = %v", got)
	}
	// The raw JSON keeps queryMore out of the last page entirely.
	r := h.get("/api/checkout/abandoned?limit=100")
	if strings.Contains(string(r.body), "queryMore") {
		t.Errorf("single page mentions queryMore: %s", r.body)
	}
	// count=exact with no match.
	p4 := h.page("/api/checkout/abandoned?count=exact&tag=nope")
	if p4.Total == nil || *p4.Total != 0 || len(p4.Items) != 0 {
		t.Errorf("empty count: total %v items %d", p4.Total, len(p4.Items))
	}
	// email count
	p5 := h.page("/api/checkout/abandoned?count=exact&email=ann@example.com&limit=1")
	if p5.Total == nil || *p5.Total != 2 {
		t.Errorf("email count = %v; want 2", p5.Total)
	}
}

func TestQueryErrors(t *testing.T) {
	h := start(t, nil)
	fixture(h)
	p := h.page("/api/checkout/abandoned?limit=2&tag=web&createdAfter=2024-03-26")
	cursor := url.QueryEscape(p.QueryMore.From)
	tampered := []byte(p.QueryMore.From)
	tampered[len(tampered)/2] ^= 1
	if tampered[len(tampered)/2] == '-' || tampered[len(tampered)/2] == '_' {
		tampered[len(tampered)/2] = 'A'
	}
	tests := []struct {
		query, param, want string
	}{
		{"limit=0", "limit", "limit: must be an integer from 1 to 1000"},
		{"limit=1001", "limit", "limit: must be an integer from 1 to 1000"},
		{"limit=-5", "limit", "limit: must be an integer from 1 to 1000"},
		{"limit=ten", "limit", "limit: must be an integer from 1 to 1000"},
		{"limit=", "limit", "limit: must be an integer from 1 to 1000"},
		{"createdAfter=yesterday", "createdAfter", "createdAfter: not an ISO-8601 date-time"},
		{"createdAfter=2024-02-30", "createdAfter", "createdAfter: not an ISO-8601 date-time"},
		{"createdAfter=2024-03-26T25:00", "createdAfter", "createdAfter: not an ISO-8601"},
		{"createdBefore=2024-03-26T10", "createdBefore", "createdBefore: not an ISO-8601"},
		{"createdAfter=2024-03-27&createdBefore=2024-03-26", "createdBefore", "createdBefore: must be later than createdAfter"},
		{"email=not-an-email", "email", "email: not a valid email address"},
		{"tag=%01", "tag", "tag: must be printable"},
		{"count=approx", "count", `count: the only accepted value is "exact"`},
		{"queryMore=garbage!", "queryMore", "queryMore: "},
		{"queryMore=" + url.QueryEscape(string(tampered)), "queryMore", "queryMore: "},
		{"queryMore=" + cursor + "&tag=app", "tag", "tag: differs from the query that queryMore continues"},
		{"queryMore=" + cursor + "&createdAfter=2024-03-25", "createdAfter", "createdAfter: differs"},
		{"queryMore=" + cursor + "&email=c1@example.com", "email", "email: differs"},
		{"limit=%zz", "limit", "limit: malformed percent-encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := h.get("/api/checkout/abandoned?" + tt.query)
			if r.status != http.StatusBadRequest {
				t.Fatalf("GET ?%s = %d %s; want 400", tt.query, r.status, r.body)
			}
			msg := r.message(t)
			if !strings.HasPrefix(msg, tt.want) {
				t.Errorf("GET ?%s: message %q; want it to start %q", tt.query, msg, tt.want)
			}
			if !strings.HasPrefix(msg, tt.param+":") {
				t.Errorf("message %q does not name %s", msg, tt.param)
			}
			if strings.Contains(msg, "example.com") || strings.Contains(msg, "not-an-email") {
				t.Errorf("message %q repeats an email", msg)
			}
		})
	}
}

func TestItemShape(t *testing.T) {
	h := start(t, nil)
	at := time.Date(2024, 3, 26, 15, 44, 54, 975_600_000, time.UTC)
	h.ingest(
		// An SSO basket with every optional field.
		`{"type":"created","basketId":"sso","at":"`+ts(at)+`","entry":"/checkout","orderItems":[],"tracking":{"tag":"web","utm":"x"},"customFields":{"n":1.5,"list":[true,null,"<&>"]}}`,
		`{"type":"identified","basketId":"sso","at":"`+ts(at.Add(time.Second))+`","identity":{"sub":"u-1","iss":"https://issuer.domain","service":"salesforce","type":"account"},"customerDetails":{"email":"ann@example.com","firstName":"Ann","lastName":"Lee","companyName":"ACME"}}`,
		// A bare anonymous basket: nothing optional.
		`{"type":"created","basketId":"anon","at":"`+ts(at.Add(time.Minute))+`"}`,
		`{"type":"emailCaptured","basketId":"anon","at":"`+ts(at.Add(2*time.Minute))+`","email":"bob@example.com"}`,
	)
	r := h.get("/api/checkout/abandoned")
	body := string(r.body)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, want := range []string{
		`"created":"2024-03-26T15:44:54.975Z"`,
		`"customerDetails":{"email":"ann@example.com","firstName":"Ann","lastName":"Lee","companyName":"ACME"}`,
		`"orderItems":[]`,
		`"tracking":{"tag":"web","utm":"x"}`,
		`"identities":[{"sub":"u-1","iss":"https://issuer.domain","service":"salesforce","type":"account"}]`,
		`"customFields":{"list":[true,null,"<&>"],"n":1.5}`,
		`"completed":false`,
		`"recoveryLink":"/api/checkout/recover?basketId=sso&recover=`,
		`{"id":"anon","created":"2024-03-26T15:45:54.975Z","customerDetails":{"email":"bob@example.com"},"orderItems":[],"tracking":{},"identities":[],"entry":"","completed":false,"recoveryLink":`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s\npage: %s", want, body)
		}
	}
	// The feed adds abandonedAt, in the same format.
	f := h.get("/api/checkout/abandoned/feed")
	if !regexp.MustCompile(`"abandonedAt":"2024-03-26T15:46:54\.975Z"`).Match(f.body) {
		t.Errorf("feed lacks anon's abandonedAt: %s", f.body)
	}
}

func TestFeed(t *testing.T) {
	h := start(t, nil)
	p := h.page("/api/checkout/abandoned/feed")
	if len(p.Items) != 0 || p.Next != "0" {
		t.Fatalf("empty feed = %d items, next %q; want 0 items, next \"0\"", len(p.Items), p.Next)
	}
	base := btest.Stats(t, h.eng).LastPosition // positions start at the engine's start time
	pos := func(n int) string { return strconv.FormatUint(base+uint64(n), 10) }
	fixture(h)
	p = h.page("/api/checkout/abandoned/feed?limit=4")
	if got := ids(p.Items); !slices.Equal(got, []string{"b-00", "b-01", "b-02", "b-03"}) || p.Next != pos(4) {
		t.Fatalf("feed page 1 = %v next %q; want next %s", got, p.Next, pos(4))
	}
	for i, it := range p.Items {
		if want := pos(i + 1); it["position"] != want {
			t.Errorf("feed item %d position = %v; want %q", i, it["position"], want)
		}
	}
	// An old basket that becomes abandoned again re-enters at the end.
	h.ingest(`{"type":"itemsChanged","basketId":"b-00","at":"2024-03-26T16:00:00Z","orderItems":[]}`)
	var got []string
	next := p.Next
	for {
		p = h.page("/api/checkout/abandoned/feed?limit=4&after=" + next)
		if len(p.Items) == 0 {
			break
		}
		got = append(got, ids(p.Items)...)
		next = p.Next
	}
	if want := []string{"b-04", "b-05", "b-06", "b-07", "b-08", "b-09", "b-00"}; !slices.Equal(got, want) {
		t.Errorf("rest of the feed = %v; want %v", got, want)
	}
	if next != pos(11) || p.Next != pos(11) {
		t.Errorf("next = %q, empty page's next = %q; want %s", next, p.Next, pos(11))
	}
	for _, q := range []string{"after=-1", "after=x", "after=1.5", "limit=0", "limit=2000"} {
		r := h.get("/api/checkout/abandoned/feed?" + q)
		param, _, _ := strings.Cut(q, "=")
		if r.status != http.StatusBadRequest || !strings.HasPrefix(r.message(t), param+": ") {
			t.Errorf("feed ?%s = %d %s; want 400 naming %s", q, r.status, r.body, param)
		}
	}
}

func TestAuth(t *testing.T) {
	h := start(t, func(_ *basket.Options, o *httpapi.Options) {
		o.OAuthClients["client-2"] = "secret-2-abcdefgh"
	})
	fixture(h)
	const q = "/api/checkout/abandoned"
	// No token, a wrong scheme, a wrong token.
	for _, hdr := range []string{"", "Basic dXNlcjpwYXNz", "Bearer", "Bearer wrong-token", "Bearer abat1.x.y.z", "Bearer abat1.Y2xpZW50LTE.3.AAAA"} {
		req, _ := http.NewRequest(http.MethodGet, h.url+q, nil)
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q = %d, WWW-Authenticate %q; want 401 Bearer", hdr, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if r := h.do(http.MethodGet, q, "", "", nil); r.message(t) != "missing bearer token: send Authorization: Bearer <token>" {
		t.Errorf("no token: message %q", r.message(t))
	}
	if r := h.do(http.MethodGet, q, "nope", "", nil); r.message(t) != "invalid bearer token" || strings.Contains(string(r.body), "nope") {
		t.Errorf("bad token: body %s", r.body)
	}

	// OAuth2: both scopes by default; one when asked.
	both := h.token("")
	read := h.token("checkout")
	write := h.token("ingest")
	if r := h.do(http.MethodGet, q, both, "", nil); r.status != http.StatusOK {
		t.Errorf("both scopes, query = %d", r.status)
	}
	if r := h.do(http.MethodGet, q, read, "", nil); r.status != http.StatusOK {
		t.Errorf("checkout scope, query = %d", r.status)
	}
	r := h.do(http.MethodGet, q, write, "", nil)
	if r.status != http.StatusForbidden || r.message(t) != "token lacks the checkout scope" {
		t.Errorf("ingest scope, query = %d %s; want 403", r.status, r.body)
	}
	ev := strings.NewReader(evCreated("new", t0, ""))
	if r := h.do(http.MethodPost, "/api/baskets/events", read, "", ev); r.status != http.StatusForbidden || r.message(t) != "token lacks the ingest scope" {
		t.Errorf("checkout scope, ingest = %d %s; want 403", r.status, r.body)
	}
	if r := h.do(http.MethodPost, "/api/baskets/events", write, "", strings.NewReader(evCreated("new", t0, ""))); r.status != http.StatusOK {
		t.Errorf("ingest scope, ingest = %d %s", r.status, r.body)
	}
	// A token's scopes cannot be edited.
	parts := strings.Split(read, ".")
	parts[2] = "3"
	if r := h.do(http.MethodPost, "/api/baskets/events", strings.Join(parts, "."), "", strings.NewReader("[]")); r.status != http.StatusUnauthorized {
		t.Errorf("edited scopes = %d; want 401", r.status)
	}
	// Nor its client.
	parts = strings.Split(both, ".")
	parts[1] = "Y2xpZW50LTI" // client-2
	if r := h.do(http.MethodGet, q, strings.Join(parts, "."), "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("edited client = %d; want 401", r.status)
	}

	// Expiry: an hour.
	h.clk.Advance(time.Hour - time.Second)
	if r := h.do(http.MethodGet, q, both, "", nil); r.status != http.StatusOK {
		t.Errorf("token before expiry = %d", r.status)
	}
	h.clk.Advance(2 * time.Second)
	r = h.do(http.MethodGet, q, both, "", nil)
	if r.status != http.StatusUnauthorized || r.message(t) != "access token expired" ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("expired token = %d %s %q; want 401 access token expired", r.status, r.body, r.header.Get("WWW-Authenticate"))
	}
	// Static tokens do not expire.
	if r := h.get(q); r.status != http.StatusOK {
		t.Errorf("static token = %d", r.status)
	}
}

func TestOAuthTokenEndpoint(t *testing.T) {
	h := start(t, nil)
	post := func(form url.Values, basicID, basicSecret string) *response {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basicID != "" {
			req.SetBasicAuth(basicID, basicSecret)
		}
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return &response{status: resp.StatusCode, header: resp.Header, body: b}
	}
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {"client-1"}, "client_secret": {"secret-1-abcdefgh"}}
	r := post(good, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("token = %d %s", r.status, r.body)
	}
	v := r.json(t)
	if v["token_type"] != "Bearer" || v["expires_in"] != float64(3600) || v["access_token"] == "" || len(v) != 3 {
		t.Errorf("token answer = %s", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", r.header.Get("Cache-Control"))
	}
	// Basic authentication of the client.
	if r := post(url.Values{"grant_type": {"client_credentials"}}, "client-1", "secret-1-abcdefgh"); r.status != http.StatusOK {
		t.Errorf("Basic auth = %d %s", r.status, r.body)
	}
	// A form sent without a Content-Type is read as a form.
	if resp, err := h.client.Post(h.url+"/oauth2/token", "", strings.NewReader(good.Encode())); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("form without Content-Type = %v, %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}
	// Another content type is refused.
	if resp, err := h.client.Post(h.url+"/oauth2/token", "application/json", strings.NewReader(`{"grant_type":"client_credentials"}`)); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("JSON body = %v, %v; want 400", resp, err)
	} else {
		resp.Body.Close()
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"client-1"}, "client_secret": {"nope"}}, 401, "invalid_client"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"x"}, "client_secret": {"secret-1-abcdefgh"}}, 401, "invalid_client"},
		{"no secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"client-1"}}, 401, "invalid_client"},
		{"no grant", url.Values{"client_id": {"client-1"}, "client_secret": {"secret-1-abcdefgh"}}, 400, "invalid_request"},
		{"password grant", url.Values{"grant_type": {"password"}, "client_id": {"client-1"}, "client_secret": {"secret-1-abcdefgh"}}, 400, "unsupported_grant_type"},
		{"bad scope", url.Values{"grant_type": {"client_credentials"}, "client_id": {"client-1"}, "client_secret": {"secret-1-abcdefgh"}, "scope": {"admin"}}, 400, "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(tt.form, "", "")
			v := r.json(t)
			if r.status != tt.status || v["error"] != tt.code || v["message"] == "" {
				t.Errorf("token(%s) = %d %s; want %d %s", tt.name, r.status, r.body, tt.status, tt.code)
			}
			if strings.Contains(string(r.body), "secret-1") {
				t.Errorf("answer repeats the secret: %s", r.body)
			}
		})
	}
	if r := h.do(http.MethodGet, "/oauth2/token", "", "", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /oauth2/token = %d; want 405", r.status)
	}
	// A secret in the URL is refused even when it is right.
	r = h.do(http.MethodPost, "/oauth2/token?client_secret=secret-1-abcdefgh", "", "application/x-www-form-urlencoded", strings.NewReader(good.Encode()))
	if r.status != http.StatusBadRequest {
		t.Errorf("secret in the URL = %d; want 400", r.status)
	}
}

func TestMethodsAndNotFound(t *testing.T) {
	h := start(t, nil)
	for _, tt := range []struct{ method, path, allow string }{
		{http.MethodPost, "/api/checkout/abandoned", "GET, HEAD"},
		{http.MethodDelete, "/api/checkout/abandoned/feed", "GET, HEAD"},
		{http.MethodPut, "/api/checkout/recover", "GET, HEAD"},
		{http.MethodGet, "/api/baskets/events", "POST"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
	} {
		r := h.do(tt.method, tt.path, testToken, "", nil)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != tt.allow || !strings.HasPrefix(r.message(t), "method "+tt.method+" not allowed") {
			t.Errorf("%s %s = %d Allow %q %s; want 405", tt.method, tt.path, r.status, r.header.Get("Allow"), r.body)
		}
	}
	if r := h.get("/api/nothing"); r.status != http.StatusNotFound || r.message(t) != "no such endpoint" {
		t.Errorf("GET /api/nothing = %d %s", r.status, r.body)
	}
}

func TestIngest(t *testing.T) {
	h := start(t, func(_ *basket.Options, o *httpapi.Options) { o.MaxBody = 4096 })
	at := time.Date(2024, 3, 26, 15, 0, 0, 0, time.UTC)
	post := func(body string) *response {
		return h.do(http.MethodPost, "/api/baskets/events", testToken, "application/json", strings.NewReader(body))
	}
	// A JSON array, with an unknown field.
	r := post("[" + evCreated("a", at, "web") + "," + `{"type":"emailCaptured","basketId":"a","at":"` + ts(at) + `","email":"a@example.com","extra":{"x":1}}` + "]")
	if r.status != http.StatusOK || string(r.body) != "{\"applied\":2}\n" {
		t.Fatalf("array = %d %s", r.status, r.body)
	}
	// NDJSON, leading space, blank lines, CRLF; a re-send counts.
	r = post("  \n" + evCreated("b", at, "") + "\r\n\n" + evCreated("a", at, "web") + "\n")
	if r.status != http.StatusOK || string(r.body) != "{\"applied\":2}\n" {
		t.Fatalf("ndjson = %d %s", r.status, r.body)
	}
	if r := post("[]"); r.status != http.StatusOK || string(r.body) != "{\"applied\":0}\n" {
		t.Errorf("empty array = %d %s", r.status, r.body)
	}
	before := btest.Stats(t, h.eng)
	bad := []struct {
		name, body string
		status     int
		index      float64
		msg        string
	}{
		{"bad email on line 3", evCreated("c", at, "") + "\n" + evCreated("d", at, "") + "\n" + evEmail("c", at, "not-an-email") + "\n" + evCreated("e", at, ""),
			400, 2, "invalid event: event 2: email: "},
		{"malformed line 2", evCreated("c", at, "") + "\n{\"type\":\"created\",\n", 400, 1, "invalid event: event 1: malformed JSON"},
		{"bad time", evCreated("c", at, "") + "\n" + `{"type":"created","basketId":"x","at":"yesterday"}`, 400, 1, "invalid event: event 1: at: not an RFC 3339 date-time"},
		{"wrong type", `[{"type":"created","basketId":"x","at":"` + ts(at) + `","orderItems":{}}]`, 400, 0, "invalid event: event 0: orderItems: wrong type"},
		{"not an object", `[1]`, 400, 0, "invalid event: event 0: want an event object"},
		{"missing type", `[{"basketId":"x","at":"` + ts(at) + `"}]`, 400, 0, "invalid event: event 0: type: missing"},
		{"trailing data", `[]x`, 400, 0, "invalid event: event 0: unexpected data after the array"},
		{"unterminated", `[` + evCreated("c", at, ""), 400, 1, "invalid event: event 1: malformed JSON"},
		{"not JSON", `hello`, 400, 0, "invalid event: event 0: want a JSON array or NDJSON"},
		{"empty", ` `, 400, 0, "invalid event: event 0: empty body"},
		{"unknown basket", evCreated("c", at, "") + "\n" + evCompleted("zzz", at), 409, 1, "conflict: event 1: completed on basket \"zzz\": unknown basket"},
		{"conflicting create", evCreated("c", at, "") + "\n" + evCreated("a", at, "app"), 409, 1, "conflict: event 1: created on contactable basket \"a\": basket already created with different content"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := post(tt.body)
			v := r.json(t)
			if r.status != tt.status || v["index"] != tt.index || !strings.HasPrefix(v["message"].(string), tt.msg) {
				t.Errorf("POST %s = %d %s; want %d index %v message %q…", tt.name, r.status, r.body, tt.status, tt.index, tt.msg)
			}
			if strings.Contains(string(r.body), "not-an-email") {
				t.Errorf("answer repeats the email: %s", r.body)
			}
		})
	}
	if after := btest.Stats(t, h.eng); after != before {
		t.Errorf("failed batches changed the engine: %+v -> %+v", before, after)
	}
	if _, ok := btest.Lookup(t, h.eng, "c"); ok {
		t.Error("basket c of a failed batch exists")
	}

	// Bodies over MaxBody: with a length, and streamed without one.
	big := "[" + strings.Repeat(" ", 5000) + "]"
	if r := post(big); r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.message(t), "larger than 4096 bytes") {
		t.Errorf("big body = %d %s; want 413", r.status, r.body)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url+"/api/baskets/events", struct{ *strings.Reader }{strings.NewReader(big)})
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.ContentLength = -1
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("big chunked body = %d; want 413", resp.StatusCode)
	}
	if after := btest.Stats(t, h.eng); after != before {
		t.Errorf("oversized bodies changed the engine: %+v -> %+v", before, after)
	}
}

func TestRecover(t *testing.T) {
	h := start(t, func(bo *basket.Options, ho *httpapi.Options) {
		bo.RecoveryValidity = 24 * time.Hour
		bo.TTL = 48 * time.Hour
		ho.CheckoutURL = "https://shop.example/checkout?lang=en"
		ho.PurchasedURL = "/thanks"
	})
	at := t0.Add(-time.Hour)
	for _, id := range []string{"go", "done", "old", "gone", "late"} {
		h.abandon(id, at, "", id+"@example.com")
	}
	link := func(id string) string {
		b, ok := btest.Lookup(t, h.eng, id)
		if !ok || b.RecoveryLink == "" {
			t.Fatalf("no recovery link for %s", id)
		}
		return b.RecoveryLink
	}
	links := map[string]string{}
	for _, id := range []string{"go", "done", "old", "gone", "late"} {
		links[id] = link(id)
	}
	follow := func(path string) *response { return h.do(http.MethodGet, path, "", "", nil) }

	// Back into the checkout, utm_* kept, other parameters dropped.
	r := follow(links["go"] + "&utm_source=newsletter&utm_medium=email&utm_content=step+1&other=x")
	if want := "https://shop.example/checkout?lang=en&basket=go&utm_source=newsletter&utm_medium=email&utm_content=step+1"; r.status != http.StatusFound || r.header.Get("Location") != want {
		t.Errorf("recover go = %d %q; want 302 %q", r.status, r.header.Get("Location"), want)
	}
	// The click is activity: with AbandonAfter 0 the basket is abandoned
	// again at once, at the click's time.
	if b, _ := btest.Lookup(t, h.eng, "go"); !b.LastActivity.Equal(t0) || !b.AbandonedAt.Equal(t0) {
		t.Errorf("after the click: last activity %v, abandoned at %v; want both %v", b.LastActivity, b.AbandonedAt, t0)
	}
	// basket= is a synonym of basketId=.
	r = follow(strings.Replace(links["go"], "basketId=", "basket=", 1))
	if r.status != http.StatusFound || !strings.Contains(r.header.Get("Location"), "basket=go") {
		t.Errorf("basket= synonym = %d %q", r.status, r.header.Get("Location"))
	}

	// Completed: the purchased page.
	h.ingest(evCompleted("done", t0))
	r = follow(links["done"] + "&utm_campaign=c1")
	if r.status != http.StatusFound || r.header.Get("Location") != "/thanks?utm_campaign=c1" {
		t.Errorf("recover done = %d %q; want 302 /thanks?utm_campaign=c1", r.status, r.header.Get("Location"))
	}

	// Erased: 403, like a forged token.
	h.ingest(`{"type":"erased","email":"gone@example.com","at":"` + ts(t0) + `"}`)

	for _, tt := range []struct {
		name, path string
		status     int
	}{
		{"missing token", "/api/checkout/recover?basketId=go", 400},
		{"empty token", "/api/checkout/recover?basketId=go&recover=", 400},
		{"missing basket", "/api/checkout/recover?recover=" + strings.SplitN(links["go"], "recover=", 2)[1], 400},
		{"forged", "/api/checkout/recover?basketId=go&recover=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 403},
		{"another basket's token", strings.Replace(links["old"], "basketId=old", "basketId=go", 1), 403},
		{"erased", links["gone"], 403},
		{"unknown basket", strings.Replace(links["old"], "basketId=old", "basketId=nope", 1), 403},
	} {
		r := follow(tt.path)
		if r.status != tt.status || r.message(t) != "this recovery link is not valid" {
			t.Errorf("%s = %d %s; want %d with the generic message", tt.name, r.status, r.body, tt.status)
		}
	}

	// Expired basket (past its TTL), token still valid: a purchase link.
	h.clk.Advance(47*time.Hour + time.Minute) // created at t0-1h: expires at t0+47h
	if err := h.eng.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The tokens were issued at t0 with 24 h validity: re-issue for old.
	tok := h.eng.IssueToken(basket.PurposeRecover, "old", time.Hour)
	r = follow("/api/checkout/recover?basketId=old&recover=" + tok + "&utm_source=s")
	if want := "https://shop.example/checkout?lang=en&purchase=%2Foffers2%2FThe+Offer&utm_source=s"; r.status != http.StatusFound || r.header.Get("Location") != want {
		t.Errorf("recover expired basket = %d %q; want 302 %q", r.status, r.header.Get("Location"), want)
	}
	// An expired token: 410.
	r = follow(links["late"])
	if r.status != http.StatusGone || r.message(t) != "this recovery link is not valid" {
		t.Errorf("expired token = %d %s; want 410", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
}

func TestPagingWhileIngesting(t *testing.T) {
	h := start(t, nil)
	base := time.Date(2024, 3, 26, 0, 0, 0, 0, time.UTC)
	// The stable set: abandoned throughout the walk, never touched.
	var stable []string
	var lines []string
	for i := range 300 {
		id := fmt.Sprintf("s-%03d", i)
		stable = append(stable, id)
		at := base.Add(time.Duration(i) * 10 * time.Second)
		lines = append(lines, evCreated(id, at, ""), evEmail(id, at, id+"@example.com"))
	}
	// Churn: abandoned at first, later completed or made active again.
	for i := range 100 {
		id := fmt.Sprintf("c-%03d", i)
		at := base.Add(time.Duration(i)*30*time.Second + 5*time.Second)
		lines = append(lines, evCreated(id, at, ""), evEmail(id, at, id+"@example.com"))
	}
	h.ingest(lines...)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			at := base.Add(time.Duration(i%3000) * 999 * time.Millisecond)
			id := fmt.Sprintf("n-%05d", i)
			batch := []string{evCreated(id, at, ""), evEmail(id, at, id+"@example.com")}
			if i < 100 {
				c := fmt.Sprintf("c-%03d", i)
				if i%2 == 0 {
					batch = append(batch, evCompleted(c, t0))
				} else {
					batch = append(batch, `{"type":"itemsChanged","basketId":"`+c+`","at":"`+ts(t0)+`","orderItems":[]}`)
				}
			}
			r := h.do(http.MethodPost, "/api/baskets/events", testToken, "", strings.NewReader(strings.Join(batch, "\n")))
			if r.status != http.StatusOK {
				t.Errorf("concurrent ingest: %d %s", r.status, r.body)
				return
			}
		}
	}()
	got := h.walk(url.Values{"limit": {"7"}})
	close(stop)
	wg.Wait()

	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("basket %s returned twice", id)
		}
		seen[id] = true
	}
	for _, id := range stable {
		if !seen[id] {
			t.Errorf("basket %s, abandoned throughout, was missed", id)
		}
	}
}

func TestHealthMetricsAndLogs(t *testing.T) {
	h := start(t, nil)
	fixture(h)
	if r := h.do(http.MethodGet, "/healthz", "", "", nil); r.status != http.StatusOK {
		t.Errorf("healthz = %d", r.status)
	}
	h.get("/api/checkout/abandoned?email=secret.person@example.com&limit=5")
	h.do(http.MethodGet, "/api/checkout/abandoned", "wrong-token-value", "", nil)
	r := h.do(http.MethodGet, "/metrics", "", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("metrics = %d", r.status)
	}
	for _, want := range []string{
		`abandoned_http_requests_total{code="200",method="get",route="/api/checkout/abandoned"} 1`,
		`abandoned_http_requests_total{code="401",method="get",route="/api/checkout/abandoned"} 1`,
		`abandoned_http_request_duration_seconds_bucket{route="/api/baskets/events",le="+Inf"} 10`,
		`abandoned_baskets{state="abandoned"} 10`,
		`abandoned_baskets{state="contactable"} 10`,
		`abandoned_ingest_events_total 20`,
		`abandoned_ingest_batches_total{outcome="applied"} 10`,
		`abandoned_query_pages_total{endpoint="query"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "path=/api/checkout/abandoned") || !strings.Contains(logs, "status=401") {
		t.Errorf("access log lacks the requests:\n%s", logs)
	}
	for _, secret := range []string{"secret.person", "example.com", testToken, "wrong-token-value", "limit=5"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds %q:\n%s", secret, logs)
		}
	}
}

func TestClosedEngine(t *testing.T) {
	h := start(t, nil)
	h.eng.Close()
	for _, path := range []string{"/api/checkout/abandoned", "/api/checkout/abandoned/feed", "/healthz"} {
		if r := h.get(path); r.status != http.StatusServiceUnavailable {
			t.Errorf("GET %s on a closed engine = %d %s; want 503", path, r.status, r.body)
		}
	}
}
