package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec   // route, code, method
	latency  *prometheus.HistogramVec // route
	events   prometheus.Counter       // events applied through ingest
	batches  *prometheus.CounterVec   // outcome
	pages    *prometheus.CounterVec   // endpoint
	items    *prometheus.CounterVec   // endpoint

	// Children of pages and items, made at their first use.
	queryPages, queryItems, feedPages, feedItems *lazyCounter
	tokens                                       *prometheus.CounterVec // outcome
	recovered                                    *prometheus.CounterVec // outcome
	unsubscribed                                 *prometheus.CounterVec // outcome
}

func newMetrics(eng *basket.Engine) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_http_requests_total",
			Help: "HTTP requests by route (the endpoint's path, or other), status code and method.",
		}, []string{"route", "code", "method"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "abandoned_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route (the endpoint's path, or other).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "abandoned_ingest_events_total",
			Help: "Events applied through the ingest endpoint (harmless re-sends included).",
		}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_ingest_batches_total",
			Help: "Ingest batches by outcome (applied, invalid, conflict, too_large, error).",
		}, []string{"outcome"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_query_pages_total",
			Help: "Pages answered, by endpoint (query, feed).",
		}, []string{"endpoint"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_query_items_total",
			Help: "Baskets returned in pages, by endpoint (query, feed).",
		}, []string{"endpoint"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_oauth2_tokens_total",
			Help: "OAuth2 token requests by outcome (issued, invalid_client, invalid_request).",
		}, []string{"outcome"}),
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_recovery_links_total",
			Help: "Recovery link uses by outcome (checkout, purchased, repurchase, missing, invalid, expired).",
		}, []string{"outcome"}),
		unsubscribed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_unsubscribes_total",
			Help: "Unsubscribe link uses by outcome (ok, invalid).",
		}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.events, m.batches, m.pages, m.items, m.tokens, m.recovered, m.unsubscribed,
		&engineCollector{eng: eng},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.queryPages, m.queryItems = &lazyCounter{vec: m.pages, label: "query"}, &lazyCounter{vec: m.items, label: "query"}
	m.feedPages, m.feedItems = &lazyCounter{vec: m.pages, label: "feed"}, &lazyCounter{vec: m.items, label: "feed"}
	return m
}

// routeMetrics are the request metrics of one route: the counter of
// requests by code and method, and the duration histogram, which has no
// other label (each label of a histogram costs its buckets). The route
// label is the endpoint's path (every method of a path shares it, the 405s
// of other methods included), or "other" for unknown paths. The code and
// method labels are those promhttp's InstrumentHandlerCounter gives (see
// codeLabel and methodLabel), without its allocations per request: the
// children are looked up in a map by a number, made at their first use, so
// that a series exists only once a request made it.
type routeMetrics struct {
	requests *prometheus.CounterVec // curried with the route: code, method
	latency  prometheus.ObserverVec // curried with the route

	obsOnce sync.Once
	obs     prometheus.Observer // set by obsOnce

	mu       sync.Mutex                                    // held to add a counter
	counters atomic.Pointer[map[uint32]prometheus.Counter] // by counterKey; replaced, never changed
}

func (m *metrics) route(route string) *routeMetrics {
	l := prometheus.Labels{"route": route}
	return &routeMetrics{requests: m.requests.MustCurryWith(l), latency: m.latency.MustCurryWith(l)}
}

// observe counts and times one request: status as the handler answered it
// (0 if it wrote nothing), the request's method and the time it took.
func (rm *routeMetrics) observe(status int, method string, took time.Duration) {
	rm.counter(status, method).Inc()
	rm.obsOnce.Do(func() { rm.obs = rm.latency.WithLabelValues() })
	rm.obs.Observe(took.Seconds())
}

// counter returns the child of the code and method.
func (rm *routeMetrics) counter(status int, method string) prometheus.Counter {
	key := counterKey(status, method)
	if p := rm.counters.Load(); p != nil {
		if c, ok := (*p)[key]; ok {
			return c
		}
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	old := rm.counters.Load()
	var n int
	if old != nil {
		if c, ok := (*old)[key]; ok {
			return c
		}
		n = len(*old)
	}
	next := make(map[uint32]prometheus.Counter, n+1)
	if old != nil {
		for k, c := range *old {
			next[k] = c
		}
	}
	c := rm.requests.WithLabelValues(codeLabel(status), methodLabel(method))
	next[key] = c
	rm.counters.Store(&next)
	return c
}

// counterKey numbers the labels of a status and a method: those that get
// the same labels get the same number.
func counterKey(status int, method string) uint32 {
	code := uint32(0) // "unknown"
	switch {
	case status == 0:
		code = http.StatusOK
	case status >= 100 && status <= 599:
		code = uint32(status)
	}
	return code<<4 | uint32(methodIndex(method))
}

// codeLabel is the code label of a status, as promhttp writes it: the
// status from 100 to 599, 200 for none (nothing was written), "unknown"
// else.
func codeLabel(status int) string {
	switch {
	case status == 0:
		return "200"
	case status >= 100 && status <= 599:
		return strconv.Itoa(status)
	}
	return "unknown"
}

// methods are the method labels promhttp knows, each written in upper or in
// lower case; any other method is "unknown".
var methods = [...]string{"unknown", "get", "put", "head", "post", "delete", "connect", "options", "notify", "trace", "patch"}

// methodIndex is the index in methods of the label of m.
func methodIndex(m string) int {
	switch m {
	case "GET", "get":
		return 1
	case "PUT", "put":
		return 2
	case "HEAD", "head":
		return 3
	case "POST", "post":
		return 4
	case "DELETE", "delete":
		return 5
	case "CONNECT", "connect":
		return 6
	case "OPTIONS", "options":
		return 7
	case "NOTIFY", "notify":
		return 8
	case "TRACE", "trace":
		return 9
	case "PATCH", "patch":
		return 10
	}
	return 0
}

// methodLabel is the method label of m, as promhttp writes it.
func methodLabel(m string) string { return methods[methodIndex(m)] }

// lazyCounter is the child of a one-label CounterVec, made at its first
// use so that no series shows before anything was counted.
type lazyCounter struct {
	vec   *prometheus.CounterVec
	label string
	once  sync.Once
	c     prometheus.Counter // set by once
}

func (l *lazyCounter) get() prometheus.Counter {
	l.once.Do(func() { l.c = l.vec.WithLabelValues(l.label) })
	return l.c
}

func (l *lazyCounter) Inc()          { l.get().Inc() }
func (l *lazyCounter) Add(v float64) { l.get().Add(v) }

// engineCollector reports the engine's Stats at each scrape.
type engineCollector struct {
	eng *basket.Engine
}

var (
	descBaskets = prometheus.NewDesc("abandoned_baskets",
		"Live baskets by state; abandoned and pending are subsets of contactable.", []string{"state"}, nil)
	descExpired = prometheus.NewDesc("abandoned_baskets_expired_total",
		"Baskets purged at their time to live since start.", nil, nil)
	descErased = prometheus.NewDesc("abandoned_baskets_erased",
		"Basket ids erased (right to erasure).", nil, nil)
	descPosition = prometheus.NewDesc("abandoned_feed_position",
		"The newest position of the abandonment feed.", nil, nil)
	descApplied = prometheus.NewDesc("abandoned_log_applied",
		"A node of a cluster: the sequence of the last record of the cluster's log it applied.", nil, nil)
	descLag = prometheus.NewDesc("abandoned_log_lag",
		"A node of a cluster: records of the cluster's log it has not applied yet.", nil, nil)
)

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBaskets
	ch <- descExpired
	ch <- descErased
	ch <- descPosition
	if c.eng.Replicated() {
		ch <- descApplied
		ch <- descLag
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.eng.Stats(context.Background())
	if err != nil {
		return // closed: no figures rather than zeros
	}
	for _, v := range [...]struct {
		state string
		n     int
	}{
		{"open", s.Open}, {"contactable", s.Contactable}, {"completed", s.Completed},
		{"abandoned", s.Abandoned}, {"pending", s.Pending},
	} {
		ch <- prometheus.MustNewConstMetric(descBaskets, prometheus.GaugeValue, float64(v.n), v.state)
	}
	ch <- prometheus.MustNewConstMetric(descExpired, prometheus.CounterValue, float64(s.Expired))
	ch <- prometheus.MustNewConstMetric(descErased, prometheus.GaugeValue, float64(s.Erased))
	ch <- prometheus.MustNewConstMetric(descPosition, prometheus.GaugeValue, float64(s.LastPosition))
	if c.eng.Replicated() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if applied, last, err := c.eng.Position(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(applied))
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(last-min(applied, last)))
		}
	}
}
