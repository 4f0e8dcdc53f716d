package antientropy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pandodb/pando/internal/sabotage"
	"github.com/prometheus/client_golang/prometheus"
)

// Task is one tree to compare this round, and the replicas to compare it
// with. Away are the tree's other replicas that cannot be compared with
// now (down): while one is, the partition is not known in sync.
type Task struct {
	ID    ID
	Peers []string
	Away  []string
}

// Config configures a Runner.
type Config struct {
	Trees *Trees
	Local Local
	// Peer reaches another replica.
	Peer func(node string) Peer
	// Plan lists the trees to compare in a round: every (namespace,
	// partition) this node replicates, with the other replicas that are up.
	Plan func() []Task
	// Interval is the pause between two rounds (default 10s).
	Interval time.Duration
	// PurgeGrace is how long a tombstone is kept at least, after its
	// stamp, once every replica holds it (Purge); 0 purges none. It must
	// be at least the age at which hints are dropped.
	PurgeGrace time.Duration
	// Now is the clock a tombstone's grace is measured by (default
	// time.Now); the stamps it is compared with are coordinators' clocks.
	Now func() time.Time
	// Budget bounds the records and bytes moved (default: no bound); its
	// rates may change while the runner runs (SetBudget).
	Budget     *Budget
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Runner runs rounds of exchanges and keeps their figures.
type Runner struct {
	cfg Config
	log *slog.Logger

	// rounding serializes rounds: the schedule's and any caller's.
	rounding sync.Mutex

	mu     sync.Mutex
	status map[int]*PartitionStatus // by partition
	// round is the number of rounds completed; rescan picks the tree a
	// round recomputes whole.
	round  int
	rescan int

	exchanges *prometheus.CounterVec
	repaired  *prometheus.CounterVec // by partition
	moved     *prometheus.CounterVec // by partition
	lastSync  *prometheus.GaugeVec   // by partition
}

// PartitionStatus is what anti-entropy knows of one partition on this
// replica.
type PartitionStatus struct {
	Partition int `json:"partition"`
	// LastSync is when a round last compared every tree of the partition
	// with every other replica, without an error (never while one is
	// down).
	LastSync time.Time `json:"last_sync"`
	// Repaired and Bytes count the records this replica pulled from others
	// and their size since the node started.
	Repaired int64 `json:"records_repaired"`
	Bytes    int64 `json:"bytes_moved"`
	// Settled counts the records settled: tombstones purged from disk,
	// version vectors rid of their nodes' earlier epochs.
	Settled int64 `json:"records_settled"`
}

// NewRunner returns a runner.
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.Trees == nil || cfg.Local == nil || cfg.Peer == nil || cfg.Plan == nil {
		return nil, errors.New("antientropy: config needs Trees, Local, Peer and Plan")
	}
	if cfg.Interval == 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Budget == nil {
		cfg.Budget = NewBudget(0, 0)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		cfg: cfg, log: cfg.Logger.With("subsystem", "antientropy"), status: map[int]*PartitionStatus{},
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pando_antientropy_exchanges_total",
			Help: "Tree exchanges with another replica, by result: equal (nothing to do), repaired, failed.",
		}, []string{"result"}),
		repaired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pando_antientropy_records_repaired_total",
			Help: "Records anti-entropy pulled from another replica and merged here, by partition.",
		}, []string{"partition"}),
		moved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pando_antientropy_bytes_total",
			Help: "Bytes of records anti-entropy pulled from another replica, keys included, by partition.",
		}, []string{"partition"}),
		lastSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pando_antientropy_last_sync_timestamp_seconds",
			Help: "Unix time at which every tree of the partition was last compared with every other replica, without an error.",
		}, []string{"partition"}),
	}
	if cfg.Registerer != nil {
		oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pando_antientropy_oldest_sync_age_seconds",
			Help: "Seconds since the partition of this node least recently in sync with all its replicas was last found so (0 before the first round).",
		}, func() float64 {
			if t := r.Status().OldestSync; !t.IsZero() {
				return time.Since(t).Seconds()
			}
			return 0
		})
		for _, m := range []prometheus.Collector{r.exchanges, r.repaired, r.moved, r.lastSync, oldest} {
			if err := cfg.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("antientropy: register metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Run runs a round every Interval until ctx ends, the first one soon
// after the start (within 2s), so that a node back from a crash catches up
// at once.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTimer(min(r.cfg.Interval, 2*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.Round(ctx)
		t.Reset(r.cfg.Interval)
	}
}

// Round compares every tree of the plan with its peers once, repairing
// what differs, and returns what it did in all.
//
// Rounds do not overlap: a call waits for the round under way.
func (r *Runner) Round(ctx context.Context) Result {
	r.rounding.Lock()
	defer r.rounding.Unlock()
	var total Result
	failed := map[int]bool{}
	seen := map[int]bool{}
	for _, task := range r.cfg.Plan() {
		seen[task.ID.Partition] = true
		if len(task.Away) > 0 {
			failed[task.ID.Partition] = true
		}
		for _, node := range task.Peers {
			if ctx.Err() != nil {
				return total
			}
			res, err := Exchange(ctx, r.cfg.Trees, r.cfg.Local, node, r.cfg.Peer(node), task.ID, r.cfg.Budget)
			moved := res.Pulled
			total.Pulled += res.Pulled
			total.Bytes += res.Bytes
			total.Overhead += res.Overhead
			total.Buckets += res.Buckets
			total.Stale += res.Stale
			label := strconv.Itoa(task.ID.Partition)
			r.repaired.WithLabelValues(label).Add(float64(moved))
			r.moved.WithLabelValues(label).Add(float64(res.Bytes))
			r.mu.Lock()
			st := r.partition(task.ID.Partition)
			st.Repaired += int64(moved)
			st.Bytes += int64(res.Bytes)
			r.mu.Unlock()
			switch {
			case err != nil:
				failed[task.ID.Partition] = true
				r.exchanges.WithLabelValues("failed").Inc()
				r.log.Debug("exchange failed", "tree", task.ID, "with", node, "err", err)
			case res.Equal:
				r.exchanges.WithLabelValues("equal").Inc()
			default:
				r.exchanges.WithLabelValues("repaired").Inc()
				r.log.Debug("exchange repaired", "tree", task.ID, "with", node, "buckets", res.Buckets, "pulled", res.Pulled, "bytes", res.Bytes, "stale", res.Stale)
			}
		}
	}
	if r.cfg.PurgeGrace > 0 {
		cutoff := Cutoff(r.cfg.Now(), r.cfg.PurgeGrace)
		for _, task := range r.cfg.Plan() {
			if len(task.Away) > 0 && !sabotage.Is("purge-unagreed") || ctx.Err() != nil {
				continue
			}
			n, err := Purge(ctx, r.cfg.Trees, r.cfg.Local, r.cfg.Peer, task.ID, task.Peers, cutoff)
			if err != nil {
				r.log.Warn("purging tombstones", "tree", task.ID, "err", err)
			}
			total.Settled += n
			r.mu.Lock()
			r.partition(task.ID.Partition).Settled += int64(n)
			r.mu.Unlock()
		}
	}
	// One tree a round is recomputed from storage whole, in turn, so that
	// a lost mark or a record changed on disk behind the tree's back is
	// found within as many rounds as there are trees.
	if plan := r.cfg.Plan(); len(plan) > 0 {
		r.cfg.Trees.Rescan(plan[r.rescan%len(plan)].ID)
		r.rescan++
	}
	now := time.Now()
	r.mu.Lock()
	for p := range seen {
		if !failed[p] {
			r.partition(p).LastSync = now
			r.lastSync.WithLabelValues(strconv.Itoa(p)).Set(float64(now.UnixMilli()) / 1e3)
		}
	}
	r.round++
	r.mu.Unlock()
	if moved := total.Pulled; moved > 0 {
		r.log.Info("anti-entropy repaired replicas", "records", moved, "bytes", total.Bytes, "buckets", total.Buckets)
	}
	if total.Settled > 0 {
		r.log.Debug("settled records that every replica holds", "records", total.Settled)
	}
	if total.Stale > 0 {
		r.log.Warn("anti-entropy found tree buckets out of date with storage and recomputed them", "buckets", total.Stale)
	}
	return total
}

func (r *Runner) partition(p int) *PartitionStatus {
	st := r.status[p]
	if st == nil {
		st = &PartitionStatus{Partition: p}
		r.status[p] = st
	}
	return st
}

// Status is what a runner reports.
type Status struct {
	// Rounds is how many rounds have completed since the node started;
	// Interval is the pause between two.
	Rounds   int           `json:"rounds"`
	Interval time.Duration `json:"interval_ns"`
	// Repaired, Bytes and Settled are the sums over the partitions.
	Repaired int64 `json:"records_repaired"`
	Bytes    int64 `json:"bytes_moved"`
	Settled  int64 `json:"records_settled"`
	// OldestSync is the oldest LastSync of a partition: when every
	// partition of this node was last known in sync (zero if one never
	// was).
	OldestSync time.Time         `json:"oldest_sync"`
	Partitions []PartitionStatus `json:"partitions"`
	// RecordsPerSecond and BytesPerSecond are the budget exchanges keep to
	// (0: no bound).
	RecordsPerSecond float64 `json:"records_per_second"`
	BytesPerSecond   float64 `json:"bytes_per_second"`
}

// Status returns the runner's figures, by partition.
func (r *Runner) Status() Status {
	r.mu.Lock()
	st := Status{Rounds: r.round, Interval: r.cfg.Interval}
	for _, p := range r.status {
		st.Partitions = append(st.Partitions, *p)
		st.Repaired += p.Repaired
		st.Bytes += p.Bytes
		st.Settled += p.Settled
	}
	r.mu.Unlock()
	slices.SortFunc(st.Partitions, func(a, b PartitionStatus) int { return a.Partition - b.Partition })
	for i, p := range st.Partitions {
		if i == 0 || p.LastSync.Before(st.OldestSync) {
			st.OldestSync = p.LastSync
		}
	}
	st.RecordsPerSecond, st.BytesPerSecond = r.cfg.Budget.Rates()
	return st
}

// SetBudget changes the records and bytes per second exchanges may move
// (0: no bound), from the next record on.
func (r *Runner) SetBudget(records, bytes float64) error {
	if records < 0 || bytes < 0 || math.IsNaN(records) || math.IsNaN(bytes) || math.IsInf(records, 0) || math.IsInf(bytes, 0) {
		return fmt.Errorf("anti-entropy budget %v records/s, %v bytes/s: want finite numbers, 0 or more", records, bytes)
	}
	r.cfg.Budget.Set(records, bytes)
	r.log.Info("anti-entropy budget changed", "records_per_second", records, "bytes_per_second", bytes)
	return nil
}
