package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/basket/webhook"
)

// loadOpenAPI loads and validates the server's OpenAPI document with
// kin-openapi, which reads OpenAPI 3.1 with JSON Schema 2020-12.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpapi.OpenAPI())
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	return doc
}

var registerDecoders sync.Once

// registerBodyDecoders teaches openapi3filter the media types of the API
// it does not know: HTML pages (as text) and NDJSON (its lines, as an
// array).
func registerBodyDecoders() {
	registerDecoders.Do(func() {
		openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
		openapi3filter.RegisterBodyDecoder("application/x-ndjson",
			func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
				var lines []any
				sc := bufio.NewScanner(r)
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					if len(bytes.TrimSpace(sc.Bytes())) == 0 {
						continue
					}
					var v any
					if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
						return nil, err
					}
					lines = append(lines, v)
				}
				return lines, sc.Err()
			})
	})
}

// operations returns "METHOD path" of every operation of doc, sorted.
func operations(doc *openapi3.T) []string {
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	sort.Strings(ops)
	return ops
}

// TestOpenAPIDocument checks the document itself: valid OpenAPI 3.1, the
// same endpoints as the package's documentation with the same scopes, and
// the errors every operation of its kind answers.
func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q; want 3.1.x", doc.OpenAPI)
	}

	// doc.go lists the endpoints as "METHOD path  what; scope X|public".
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^//\t(GET|POST) +(/\S*) +.*; (scope checkout|scope ingest|public)$`)
	var listed []string
	scopes := map[string]string{}
	for _, m := range line.FindAllStringSubmatch(string(src), -1) {
		listed = append(listed, m[1]+" "+m[2])
		scopes[m[1]+" "+m[2]] = strings.TrimPrefix(m[3], "scope ")
	}
	sort.Strings(listed)
	if ops := operations(doc); !slices.Equal(ops, listed) {
		t.Errorf("the document's operations %q; doc.go lists %q", ops, listed)
	}

	for _, op := range operations(doc) {
		method, path, _ := strings.Cut(op, " ")
		o := doc.Paths.Value(path).GetOperation(method)
		if o.Security == nil {
			t.Errorf("%s: no security: say [] for a public endpoint", op)
			continue
		}
		var got []string
		for _, req := range *o.Security {
			for name, sc := range req {
				got = append(got, name+":"+strings.Join(sc, ","))
			}
		}
		sort.Strings(got)
		var want []string
		if s := scopes[op]; s != "public" && s != "" {
			want = []string{"bearer:", "oauth2:" + s}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: security %q; want %q (doc.go says %s)", op, got, want, scopes[op])
		}
		if len(want) > 0 {
			for _, code := range []int{401, 403, 429} {
				if o.Responses.Status(code) == nil {
					t.Errorf("%s: needs a token but lists no %d", op, code)
				}
			}
		}
		if o.OperationID == "" || o.Summary == "" {
			t.Errorf("%s: want an operationId and a summary", op)
		}
	}
}

// apiCase is a request whose answer the document must describe.
type apiCase struct {
	name                 string
	method, path         string
	token                string // "" sends none
	contentType, accept  string
	body                 string
	status               int
	valid                bool // the request is one the document describes: validate it too
	check                func(t *testing.T, r *http.Response, body []byte)
	header, headerPrefix string // a header of the answer and the start of its value
}

// openapiValidator checks requests and answers against the document.
type openapiValidator struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	seen   map[string]bool // "METHOD path status" of every answer checked
}

func newOpenAPIValidator(t *testing.T) *openapiValidator {
	registerBodyDecoders()
	doc := loadOpenAPI(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &openapiValidator{t: t, doc: doc, router: router, seen: map[string]bool{}}
}

// bearerAuth checks the one thing the document can say of a token: that
// there is one.
func bearerAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
		return fmt.Errorf("no bearer token")
	}
	return nil
}

func (c *apiCase) request(base string) *http.Request {
	var body io.Reader = http.NoBody
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	if err != nil {
		panic(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.accept != "" {
		req.Header.Set("Accept", c.accept)
	}
	return req
}

// run sends each case to h and validates its answer (and, for a valid
// request, the request) against the document.
func (v *openapiValidator) run(h *harness, cases []apiCase) {
	t := v.t
	t.Helper()
	opts := &openapi3filter.Options{AuthenticationFunc: bearerAuth, IncludeResponseStatus: true, MultiError: true}
	for _, c := range cases {
		req := c.request(h.url)
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: reading: %v", c.name, err)
		}
		if resp.StatusCode != c.status {
			t.Errorf("%s: %s %s = %d %.300s; want %d", c.name, c.method, c.path, resp.StatusCode, body, c.status)
			continue
		}
		if c.header != "" && !strings.HasPrefix(resp.Header.Get(c.header), c.headerPrefix) {
			t.Errorf("%s: %s: %q; want it to start with %q", c.name, c.header, resp.Header.Get(c.header), c.headerPrefix)
		}
		if c.check != nil {
			c.check(t, resp, body)
		}
		vreq := c.request(h.url) // the same request again, its body unread
		route, params, err := v.router.FindRoute(vreq)
		if err != nil {
			t.Errorf("%s: %s %s: the document has no such operation: %v", c.name, c.method, c.path, err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
		if c.valid {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("%s: the request does not match the document: %v", c.name, err)
			}
		}
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts,
		}
		out.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s: %s %s = %d %.300s: the answer does not match the document: %v", c.name, c.method, c.path, resp.StatusCode, body, err)
		}
		v.seen[fmt.Sprintf("%s %s %d", route.Method, route.Path, resp.StatusCode)] = true
	}
}

// validateErrorBody checks an answer with the document's Error schema:
// for the 404s and 405s, which no operation lists.
func (v *openapiValidator) validateErrorBody(name string, body []byte) {
	v.t.Helper()
	var val any
	if err := json.Unmarshal(body, &val); err != nil {
		v.t.Errorf("%s: %q is not JSON: %v", name, body, err)
		return
	}
	schema := v.doc.Components.Schemas["Error"].Value
	if err := schema.VisitJSON(val, openapi3.EnableJSONSchema2020()); err != nil {
		v.t.Errorf("%s: %s does not match the Error schema: %v", name, body, err)
	}
}

// webhookSecret signs the requests of the tests' webhook deliverers.
var webhookSecret = []byte(strings.Repeat("7a", 32))

// webhookReceiver is an endpoint of outgoing webhooks on 127.0.0.1: it
// answers its n-th request (from 0) with the status plan gives.
type webhookReceiver struct {
	srv  *httptest.Server
	plan func(n int) int
	mu   sync.Mutex // guards n
	n    int
}

func newWebhookReceiver(t *testing.T, plan func(n int) int) *webhookReceiver {
	rc := &webhookReceiver{plan: plan}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck // only the answer matters
		rc.mu.Lock()
		n := rc.n
		rc.n++
		rc.mu.Unlock()
		w.WriteHeader(rc.plan(n))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// startWebhooks runs a server as start does, but with outgoing webhooks,
// as serve has them with -webhook: a webhook.Deliverer over the server's
// engine (which keeps a change journal) delivering to one endpoint, a
// receiver that answers as plan says (nil: 204 to every request), and the
// deliverer's Routes in httpapi.Options.Routes. The deliverer needs the
// engine before the server exists, and start makes both at once: the
// server returned is a second one over start's engine, with start's
// options and the routes (start's own is left idle). The deliverer is
// closed at cleanup, before the engine; the endpoint is active, its
// delivery state loaded, so that it gets every change made from now on.
func startWebhooks(t *testing.T, plan func(n int) int, configure func(*basket.Options, *httpapi.Options)) (*harness, *webhook.Deliverer, webhook.Endpoint) {
	t.Helper()
	var opts httpapi.Options
	h := start(t, func(bo *basket.Options, o *httpapi.Options) {
		bo.ChangeRetention = basket.DefaultChangeRetention
		if configure != nil {
			configure(bo, o)
		}
		opts = *o
	})
	if plan == nil {
		plan = func(int) int { return http.StatusNoContent }
	}
	rc := newWebhookReceiver(t, plan)
	ep := webhook.Endpoint{URL: rc.srv.URL + "/hooks?token=receiver-own-token", Secrets: [][]byte{webhookSecret}}
	d, err := webhook.Start(context.Background(), h.eng, &webhook.Options{
		Endpoints: []webhook.Endpoint{ep},
		// The receiver is on loopback; a failed attempt is tried again
		// within 10 ms.
		AllowPrivate: true,
		Retry:        webhook.Retry{First: 10 * time.Millisecond, Max: 10 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	opts.Routes = append(opts.Routes, d.Routes()...)
	srv, err := httpapi.New(h.eng, &opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	waitWebhook(t, d, ep.ID(), "active", func(st *webhook.EndpointState) bool { return st.Status == webhook.StatusActive })
	wh := *h
	wh.srv, wh.url = srv, "http://"+ln.Addr().String()
	return &wh, d, ep
}

// waitWebhook waits until the state of d's endpoint id is what ok says.
func waitWebhook(t *testing.T, d *webhook.Deliverer, id, what string, ok func(*webhook.EndpointState) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sts, err := d.Endpoints(id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(&sts[0]) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook endpoint %s: not %s after 10 s: %+v", id, what, sts[0])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bodyHas checks that an answer holds each of want and none of unwanted.
func bodyHas(want []string, unwanted ...string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		for _, w := range want {
			if !bytes.Contains(body, []byte(w)) {
				t.Errorf("answer %s; want it to hold %s", body, w)
			}
		}
		for _, u := range unwanted {
			if bytes.Contains(body, []byte(u)) {
				t.Errorf("answer %s holds %s", body, u)
			}
		}
	}
}

// TestOpenAPIAnswers checks real answers of a running server, over an
// engine with data, against the document: a success of every operation
// and every error the test can provoke, each request validated too when it
// is a valid one. Every status the document lists must be among them, but
// for those no test can provoke (a fault of the server: 500). The server
// delivers outgoing webhooks, so that it serves their routes too.
func TestOpenAPIAnswers(t *testing.T) {
	v := newOpenAPIValidator(t)
	// The webhook receiver answers the first change 503 (a retry), then
	// 410 Gone: the endpoint is disabled until it is resumed.
	plan := func(n int) int {
		switch n {
		case 0:
			return http.StatusServiceUnavailable
		case 1:
			return http.StatusGone
		}
		return http.StatusNoContent
	}
	h, d, ep := startWebhooks(t, plan, func(_ *basket.Options, o *httpapi.Options) {
		o.CheckoutURL = "https://shop.example/checkout"
	})
	checkout, ingest := h.token("checkout"), h.token("ingest")
	created := t0.Add(-2 * time.Hour)
	at := func(d time.Duration) string { return ts(created.Add(d)) }
	items := `[{"name":"The Offer","path":"/offers2/The Offer","products":[{"path":"/products/Digital All Access","productCode":"SKU-00000001"}]}]`

	// Ingest: both forms, every type of event, then errors.
	array := `[` + strings.Join([]string{
		`{"type":"created","basketId":"b-1","at":"` + at(0) + `","entry":"/checkout","orderItems":` + items + `,"tracking":{"tag":"web","campaign":"spring"},"customFields":{"plan":"annual","seats":3}}`,
		`{"type":"emailCaptured","basketId":"b-1","at":"` + at(time.Second) + `","email":"ann@example.com"}`,
		`{"type":"customerDetailsChanged","basketId":"b-1","at":"` + at(2*time.Second) + `","customerDetails":{"email":"ann@example.com","firstName":"Ann","lastName":"Lee","companyName":"Lee Ltd"}}`,
	}, ",") + `]`
	ndjson := strings.Join([]string{
		`{"type":"created","basketId":"b-2","at":"` + at(time.Minute) + `","entry":"/checkout","orderItems":` + items + `,"tracking":{}}`,
		`{"type":"identified","basketId":"b-2","at":"` + at(time.Minute+time.Second) + `","identity":{"sub":"u-2","iss":"https://issuer.domain","service":"salesforce","type":"account"},"customerDetails":{"email":"bob@example.com","firstName":"Bob"}}`,
		`{"type":"itemsChanged","basketId":"b-2","at":"` + at(time.Minute+2*time.Second) + `","orderItems":` + items + `}`,
		``,
		`{"type":"created","basketId":"b-3","at":"` + at(2*time.Minute) + `","entry":"/checkout","orderItems":` + items + `,"tracking":{"tag":"app"}}`,
		`{"type":"emailCaptured","basketId":"b-3","at":"` + at(2*time.Minute+time.Second) + `","email":"ann@example.com"}`,
		`{"type":"completed","basketId":"b-3","at":"` + at(3*time.Minute) + `"}`,
		`{"type":"created","basketId":"b-4","at":"` + at(4*time.Minute) + `","entry":"/checkout","orderItems":` + items + `}`,
		`{"type":"emailCaptured","basketId":"b-4","at":"` + at(4*time.Minute+time.Second) + `","email":"gone@example.com"}`,
		`{"type":"recovered","basketId":"b-4","at":"` + at(5*time.Minute) + `"}`,
		`{"type":"erased","email":"gone@example.com","at":"` + at(6*time.Minute) + `"}`,
	}, "\n")
	v.run(h, []apiCase{
		{name: "ingest a JSON array", method: "POST", path: "/api/baskets/events", token: testToken, contentType: "application/json", body: array, status: 200, valid: true},
		{name: "ingest NDJSON", method: "POST", path: "/api/baskets/events", token: ingest, contentType: "application/x-ndjson", body: ndjson, status: 200, valid: true},
		{name: "ingest again", method: "POST", path: "/api/baskets/events", token: testToken, contentType: "application/json", body: array, status: 200, valid: true,
			check: func(t *testing.T, _ *http.Response, body []byte) {
				if string(body) != "{\"applied\":3}\n" {
					t.Errorf("a re-sent batch answered %s; want 3 applied", body)
				}
			}},
		{name: "ingest an invalid event", method: "POST", path: "/api/baskets/events", token: testToken, contentType: "application/x-ndjson",
			body: `{"type":"completed","basketId":"b-1","at":"` + at(0) + `"}` + "\n" + `{"type":"nope","basketId":"b-1","at":"` + at(0) + `"}`, status: 400,
			check: wantIndex(1)},
		{name: "ingest malformed JSON", method: "POST", path: "/api/baskets/events", token: testToken, contentType: "application/json", body: `[{"type":`, status: 400},
		{name: "ingest an event too far ahead", method: "POST", path: "/api/baskets/events", token: testToken, contentType: "application/x-ndjson",
			body: `{"type":"completed","basketId":"b-1","at":"` + ts(t0.Add(time.Hour)) + `"}`, status: 400, check: wantIndex(0)},
		{name: "ingest for an unknown basket", method: "POST", path: "/api/baskets/events", token: testToken, contentType: "application/x-ndjson",
			body: `{"type":"emailCaptured","basketId":"b-1","at":"` + at(time.Minute) + `","email":"ann@example.com"}` + "\n" + `{"type":"completed","basketId":"nope","at":"` + at(0) + `"}`, status: 409,
			check: wantIndex(1)},
		{name: "ingest without a token", method: "POST", path: "/api/baskets/events", contentType: "application/json", body: array, status: 401,
			header: "WWW-Authenticate", headerPrefix: "Bearer"},
		{name: "ingest with a checkout token", method: "POST", path: "/api/baskets/events", token: checkout, contentType: "application/json", body: array, status: 403,
			header: "WWW-Authenticate", headerPrefix: `Bearer realm="abandoned", error="insufficient_scope"`},
	})

	// Queries, with what they hand out for the next requests.
	var cursor, link string
	v.run(h, []apiCase{
		{name: "query", method: "GET", path: "/api/checkout/abandoned?limit=1&count=exact&createdAfter=2024-03-01", token: checkout, status: 200, valid: true,
			check: func(t *testing.T, _ *http.Response, body []byte) {
				var p page
				json.Unmarshal(body, &p) //nolint:errcheck // validated below
				if len(p.Items) != 1 || p.QueryMore == nil || p.Total == nil || *p.Total != 2 {
					t.Fatalf("query = %s; want one of 2 items, a queryMore and a total", body)
				}
				cursor = p.QueryMore.From
				link, _ = p.Items[0]["recoveryLink"].(string)
			}},
	})
	unsubscribeToken := h.eng.UnsubscribeToken("ann@example.com")
	suppressed := `{"email":"ann@example.com"}`
	v.run(h, []apiCase{
		{name: "query the next page", method: "GET", path: "/api/checkout/abandoned?limit=5&queryMore=" + url.QueryEscape(cursor), token: testToken, status: 200, valid: true},
		{name: "query by email and tag", method: "GET", path: "/api/checkout/abandoned?email=ann%40example.com&tag=web&createdBefore=2030-01-01T00:00", token: testToken, status: 200, valid: true},
		{name: "query with a bad limit", method: "GET", path: "/api/checkout/abandoned?limit=0", token: testToken, status: 400},
		{name: "query with a tampered cursor", method: "GET", path: "/api/checkout/abandoned?queryMore=AAAA" + url.QueryEscape(cursor[4:]), token: testToken, status: 400},
		{name: "query without a token", method: "GET", path: "/api/checkout/abandoned", status: 401, header: "WWW-Authenticate", headerPrefix: `Bearer realm="abandoned"`},
		{name: "query with an invalid token", method: "GET", path: "/api/checkout/abandoned", token: "not-a-token-of-this-server", status: 401,
			header: "WWW-Authenticate", headerPrefix: `Bearer realm="abandoned", error="invalid_token"`},
		{name: "query with an ingest token", method: "GET", path: "/api/checkout/abandoned", token: ingest, status: 403},
		{name: "query, gzip-compressed", method: "GET", path: "/api/checkout/abandoned?limit=1000", token: testToken, status: 200, valid: true,
			check: func(t *testing.T, r *http.Response, _ []byte) {
				if !r.Uncompressed {
					t.Error("a page over 1 KiB was not gzip-compressed")
				}
			}},

		{name: "feed", method: "GET", path: "/api/checkout/abandoned/feed", token: checkout, status: 200, valid: true,
			check: func(t *testing.T, _ *http.Response, body []byte) {
				if !bytes.Contains(body, []byte(`"abandonedAt"`)) {
					t.Errorf("feed = %s; want items with abandonedAt", body)
				}
			}},
		{name: "feed after a position", method: "GET", path: "/api/checkout/abandoned/feed?after=99&limit=10", token: checkout, status: 200, valid: true},
		{name: "feed with a bad position", method: "GET", path: "/api/checkout/abandoned/feed?after=x", token: checkout, status: 400},
		{name: "feed without a token", method: "GET", path: "/api/checkout/abandoned/feed", status: 401},
		{name: "feed with an ingest token", method: "GET", path: "/api/checkout/abandoned/feed", token: ingest, status: 403},

		{name: "customer", method: "GET", path: "/api/checkout/customer?email=ann%40example.com", token: checkout, status: 200, valid: true,
			check: func(t *testing.T, _ *http.Response, body []byte) {
				if !bytes.Contains(body, []byte(`"state":"completed"`)) || !bytes.Contains(body, []byte(`"completedAt"`)) {
					t.Errorf("customer = %s; want the completed basket too", body)
				}
			}},
		{name: "customer without an email", method: "GET", path: "/api/checkout/customer", token: checkout, status: 400},
		{name: "customer without a token", method: "GET", path: "/api/checkout/customer?email=ann%40example.com", status: 401},
		{name: "customer with an ingest token", method: "GET", path: "/api/checkout/customer?email=ann%40example.com", token: ingest, status: 403},

		{name: "recover", method: "GET", path: link + "&utm_source=reminder", status: 302, valid: true,
			header: "Location", headerPrefix: "https://shop.example/checkout?basket="},
		{name: "recover without a token", method: "GET", path: "/api/checkout/recover?basketId=b-1", status: 400},
		{name: "recover with a forged token", method: "GET", path: "/api/checkout/recover?basketId=b-1&recover=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", status: 403, valid: true},

		{name: "suppression", method: "POST", path: "/api/checkout/suppression", token: checkout, contentType: "application/json", body: suppressed, status: 200, valid: true,
			check: func(t *testing.T, _ *http.Response, body []byte) {
				if !bytes.Contains(body, []byte(`"suppressed":false`)) {
					t.Errorf("suppression = %s; want false before the unsubscribe", body)
				}
			}},
		{name: "suppression without a body", method: "POST", path: "/api/checkout/suppression", token: checkout, contentType: "application/json", status: 400},
		{name: "suppression with an unknown field", method: "POST", path: "/api/checkout/suppression", token: checkout, contentType: "application/json", body: `{"email":"ann@example.com","x":1}`, status: 400},
		{name: "suppression of a bad address", method: "POST", path: "/api/checkout/suppression", token: checkout, contentType: "application/json", body: `{"email":"not an address"}`, status: 400},
		{name: "suppression of a large body", method: "POST", path: "/api/checkout/suppression", token: checkout, contentType: "application/json", body: `{"email":"` + strings.Repeat("a", 5000) + `"}`, status: 413},
		{name: "suppression in text", method: "POST", path: "/api/checkout/suppression", token: checkout, contentType: "text/plain", body: suppressed, status: 415},
		{name: "suppression without a token", method: "POST", path: "/api/checkout/suppression", contentType: "application/json", body: suppressed, status: 401},
		{name: "suppression with an ingest token", method: "POST", path: "/api/checkout/suppression", token: ingest, contentType: "application/json", body: suppressed, status: 403},

		{name: "unsubscribe page", method: "GET", path: "/api/checkout/unsubscribe?token=" + url.QueryEscape(unsubscribeToken), status: 200, valid: true,
			header: "Content-Type", headerPrefix: "text/html"},
		{name: "unsubscribe page of a bad token", method: "GET", path: "/api/checkout/unsubscribe?token=AAAA", status: 403, valid: true},
		{name: "unsubscribe page without a token", method: "GET", path: "/api/checkout/unsubscribe", status: 403},
		{name: "unsubscribe, one click", method: "POST", path: "/api/checkout/unsubscribe?token=" + url.QueryEscape(unsubscribeToken),
			contentType: "application/x-www-form-urlencoded", body: "List-Unsubscribe=One-Click", status: 200, valid: true},
		{name: "unsubscribe from the page", method: "POST", path: "/api/checkout/unsubscribe?token=" + url.QueryEscape(unsubscribeToken),
			contentType: "application/x-www-form-urlencoded", accept: "text/html,application/xhtml+xml", body: "List-Unsubscribe=One-Click", status: 200, valid: true,
			header: "Content-Type", headerPrefix: "text/html"},
		{name: "unsubscribe with a bad token", method: "POST", path: "/api/checkout/unsubscribe?token=AAAA",
			contentType: "application/x-www-form-urlencoded", body: "List-Unsubscribe=One-Click", status: 403, valid: true},
		{name: "unsubscribe from the page with a bad token", method: "POST", path: "/api/checkout/unsubscribe?token=AAAA", accept: "text/html", status: 403, valid: true,
			header: "Content-Type", headerPrefix: "text/html"},
		{name: "suppression after the unsubscribe", method: "POST", path: "/api/checkout/suppression", token: testToken, contentType: "application/json", body: suppressed, status: 200, valid: true,
			check: func(t *testing.T, _ *http.Response, body []byte) {
				if !bytes.Contains(body, []byte(`"suppressed":true`)) {
					t.Errorf("suppression = %s; want true after the unsubscribe", body)
				}
			}},

		{name: "token", method: "POST", path: "/oauth2/token", contentType: "application/x-www-form-urlencoded",
			body: "grant_type=client_credentials&client_id=client-1&client_secret=secret-1-abcdefgh&scope=checkout", status: 200, valid: true},
		{name: "token without a grant", method: "POST", path: "/oauth2/token", contentType: "application/x-www-form-urlencoded", body: "client_id=client-1", status: 400},
		{name: "token of another grant", method: "POST", path: "/oauth2/token", contentType: "application/x-www-form-urlencoded", body: "grant_type=password", status: 400},
		{name: "token of a bad client", method: "POST", path: "/oauth2/token", contentType: "application/x-www-form-urlencoded",
			body: "grant_type=client_credentials&client_id=client-1&client_secret=wrong-secret-000", status: 401, valid: true, header: "WWW-Authenticate", headerPrefix: "Basic"},

		{name: "health", method: "GET", path: "/healthz", status: 200, valid: true},
		{name: "metrics", method: "GET", path: "/metrics", status: 200, valid: true, header: "Content-Type", headerPrefix: "text/plain"},
		{name: "this document", method: "GET", path: "/openapi.json", status: 200, valid: true,
			check: func(t *testing.T, _ *http.Response, body []byte) {
				if !bytes.Equal(body, httpapi.OpenAPI()) {
					t.Error("GET /openapi.json is not the document OpenAPI returns")
				}
			}},
	})

	// The webhooks' routes, over the endpoint the changes above disabled.
	waitWebhook(t, d, ep.ID(), "disabled", func(st *webhook.EndpointState) bool { return st.Status == webhook.StatusDisabled })
	deliveries, resume := webhook.DeliveriesPath, webhook.ResumePath
	byID, byURL := "?endpoint="+ep.ID(), "?endpoint="+url.QueryEscape(ep.URL)
	v.run(h, []apiCase{
		{name: "webhook deliveries", method: "GET", path: deliveries, token: checkout, status: 200, valid: true,
			check: bodyHas([]string{`"id":"` + ep.ID() + `"`, `"status":"disabled"`, `"since":`, `"reason":`, `"outcome":"disabled","status":410`,
				`"outcome":"retry","status":503`, `"nextAttempt":`, `/hooks?…"`}, "receiver-own-token")},
		{name: "webhook deliveries of an endpoint by id", method: "GET", path: deliveries + byID, token: testToken, status: 200, valid: true,
			check: bodyHas([]string{`"status":"disabled"`})},
		{name: "webhook deliveries of an endpoint by URL", method: "GET", path: deliveries + byURL, token: checkout, status: 200, valid: true,
			check: bodyHas([]string{`"id":"` + ep.ID() + `"`})},
		{name: "webhook deliveries, endpoint empty", method: "GET", path: deliveries + "?endpoint=", token: checkout, status: 200, valid: true,
			check: bodyHas([]string{`"id":"` + ep.ID() + `"`})},
		{name: "webhook deliveries of an unknown endpoint", method: "GET", path: deliveries + "?endpoint=wh_000000000000", token: checkout, status: 404, valid: true},
		{name: "webhook deliveries, endpoint twice", method: "GET", path: deliveries + byID + "&endpoint=" + ep.ID(), token: checkout, status: 400},
		{name: "webhook deliveries, a malformed query", method: "GET", path: deliveries + "?endpoint=%zz", token: checkout, status: 400},
		{name: "webhook deliveries without a token", method: "GET", path: deliveries, status: 401, header: "WWW-Authenticate", headerPrefix: `Bearer realm="abandoned"`},
		{name: "webhook deliveries with an invalid token", method: "GET", path: deliveries, token: "not-a-token-of-this-server", status: 401,
			header: "WWW-Authenticate", headerPrefix: `Bearer realm="abandoned", error="invalid_token"`},
		{name: "webhook deliveries with an ingest token", method: "GET", path: deliveries, token: ingest, status: 403,
			header: "WWW-Authenticate", headerPrefix: `Bearer realm="abandoned", error="insufficient_scope"`},

		{name: "webhook resume", method: "POST", path: resume + byID, token: checkout, status: 200, valid: true,
			check: bodyHas([]string{`"id":"` + ep.ID() + `"`, `"status":"active"`})},
		{name: "webhook resume of an active endpoint, by URL", method: "POST", path: resume + byURL, token: testToken, status: 200, valid: true,
			check: bodyHas([]string{`"status":"active"`}, "receiver-own-token")},
		{name: "webhook resume without an endpoint", method: "POST", path: resume, token: checkout, status: 400},
		{name: "webhook resume, endpoint empty", method: "POST", path: resume + "?endpoint=", token: checkout, status: 400},
		{name: "webhook resume, endpoint twice", method: "POST", path: resume + byID + "&endpoint=" + ep.ID(), token: checkout, status: 400},
		{name: "webhook resume, a malformed query", method: "POST", path: resume + "?endpoint=%zz", token: checkout, status: 400},
		{name: "webhook resume of an unknown endpoint", method: "POST", path: resume + "?endpoint=" + url.QueryEscape("https://hooks.example/other"), token: checkout, status: 404, valid: true},
		{name: "webhook resume without a token", method: "POST", path: resume + byID, status: 401, header: "WWW-Authenticate", headerPrefix: `Bearer realm="abandoned"`},
		{name: "webhook resume with an ingest token", method: "POST", path: resume + byID, token: ingest, status: 403,
			header: "WWW-Authenticate", headerPrefix: `Bearer realm="abandoned", error="insufficient_scope"`},
	})
	// Resumed, the endpoint gets the change it refused.
	waitWebhook(t, d, ep.ID(), "delivered to", func(st *webhook.EndpointState) bool {
		return len(st.Attempts) > 0 && st.Attempts[0].Outcome == webhook.OutcomeDelivered
	})
	v.run(h, []apiCase{
		{name: "webhook deliveries after the resume", method: "GET", path: deliveries + byID, token: checkout, status: 200, valid: true,
			check: bodyHas([]string{`"status":"active"`, `"outcome":"delivered"`})},
	})

	// Every path answers another method 405 with the methods the document
	// gives it; any other path 404; both with the Error schema.
	for path, item := range v.doc.Paths.Map() {
		var methods []string
		for m := range item.Operations() {
			methods = append(methods, m)
			if m == http.MethodGet {
				methods = append(methods, http.MethodHead)
			}
		}
		sort.Strings(methods)
		r := h.do(http.MethodDelete, path, testToken, "", nil)
		var allow []string
		for _, m := range strings.Split(r.header.Get("Allow"), ",") {
			allow = append(allow, strings.TrimSpace(m))
		}
		sort.Strings(allow)
		if r.status != http.StatusMethodNotAllowed || !slices.Equal(allow, methods) {
			t.Errorf("DELETE %s = %d, Allow %q; want 405 with the document's methods %q", path, r.status, allow, methods)
		}
		v.validateErrorBody("DELETE "+path, r.body)
	}
	for _, path := range []string{"/nope", "/api/checkout/abandoned/", "/api"} {
		r := h.get(path)
		if r.status != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404", path, r.status)
		}
		if _, _, err := v.router.FindRoute(h.request(http.MethodGet, path)); err == nil {
			t.Errorf("GET %s: the document has it, the server answers 404", path)
		}
		v.validateErrorBody("GET "+path, r.body)
	}

	// Limits: a small body and batch.
	small := start(t, func(_ *basket.Options, o *httpapi.Options) { o.MaxBody, o.MaxBatch = 2048, 2 })
	three := strings.Repeat(`{"type":"completed","basketId":"b-1","at":"`+at(0)+`"}`+"\n", 3)
	v.run(small, []apiCase{
		{name: "ingest a batch over -max-batch", method: "POST", path: "/api/baskets/events", token: testToken, contentType: "application/x-ndjson", body: three, status: 413},
		{name: "ingest a body over -max-body", method: "POST", path: "/api/baskets/events", token: testToken, contentType: "application/x-ndjson", body: strings.Repeat(" ", 4096) + three, status: 413},
	})

	// An expired recovery link.
	late := start(t, nil)
	late.abandon("b-1", t0.Add(-time.Hour), "web", "ann@example.com")
	expiring := "/api/checkout/recover?basketId=b-1&recover=" + url.QueryEscape(late.eng.IssueToken(basket.PurposeRecover, "b-1", time.Minute))
	late.clk.Advance(2 * time.Minute)
	v.run(late, []apiCase{{name: "recover with an expired token", method: "GET", path: expiring, status: 410, valid: true}})

	// An address that failed too often: 429 with Retry-After.
	throttled, _, throttledEP := startWebhooks(t, nil, nil)
	var guesses []apiCase
	for i := range 11 {
		guesses = append(guesses, apiCase{name: fmt.Sprintf("guess %d", i), method: "GET", path: "/api/checkout/abandoned", token: fmt.Sprintf("guessed-token-%04d", i), status: 401})
	}
	v.run(throttled, append(guesses, []apiCase{
		{name: "query, throttled", method: "GET", path: "/api/checkout/abandoned", token: testToken, status: 429, header: "Retry-After", headerPrefix: "1"},
		{name: "feed, throttled", method: "GET", path: "/api/checkout/abandoned/feed", token: testToken, status: 429},
		{name: "customer, throttled", method: "GET", path: "/api/checkout/customer?email=ann%40example.com", token: testToken, status: 429},
		{name: "suppression, throttled", method: "POST", path: "/api/checkout/suppression", token: testToken, contentType: "application/json", body: suppressed, status: 429},
		{name: "ingest, throttled", method: "POST", path: "/api/baskets/events", token: testToken, contentType: "application/json", body: array, status: 429},
		{name: "webhook deliveries, throttled", method: "GET", path: deliveries, token: testToken, status: 429},
		{name: "webhook resume, throttled", method: "POST", path: resume + "?endpoint=" + throttledEP.ID(), token: testToken, status: 429},
		{name: "token, throttled", method: "POST", path: "/oauth2/token", contentType: "application/x-www-form-urlencoded",
			body: "grant_type=client_credentials&client_id=client-1&client_secret=secret-1-abcdefgh", status: 429, valid: true},
	}...))

	// A closed engine (and webhook deliverer): 503.
	closed, closedWebhooks, closedEP := startWebhooks(t, nil, nil)
	closed.abandon("b-1", t0.Add(-time.Hour), "web", "ann@example.com")
	closedLink := closed.page("/api/checkout/abandoned").Items[0]["recoveryLink"].(string)
	closedUnsubscribe := "/api/checkout/unsubscribe?token=" + url.QueryEscape(closed.eng.UnsubscribeToken("ann@example.com"))
	closed.eng.Close()
	closedWebhooks.Close()
	v.run(closed, []apiCase{
		{name: "query, closed", method: "GET", path: "/api/checkout/abandoned", token: testToken, status: 503, valid: true},
		{name: "feed, closed", method: "GET", path: "/api/checkout/abandoned/feed", token: testToken, status: 503, valid: true},
		{name: "customer, closed", method: "GET", path: "/api/checkout/customer?email=ann%40example.com", token: testToken, status: 503, valid: true},
		{name: "suppression, closed", method: "POST", path: "/api/checkout/suppression", token: testToken, contentType: "application/json", body: suppressed, status: 503, valid: true},
		{name: "ingest, closed", method: "POST", path: "/api/baskets/events", token: testToken, contentType: "application/json", body: array, status: 503, valid: true},
		{name: "recover, closed", method: "GET", path: closedLink, status: 503, valid: true},
		{name: "unsubscribe, closed", method: "POST", path: closedUnsubscribe, status: 503, valid: true},
		{name: "health, closed", method: "GET", path: "/healthz", status: 503, valid: true},
		{name: "webhook resume, closed", method: "POST", path: resume + "?endpoint=" + closedEP.ID(), token: testToken, status: 503, valid: true},
		// The deliveries list is the deliverer's memory: it still answers.
		{name: "webhook deliveries, closed", method: "GET", path: deliveries, token: testToken, status: 200, valid: true,
			check: bodyHas([]string{`"delivering":false`})},
	})

	// Every status the document lists was seen, but a server's own fault.
	for _, op := range operations(v.doc) {
		method, path, _ := strings.Cut(op, " ")
		for code := range v.doc.Paths.Value(path).GetOperation(method).Responses.Map() {
			if code == "500" {
				continue
			}
			if !v.seen[method+" "+path+" "+code] {
				t.Errorf("%s %s: no answer checked", op, code)
			}
		}
	}
}

// wantIndex checks that an error answer names the event at index i.
func wantIndex(i int) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		var e struct {
			Index *int `json:"index"`
		}
		if json.Unmarshal(body, &e) != nil || e.Index == nil || *e.Index != i {
			t.Errorf("answer %s; want index %d", body, i)
		}
	}
}

// request returns a request to h, for the router.
func (h *harness) request(method, path string) *http.Request {
	req, err := http.NewRequest(method, h.url+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return req
}
