package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Disk health: whether the node takes data writes now.
//
// (Pebble's own listener would log every failed retry of a flush: about
// 10,000 lines in a few seconds on a full disk. Ours logs changes.)
//
// Two things refuse them. The guard, every CheckInterval (a quarter of a
// second), reads the free
// space of the data directory's file system and the database's size, and
// refuses writes once the free space falls under MinFreeBytes or the size
// reaches MaxDiskBytes: before the file system is full, so that flushes,
// compactions, the Raft logs and hints still have room. And Pebble's
// background errors for want of space (a flush or compaction that failed
// with ENOSPC) refuse them until a flush or compaction succeeds, or the
// guard finds room again:
// writes accepted meanwhile would only fill memtables that cannot be
// flushed, until Pebble stalls every commit.
//
// Refusal is for data writes (replica.Store), which fail fast with
// ErrNoSpace or ErrDiskFailed; the Raft logs and hints are written as
// before, in the room the guard keeps. Each change of state is logged once,
// never each failed background job.

// DiskStatus is what the node knows of its disk.
type DiskStatus struct {
	// Refused is why data writes are refused now; empty when they are
	// accepted.
	Refused string `json:"writes_refused,omitempty"`
	// FreeBytes is the free space of the data directory's file system at
	// the last check (0 when not checked: an in-memory file system).
	FreeBytes uint64 `json:"free_bytes,omitempty"`
	// UsedBytes is the database's size on disk at the last check.
	UsedBytes uint64 `json:"used_bytes,omitempty"`
}

type health struct {
	log *slog.Logger

	mu       sync.Mutex
	guardErr error // from the guard's last check
	bgErr    error // a flush or compaction out of space, until a success
	failed   error // the log failed a write: for good (failure.go)
	// otherErrors counts the other background errors since the last line
	// logged about them, at otherLogged.
	otherErrors int
	otherLogged time.Time
	slowLogged  time.Time // the last line about a slow disk
	status      DiskStatus

	refusal atomic.Pointer[error] // what WriteRefusal answers; nil: accepted

	refusedGauge prometheus.Gauge
	freeGauge    prometheus.Gauge
	bgErrors     prometheus.Counter
	slowDisk     prometheus.Counter
}

func newHealth(log *slog.Logger) *health {
	return &health{
		log: log,
		refusedGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pando_storage_writes_refused",
			Help: "1 while this node refuses data writes for want of disk space or after a failed disk write, else 0.",
		}),
		freeGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pando_storage_free_bytes",
			Help: "Free space of the data directory's file system at the last check.",
		}),
		bgErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_storage_background_errors_total",
			Help: "Flushes and compactions that failed (each retried by the storage engine).",
		}),
		slowDisk: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_storage_disk_slow_total",
			Help: "Disk operations (a write, an fsync) still unfinished after 5 s.",
		}),
	}
}

func (h *health) collectors() []prometheus.Collector {
	return []prometheus.Collector{h.refusedGauge, h.freeGauge, h.bgErrors, h.slowDisk}
}

// listener reports Pebble's background errors and successes to h.
func (h *health) listener() *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			h.bgErrors.Inc()
			// Pebble retries a failed flush at once, in a loop, and calls
			// this each time (holding its mutex, which reads do not need):
			// without a pause, a full disk costs a core. (Its TODO: "count
			// consecutive flush errors and backoff".)
			defer time.Sleep(backgroundBackoff)
			if errors.Is(err, syscall.ENOSPC) {
				h.setBackground(fmt.Errorf("%w: the file system is full (%v)", ErrNoSpace, err))
				return
			}
			// Other failures (a read error while loading table statistics,
			// say) refuse nothing: they need no write to clear. Logged at
			// most once a minute, with how many there were.
			h.mu.Lock()
			defer h.mu.Unlock()
			h.otherErrors++
			if time.Since(h.otherLogged) >= time.Minute {
				h.log.Error("storage background error", "err", err, "since_last_line", h.otherErrors)
				h.otherErrors, h.otherLogged = 0, time.Now()
			}
		},
		DiskSlow: func(info pebble.DiskSlowInfo) {
			h.slowDisk.Inc()
			h.mu.Lock()
			defer h.mu.Unlock()
			if time.Since(h.slowLogged) >= time.Minute {
				h.log.Warn("disk slow: an operation is still unfinished", "op", info.OpType.String(), "path", info.Path, "for", info.Duration.Round(time.Millisecond))
				h.slowLogged = time.Now()
			}
		},
		FlushEnd: func(info pebble.FlushInfo) {
			if info.Err == nil {
				h.setBackground(nil)
			}
		},
		CompactionEnd: func(info pebble.CompactionInfo) {
			if info.Err == nil {
				h.setBackground(nil)
			}
		},
	}
}

func (h *health) setBackground(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bgErr = err
	h.publish()
}

// setFailed refuses data writes for good: the log failed a write.
func (h *health) setFailed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failed = err
	h.publish()
}

func (h *health) setGuard(err error, st DiskStatus, roomToRetry bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.guardErr = err
	if err == nil && roomToRetry {
		// Room again: try. Pebble retries a failed flush on its own, and
		// a retry that still finds no room reports it again. (With a
		// floor below retryRoom, only a flush or compaction that
		// succeeds clears the refusal: writes do not flap in and out.)
		h.bgErr = nil
	}
	h.status.FreeBytes, h.status.UsedBytes = st.FreeBytes, st.UsedBytes
	h.freeGauge.Set(float64(st.FreeBytes))
	h.publish()
}

// publish makes the refusal current, logging a change of state. Called
// under mu.
func (h *health) publish() {
	err := h.failed
	if err == nil {
		err = h.bgErr
	}
	if err == nil {
		err = h.guardErr
	}
	prev := h.refusal.Load()
	switch {
	case err == nil && prev != nil:
		h.refusal.Store(nil)
		h.status.Refused = ""
		h.refusedGauge.Set(0)
		h.log.Info("data writes accepted again")
	case err != nil && (prev == nil || kindOf(*prev) != kindOf(err)):
		h.refusal.Store(&err)
		h.status.Refused = err.Error()
		h.refusedGauge.Set(1)
		h.log.Error("data writes refused until the disk recovers", "reason", err)
	case err != nil:
		h.refusal.Store(&err) // same state, fresher detail: not logged
		h.status.Refused = err.Error()
	}
}

func kindOf(err error) error {
	if errors.Is(err, ErrNoSpace) {
		return ErrNoSpace
	}
	return ErrDiskFailed
}

// retryRoom is the free space (above the floor too) at which the guard
// lets writes try again after a flush or compaction failed for want of
// space: room for two memtables' flushes.
const retryRoom = 8 << 20

// backgroundBackoff is the pause after each failed background job.
const backgroundBackoff = 100 * time.Millisecond

// guard checks the disk every interval until stop is closed.
func (e *Engine) guard(interval time.Duration, minFree, maxUsed uint64, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		e.checkDisk(minFree, maxUsed)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// checkDisk is one check of the guard.
func (e *Engine) checkDisk(minFree, maxUsed uint64) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(e.dir, &fs); err != nil {
		return // keep what the last check found
	}
	st := DiskStatus{FreeBytes: fs.Bavail * uint64(fs.Bsize), UsedBytes: e.db.Metrics().DiskSpaceUsage()}
	var err error
	switch {
	case st.FreeBytes < minFree:
		err = fmt.Errorf("%w: %s free on the data directory's file system, under the floor of %s (--min-free-disk)", ErrNoSpace, byteSize(st.FreeBytes), byteSize(minFree))
	case maxUsed > 0 && st.UsedBytes >= maxUsed:
		err = fmt.Errorf("%w: the database takes %s, at its limit of %s (--max-disk-usage)", ErrNoSpace, byteSize(st.UsedBytes), byteSize(maxUsed))
	}
	e.health.setGuard(err, st, st.FreeBytes >= retryRoom)
}

// WriteRefusal is nil while data writes are accepted, and otherwise why
// they are not: an error wrapping ErrNoSpace or ErrDiskFailed.
func (e *Engine) WriteRefusal() error {
	if p := e.health.refusal.Load(); p != nil {
		return *p
	}
	return nil
}

// Disk reports the disk's state as of the last check.
func (e *Engine) Disk() DiskStatus {
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	return e.health.status
}

func byteSize(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
