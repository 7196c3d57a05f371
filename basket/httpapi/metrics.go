package httpapi

import (
	"context"
	"strconv"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec   // route, code
	latency  *prometheus.HistogramVec // route
	events   prometheus.Counter       // events applied through ingest
	batches  *prometheus.CounterVec   // outcome
	pages    *prometheus.CounterVec   // endpoint
	items    *prometheus.CounterVec   // endpoint

	// Resolved children of pages and items.
	queryPages, queryItems, feedPages, feedItems prometheus.Counter
	tokens                                       *prometheus.CounterVec // outcome
	recovered                                    *prometheus.CounterVec // outcome
}

// commonCodes are the statuses whose counters each route resolves once,
// so that counting a request costs no label lookup.
var commonCodes = [...]int{200, 302, 400, 401, 403, 404, 405, 409, 410, 413, 500, 503}

// routeMetrics are one route's resolved metrics.
type routeMetrics struct {
	name     string
	codes    [len(commonCodes)]prometheus.Counter
	requests *prometheus.CounterVec
	latency  prometheus.Observer
}

func (rm *routeMetrics) count(code int) {
	for i, c := range commonCodes {
		if c == code {
			rm.codes[i].Inc()
			return
		}
	}
	rm.requests.WithLabelValues(rm.name, strconv.Itoa(code)).Inc()
}

func newMetrics(eng *basket.Engine) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "abandoned_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route.",
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
	}
	m.reg.MustRegister(m.requests, m.latency, m.events, m.batches, m.pages, m.items, m.tokens, m.recovered,
		&engineCollector{eng: eng},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.queryPages, m.queryItems = m.pages.WithLabelValues("query"), m.items.WithLabelValues("query")
	m.feedPages, m.feedItems = m.pages.WithLabelValues("feed"), m.items.WithLabelValues("feed")
	return m
}

func (m *metrics) route(name string) *routeMetrics {
	rm := &routeMetrics{name: name, requests: m.requests, latency: m.latency.WithLabelValues(name)}
	for i, c := range commonCodes {
		rm.codes[i] = m.requests.WithLabelValues(name, strconv.Itoa(c))
	}
	return rm
}

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
