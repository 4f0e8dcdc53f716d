package storage

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var walFsyncDesc = prometheus.NewDesc("pando_storage_wal_fsync_seconds",
	"Latency of the write-ahead log's fsyncs. Its count against pando_storage_sync_seconds_count shows how many writes each fsync carries.",
	nil, nil)

// walCollector exports Pebble's WAL fsync histogram, which Pebble keeps
// unnamed, under Pando's name.
type walCollector struct{ e *Engine }

func (c walCollector) Describe(ch chan<- *prometheus.Desc) { ch <- walFsyncDesc }

func (c walCollector) Collect(ch chan<- prometheus.Metric) {
	if c.e.closed.Load() {
		return
	}
	var m dto.Metric
	if err := c.e.db.Metrics().LogWriter.FsyncLatency.Write(&m); err != nil || m.Histogram == nil {
		return
	}
	h := m.Histogram
	buckets := make(map[float64]uint64, len(h.Bucket))
	for _, b := range h.Bucket {
		buckets[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	// Pebble records fsync latency in nanoseconds; Prometheus wants seconds.
	scaled := make(map[float64]uint64, len(buckets))
	for ub, n := range buckets {
		scaled[ub/1e9] = n
	}
	metric, err := prometheus.NewConstHistogram(walFsyncDesc, h.GetSampleCount(), h.GetSampleSum()/1e9, scaled)
	if err == nil {
		ch <- metric
	}
}

// WALFsyncs is the number of fsyncs of the write-ahead log since Open.
func (e *Engine) WALFsyncs() uint64 {
	var m dto.Metric
	if err := e.db.Metrics().LogWriter.FsyncLatency.Write(&m); err != nil || m.Histogram == nil {
		return 0
	}
	return m.Histogram.GetSampleCount()
}

// pebbleLogger sends Pebble's log lines to slog. Info lines go to debug level:
// Pebble is chatty about routine compactions.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

// Fatalf panics with a fatalError: the commit path recovers it as the
// log's failure (failure.go); anywhere else it stops the process.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic(fatalError{msg})
}
