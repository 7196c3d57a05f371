package webhook

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a Deliverer's Prometheus metrics, labelled by endpoint id.
type metrics struct {
	d         *Deliverer
	delivered *prometheus.CounterVec
	failures  *prometheus.CounterVec
	lost      *prometheus.CounterVec
	latency   *prometheus.HistogramVec
}

var (
	descLag = prometheus.NewDesc("abandoned_webhook_lag",
		"Changes of the journal after the endpoint's checkpoint: owed to it, or to be skipped by its filter. On the node that delivers.",
		[]string{"endpoint"}, nil)
	descStatus = prometheus.NewDesc("abandoned_webhook_endpoint_status",
		"1 for the endpoint's status (active, failing, disabled), as this node knows it.",
		[]string{"endpoint", "status"}, nil)
	descDelivering = prometheus.NewDesc("abandoned_webhook_delivering",
		"1 if this node delivers the environment's webhooks (it holds the lease), else 0.", nil, nil)
)

func newMetrics(d *Deliverer) *metrics {
	m := &metrics{
		d: d,
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_webhook_deliveries_total",
			Help: "Events delivered (answered 2xx in time), by endpoint id.",
		}, []string{"endpoint"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_webhook_failures_total",
			Help: "Attempts that failed (no answer in time, refused, or not 2xx), by endpoint id.",
		}, []string{"endpoint"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_webhook_lost_changes_total",
			Help: "Changes dropped from the journal (older than its retention) before they were delivered, by endpoint id.",
		}, []string{"endpoint"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "abandoned_webhook_attempt_duration_seconds",
			Help:    "Time from an attempt's request to its answer (or failure), by endpoint id.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint"}),
	}
	// Every endpoint's series exist from the start, at 0.
	for _, ep := range d.eps {
		m.delivered.WithLabelValues(ep.id)
		m.failures.WithLabelValues(ep.id)
		m.lost.WithLabelValues(ep.id)
	}
	return m
}

// Collectors returns the Deliverer's metrics, for a Prometheus registry
// (the HTTP API's: httpapi.Server.Registry).
func (d *Deliverer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{d.m.delivered, d.m.failures, d.m.lost, d.m.latency, stateCollector{d}}
}

// stateCollector reports the endpoints' lag and status at each scrape.
type stateCollector struct{ d *Deliverer }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLag
	ch <- descStatus
	ch <- descDelivering
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	delivering := c.d.delivering.Load()
	v := 0.0
	if delivering {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(descDelivering, prometheus.GaugeValue, v)
	var last uint64
	haveLast := false
	if delivering {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var err error
		last, err = c.d.src.LastChange(ctx)
		cancel()
		haveLast = err == nil
	}
	for _, ep := range c.d.eps {
		ep.mu.Lock()
		cp, loaded := ep.cp, ep.loaded
		ep.mu.Unlock()
		if !loaded {
			continue
		}
		for _, s := range []Status{StatusActive, StatusFailing, StatusDisabled} {
			v := 0.0
			if cp.Status == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descStatus, prometheus.GaugeValue, v, ep.id, string(s))
		}
		if haveLast {
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(last-min(cp.Seq, last)), ep.id)
		}
	}
}
