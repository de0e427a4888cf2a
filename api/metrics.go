package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	resolved    *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	fallback    prometheus.Gauge
	imported    prometheus.Counter
	deliveries  *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
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
