package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

// instrument counts and times the requests h answers with promhttp, under
// one route label: the endpoint's path (every method of a path shares it,
// the 405s of other methods included), or "other" for unknown paths. The
// counter's code and method labels are promhttp's; the histogram has none
// (each label of a histogram costs its buckets, and promhttp an allocation
// per request). A series exists only once a request made it.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	l := prometheus.Labels{"route": route}
	return promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l),
		promhttp.InstrumentHandlerDuration(m.latency.MustCurryWith(l), h))
}

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
