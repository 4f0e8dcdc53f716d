package api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts and times the requests of every front end, labelled by
// front end ("resp", "http") and command.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the request metrics with reg (which may be nil).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pando_requests_total",
			Help: "Requests handled, by front end, command and result (ok or error).",
		}, []string{"frontend", "command", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pando_request_duration_seconds",
			Help:    "Time from a parsed request to its answer, by front end and command.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 2.5, 14),
		}, []string{"frontend", "command"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.latency} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// CommandMetrics is the bound metrics of one command: resolve it once, use it
// on every request.
type CommandMetrics struct {
	ok, failed prometheus.Counter
	latency    prometheus.Observer
}

// For binds the metrics of one front end's command.
func (m *Metrics) For(frontend, command string) *CommandMetrics {
	return &CommandMetrics{
		ok:      m.requests.WithLabelValues(frontend, command, "ok"),
		failed:  m.requests.WithLabelValues(frontend, command, "error"),
		latency: m.latency.WithLabelValues(frontend, command),
	}
}

// Observe records one request that started at start.
func (c *CommandMetrics) Observe(start time.Time, failed bool) {
	c.ObserveDuration(time.Since(start), failed)
}

// ObserveDuration records one request that took d.
func (c *CommandMetrics) ObserveDuration(d time.Duration, failed bool) {
	c.latency.Observe(d.Seconds())
	if failed {
		c.failed.Inc()
	} else {
		c.ok.Inc()
	}
}
