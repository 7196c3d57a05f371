package httpapi

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/basketlab/abandoned/basket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// anyCode is a ResponseWriter that takes any status, as a proxy's might,
// where httptest's recorder panics outside 100 to 999.
type anyCode struct{ h http.Header }

func (w *anyCode) Header() http.Header         { return w.h }
func (w *anyCode) WriteHeader(int)             {}
func (w *anyCode) Write(p []byte) (int, error) { return len(p), nil }

// series reads the request counter's series and the duration histogram's
// sample counts from a registry, as "name{labels} value".
func series(t *testing.T, reg prometheus.Gatherer) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != "abandoned_http_requests_total" && f.GetName() != "abandoned_http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			var l []string
			for _, p := range m.GetLabel() {
				l = append(l, p.GetName()+"="+p.GetValue())
			}
			v := m.GetCounter().GetValue()
			if h := m.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
			}
			out = append(out, fmt.Sprintf("%s{%s} %v", f.GetName(), strings.Join(l, ","), v))
		}
	}
	sort.Strings(out)
	return out
}

// TestRequestMetricsAsPromhttp: the request metrics count and time what
// promhttp's InstrumentHandlerCounter and InstrumentHandlerDuration, as
// the server used them, counted and timed: the same series with the same
// values, for answers of every kind (nothing written, a body alone, codes
// in and out of range, informational codes, WriteHeader twice) and methods
// in either case, in mixed case and unknown, in random order.
func TestRequestMetricsAsPromhttp(t *testing.T) {
	eng, err := basket.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	s, err := New(eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	// What the server measured with before: promhttp, behind the same
	// recorder, on metrics of the same shape.
	old := newMetrics(eng)
	promhttpWrap := func(route string, h http.HandlerFunc) http.Handler {
		l := prometheus.Labels{"route": route}
		counted := promhttp.InstrumentHandlerCounter(old.requests.MustCurryWith(l),
			promhttp.InstrumentHandlerDuration(old.latency.MustCurryWith(l), h))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			counted.ServeHTTP(&recorder{ResponseWriter: w}, r)
		})
	}

	answers := []func(w http.ResponseWriter){
		func(w http.ResponseWriter) {},
		func(w http.ResponseWriter) { w.Write([]byte("x")) },
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) },
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound); w.Write([]byte("x")) },
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusEarlyHints); w.WriteHeader(http.StatusOK) },
		func(w http.ResponseWriter) { w.Write([]byte("x")); w.WriteHeader(http.StatusInternalServerError) },
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot); w.WriteHeader(http.StatusBadGateway) },
		func(w http.ResponseWriter) { w.WriteHeader(99) },
		func(w http.ResponseWriter) { w.WriteHeader(100) },
		func(w http.ResponseWriter) { w.WriteHeader(599) },
		func(w http.ResponseWriter) { w.WriteHeader(600) },
		func(w http.ResponseWriter) { w.WriteHeader(999) },
		func(w http.ResponseWriter) { w.WriteHeader(308) },
		func(w http.ResponseWriter) { w.WriteHeader(-1) },
	}
	methods := []string{"GET", "get", "Get", "HEAD", "POST", "post", "PUT", "DELETE", "CONNECT", "OPTIONS",
		"NOTIFY", "notify", "TRACE", "PATCH", "patch", "PROPFIND", "", "GET "}
	routes := []string{"/api/a", "/api/b", "other"}
	var oldH, newH []http.Handler
	for _, route := range routes {
		for _, a := range answers {
			h := func(w http.ResponseWriter, r *http.Request) { a(w) }
			oldH = append(oldH, promhttpWrap(route, h))
			newH = append(newH, s.wrap(route, 0, h))
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		i, m := r.IntN(len(oldH)), methods[r.IntN(len(methods))]
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Method = m
		oldH[i].ServeHTTP(&anyCode{h: http.Header{}}, req)
		newH[i].ServeHTTP(&anyCode{h: http.Header{}}, req)
	}
	want, got := series(t, old.reg), series(t, s.metrics.reg)
	if len(want) < 50 {
		t.Fatalf("promhttp made %d series: the test proves little", len(want))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("series:\n%s\n\npromhttp's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRequestMetricsAllocs: counting and timing a request allocates
// nothing once its series exist.
func TestRequestMetricsAllocs(t *testing.T) {
	eng, err := basket.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	s, err := New(eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	rm := s.metrics.route("/api/x")
	rm.observe(200, "GET", 1)
	if n := testing.AllocsPerRun(100, func() { rm.observe(200, "GET", 1) }); n != 0 {
		t.Errorf("observe: %v allocations; want none", n)
	}
}
