package httpapi_test

import (
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// requestSeries returns the series of abandoned_http_requests_total and of
// the duration histogram's _count in a scrape, each with its value.
func requestSeries(t *testing.T, h *harness) map[string]string {
	t.Helper()
	r := h.do(http.MethodGet, "/metrics", "", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", r.status, r.body)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(r.body), "\n") {
		if strings.HasPrefix(l, "abandoned_http_requests_total{") || strings.HasPrefix(l, "abandoned_http_request_duration_seconds_count{") {
			k, v, _ := strings.Cut(l, " ")
			out[k] = v
		}
	}
	return out
}

// TestMetricsByRoute checks the request metrics: none before a request,
// then one route label per endpoint, its path, whatever the method or the
// answer, beside promhttp's code and method.
func TestMetricsByRoute(t *testing.T) {
	h := start(t, nil)
	if got := requestSeries(t, h); len(got) != 0 {
		t.Fatalf("before any request but /metrics, series %v; want none", got)
	}
	h.abandon("b-1", t0.Add(-time.Hour), "web", "ann@example.com")
	h.get("/api/checkout/abandoned")
	h.get("/api/checkout/abandoned?limit=0")
	h.do(http.MethodGet, "/api/checkout/abandoned", "", "", nil)
	h.do(http.MethodDelete, "/api/checkout/abandoned", testToken, "", nil)
	h.get("/no/such/path")

	got := requestSeries(t, h)
	want := map[string]string{
		`abandoned_http_requests_total{code="200",method="post",route="/api/baskets/events"}`:       "1",
		`abandoned_http_requests_total{code="200",method="get",route="/api/checkout/abandoned"}`:    "1",
		`abandoned_http_requests_total{code="400",method="get",route="/api/checkout/abandoned"}`:    "1",
		`abandoned_http_requests_total{code="401",method="get",route="/api/checkout/abandoned"}`:    "1",
		`abandoned_http_requests_total{code="405",method="delete",route="/api/checkout/abandoned"}`: "1",
		`abandoned_http_requests_total{code="404",method="get",route="other"}`:                      "1",
		`abandoned_http_requests_total{code="200",method="get",route="/metrics"}`:                   "1",
		`abandoned_http_request_duration_seconds_count{route="/api/baskets/events"}`:                "1",
		`abandoned_http_request_duration_seconds_count{route="/api/checkout/abandoned"}`:            "4",
		`abandoned_http_request_duration_seconds_count{route="other"}`:                              "1",
		`abandoned_http_request_duration_seconds_count{route="/metrics"}`:                           "1",
	}
	var diff []string
	for k, v := range want {
		if got[k] != v {
			diff = append(diff, "want "+k+" "+v+", got "+got[k])
		}
	}
	route := regexp.MustCompile(`route="([^"]*)"`)
	for k := range got {
		if _, ok := want[k]; !ok {
			diff = append(diff, "unexpected "+k+" "+got[k])
		}
		if m := route.FindStringSubmatch(k); m == nil || (m[1] != "other" && !strings.HasPrefix(m[1], "/")) {
			diff = append(diff, "route label of "+k+" is not a path")
		}
	}
	sort.Strings(diff)
	for _, d := range diff {
		t.Error(d)
	}
}

// TestMetricsDocumented: every metric the server registers is named in
// the package documentation and in the operator's guide, and each named
// there exists.
func TestMetricsDocumented(t *testing.T) {
	h := start(t, nil)
	h.abandon("b-1", t0.Add(-time.Hour), "web", "ann@example.com")
	link := h.page("/api/checkout/abandoned").Items[0]["recoveryLink"].(string)
	h.get("/api/checkout/abandoned/feed")
	h.do(http.MethodGet, link, "", "", nil)
	h.do(http.MethodPost, "/api/checkout/unsubscribe?token=AAAA", "", "", nil)
	h.token("")
	h.do(http.MethodGet, "/api/checkout/abandoned", "a-token-of-nobody-at-all", "", nil)
	h.do(http.MethodPost, "/api/baskets/events", testToken, "", strings.NewReader("x"))
	families, err := h.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{
		// A node of a cluster only.
		"abandoned_log_applied": true, "abandoned_log_lag": true,
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "abandoned_") {
			registered[f.GetName()] = true
		}
	}
	name := regexp.MustCompile(`abandoned_[a-z0-9_]+`)
	for _, file := range []string{"doc.go", "../../docs/operator.md"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		named := map[string]bool{}
		for _, n := range name.FindAllString(string(data), -1) {
			named[n] = true
			if !registered[n] {
				t.Errorf("%s names %s, which the server does not register", file, n)
			}
		}
		for n := range registered {
			if !named[n] {
				t.Errorf("%s does not name %s", file, n)
			}
		}
	}
}
