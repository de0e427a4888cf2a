package api

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are a node's Prometheus metrics, in a registry of their own:
// the server's, and those that the node's wiring feeds (the delivery
// workers' attempts, the rate limiter's fallback). Build them once per
// node with NewMetrics and hand them to the Server (Config.Metrics).
type Metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	resolved    *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	fallback    prometheus.Gauge
	imported    prometheus.Counter
	deliveries  *prometheus.CounterVec
}

// NewMetrics returns a node's metrics, registered and at zero.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beckon_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "beckon_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route"}),
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beckon_resolve_results_total", Help: "Resolve outcomes: account, pending_invite, none, or error.",
		}, []string{"match"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beckon_rate_limited_total", Help: "Requests refused by a rate limit, by limit.",
		}, []string{"limit"}),
		fallback: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "beckon_ratelimit_fallback", Help: "1 while Redis is away and limits are kept in process.",
		}),
		imported: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beckon_accounts_imported_total", Help: "Accounts written by the import endpoint.",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beckon_deliveries_total", Help: "Delivery attempts by channel and outcome (sent, retry, failed).",
		}, []string{"channel", "outcome"}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.resolved, m.rateLimited, m.fallback, m.imported, m.deliveries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds a collector of more metrics (such as the read replicas')
// to those served on /metrics. Errors: a collector that clashes with
// another.
func (m *Metrics) Register(c prometheus.Collector) error {
	if err := m.registry.Register(c); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// SetRateLimitFallback records whether rate limits are kept in process
// because Redis is away.
func (m *Metrics) SetRateLimitFallback(on bool) {
	v := 0.0
	if on {
		v = 1
	}
	m.fallback.Set(v)
}

// ObserveDelivery counts a delivery attempt.
func (m *Metrics) ObserveDelivery(channel, outcome string) {
	m.deliveries.WithLabelValues(channel, outcome).Inc()
}
