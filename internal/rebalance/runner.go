package rebalance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pandodb/pando/internal/antientropy"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/raftgroup"
	"github.com/pandodb/pando/internal/sabotage"
	"github.com/pandodb/pando/internal/strong"
	"github.com/prometheus/client_golang/prometheus"
)

// Meta is the metadata a Runner reads and reports to.
type Meta interface {
	State() *metadata.State
	Changed() <-chan struct{}
	// Replayed is closed once State includes every change this node had
	// applied before a restart (metadata.Service.Replayed).
	Replayed() <-chan struct{}
	// MoveReady reports this node ready for transfers of move id.
	MoveReady(ctx context.Context, id uint64) error
	// Moved reports that node holds partition of move id.
	Moved(ctx context.Context, id uint64, partition int, node string) error
}

// Config configures a Runner.
type Config struct {
	Self  string
	Meta  Meta
	Trees *antientropy.Trees
	Local antientropy.Local
	Peer  func(node string) antientropy.Peer
	// Up reports whether gossip believes a node up.
	Up func(node string) bool
	// Purge deletes this node's records of a namespace (a storage name)
	// in a range of positions (replica.Store.PurgeRange).
	Purge func(ns string, from, to uint64, toEnd bool) error
	// Group is the Raft status of this node's member of a strong
	// partition's group (strong.Host.Status); nil on a node that serves
	// no strong namespaces.
	Group func(group uint64) (raftgroup.Status, error)
	// Grace is how long after applying a commit a node waits before it
	// reports ready: a request's timeout, after which every write it
	// placed with the current ring alone has finished or failed.
	Grace time.Duration
	// Retry is the pause before a failed transfer is tried again
	// (default 1s).
	Retry      time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Runner carries out this node's part of each move: report ready, pull the
// partitions it gains, report each done.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	budget *antientropy.Budget

	mu     sync.Mutex
	status Status
	purged uint64 // the move whose gained partitions this node has purged

	bytes     prometheus.Counter
	records   prometheus.Counter
	transfers *prometheus.CounterVec
}

// Status is what this node has done for the move under way.
type Status struct {
	Move uint64 `json:"move"`
	// Partitions is how many partitions this node pulls in the move, and
	// Done how many of them it has reported.
	Partitions int `json:"partitions"`
	Done       int `json:"done"`
	// Bytes and Records count what it pulled for the move so far.
	Bytes   int64 `json:"bytes"`
	Records int64 `json:"records"`
	// Waiting says what holds the transfers back, if anything.
	Waiting string `json:"waiting,omitempty"`
	// Err is the last transfer error, if the last attempt failed.
	Err string `json:"error,omitempty"`
}

// New returns a runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Meta == nil || cfg.Trees == nil || cfg.Local == nil || cfg.Peer == nil || cfg.Up == nil || cfg.Purge == nil {
		return nil, errors.New("rebalance: config needs Meta, Trees, Local, Peer, Up and Purge")
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 5 * time.Second // the coordinator's default request timeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		cfg: cfg, log: cfg.Logger.With("subsystem", "rebalance"), budget: antientropy.NewBudget(0, 0),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_rebalance_bytes_total",
			Help: "Bytes of records this node pulled in transfers of partitions it gained, keys included.",
		}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_rebalance_records_total",
			Help: "Records this node pulled in transfers of partitions it gained.",
		}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pando_rebalance_transfers_total",
			Help: "Transfers of a partition to this node, by result: done, failed.",
		}, []string{"result"}),
	}
	if cfg.Registerer != nil {
		remaining := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "pando_rebalance_transfers_remaining",
			Help: "Transfers of the move under way not yet done, cluster-wide (0 when no move is under way).",
		}, func() float64 { return float64(len(cfg.Meta.State().Remaining())) })
		for _, c := range []prometheus.Collector{r.bytes, r.records, r.transfers, remaining} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// Status returns what this node has done for the move under way.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

func (r *Runner) setStatus(f func(*Status)) {
	r.mu.Lock()
	f(&r.status)
	r.mu.Unlock()
}

// Run carries out moves until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	var readyAt time.Time // when this node may report ready for move
	var move uint64
	tick := time.NewTicker(r.cfg.Retry)
	defer tick.Stop()
	go r.throttle(ctx)
	// A restarted node's metadata starts from its last snapshot, which
	// may predate its own reports: acting on it would clear partitions it
	// had already pulled and reported.
	select {
	case <-ctx.Done():
		return
	case <-r.cfg.Meta.Replayed():
	}
	for {
		changed := r.cfg.Meta.Changed()
		st := r.cfg.Meta.State()
		if m := st.Move; m != nil {
			if m.ID != move {
				move, readyAt = m.ID, time.Now().Add(r.cfg.Grace)
				r.setStatus(func(s *Status) { *s = Status{Move: m.ID, Partitions: len(r.mine(st))} })
			}
			if err := r.step(ctx, st, readyAt); err != nil && ctx.Err() == nil {
				r.log.Warn("a transfer failed; trying again", "move", m.ID, "err", err)
				r.setStatus(func(s *Status) { s.Err = err.Error() })
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// throttle keeps the budget at the cluster's setting, also while a
// transfer runs.
func (r *Runner) throttle(ctx context.Context) {
	for {
		changed := r.cfg.Meta.Changed()
		r.budget.Set(0, float64(r.cfg.Meta.State().MoveThrottle))
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// mine lists the partitions this node gains in the move under way,
// ascending.
func (r *Runner) mine(st *metadata.State) []int {
	var out []int
	for _, t := range st.Transfers(st.Move.Next) {
		if t.To == r.cfg.Self {
			out = append(out, t.Partition)
		}
	}
	return out
}

// step does what can be done now for the move under way.
func (r *Runner) step(ctx context.Context, st *metadata.State, readyAt time.Time) error {
	m := st.Move
	if _, member := st.Members[r.cfg.Self]; member && !m.Ready[r.cfg.Self] {
		if r.purged != m.ID {
			if err := r.purgeGained(st); err != nil {
				return err
			}
			r.purged = m.ID
		}
		if wait := time.Until(readyAt); wait > 0 {
			r.setStatus(func(s *Status) { s.Waiting = "writes placed with the current ring to finish" })
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		return r.cfg.Meta.MoveReady(ctx, m.ID)
	}
	var notReady []string
	for _, id := range st.MemberIDs() {
		if !m.Ready[id] && r.cfg.Up(id) {
			notReady = append(notReady, id)
		}
	}
	if len(notReady) > 0 {
		r.setStatus(func(s *Status) { s.Waiting = fmt.Sprintf("members not yet writing to both rings: %v", notReady) })
		return nil
	}
	r.setStatus(func(s *Status) { s.Waiting = "" })
	for _, t := range st.Remaining() {
		if t.To != r.cfg.Self {
			continue
		}
		if why := r.joining(st, t.Partition); why != "" {
			r.setStatus(func(s *Status) { s.Waiting = why })
			continue // asked again at the next tick
		}
		if err := r.transfer(ctx, st, t.Partition); err != nil {
			r.transfers.WithLabelValues("failed").Inc()
			return err
		}
		if err := r.cfg.Meta.Moved(ctx, m.ID, t.Partition, r.cfg.Self); err != nil {
			return err
		}
		r.transfers.WithLabelValues("done").Inc()
		r.setStatus(func(s *Status) { s.Done++; s.Err = "" })
		r.log.Info("pulled a partition", "move", m.ID, "partition", t.Partition)
		if r.cfg.Meta.State().Move == nil {
			return nil
		}
	}
	return nil
}

// purgeGained deletes this node's records of the partitions of eventual
// namespaces it gains in the move under way, before it reports ready. What
// it holds of them is from an earlier time it replicated them: stale, and
// dangerous, since the replicas may since have purged the tombstone of a
// deletion whose value this copy still has, which would come back. What
// it deletes that is not stale are writes of this move sent to it early,
// each also on W current replicas, from which the copies begin only once
// every member is ready.
func (r *Runner) purgeGained(st *metadata.State) error {
	for _, name := range st.NamespaceNames() {
		ns := st.Namespaces[name]
		for p := range st.Ring.Partitions() {
			if !slices.Contains(st.Pending(ns, p), r.cfg.Self) {
				continue
			}
			lo, hi, last := st.Ring.Range(p)
			if err := r.cfg.Purge(ns.StorageName(), lo, hi, last); err != nil {
				return fmt.Errorf("clearing partition %d of %s before pulling it: %w", p, name, err)
			}
			r.cfg.Trees.Forget(antientropy.ID{NS: ns.StorageName(), Partition: p})
		}
	}
	return nil
}

// joining says which Raft group of partition p, of a strong namespace in
// which this node gains it, is not yet made of the next ring's replicas
// alone with this node a voter (the group's leader adds it as a learner,
// promotes it once caught up, and removes the replicas the next ring
// drops); "" once none is left. The data comes with Raft's log or a
// snapshot, never copied behind its back.
func (r *Runner) joining(st *metadata.State, p int) string {
	if sabotage.Is("move-no-raft") {
		return "" // reported moved while the group may not have this node yet
	}
	for _, name := range st.NamespaceNames() {
		ns := st.Namespaces[name]
		if ns.Model != metadata.Strong || !slices.Contains(st.Gains(ns, p), r.cfg.Self) {
			continue
		}
		group := strong.GroupID(ns.Generation, p)
		want := slices.Sorted(slices.Values(metadata.RaftIDs(st.Move.Next.Preference(p, st.NextReplicas(ns)))))
		if r.cfg.Group == nil {
			return fmt.Sprintf("partition %d of strong namespace %s: this node runs no strong partitions", p, name)
		}
		rs, err := r.cfg.Group(group)
		if err != nil {
			return fmt.Sprintf("partition %d of strong namespace %s: its raft group is not open here yet", p, name)
		}
		if !slices.Equal(rs.Voters, want) || len(rs.Learners) > 0 {
			return fmt.Sprintf("partition %d of strong namespace %s: its raft group has voters %v and learners %v, moving to %v", p, name, rs.Voters, rs.Learners, want)
		}
	}
	return ""
}

// transfer pulls partition p of every eventual namespace in which this node
// gains it, from the current replicas that are up: all of them must
// answer, and they must be a majority of the replicas.
func (r *Runner) transfer(ctx context.Context, st *metadata.State, p int) error {
	for _, name := range st.NamespaceNames() {
		ns := st.Namespaces[name]
		if !slices.Contains(st.Pending(ns, p), r.cfg.Self) {
			continue
		}
		from := st.Ring.Preference(p, st.Replicas(ns))
		var up []string
		for _, f := range from {
			if r.cfg.Up(f) {
				up = append(up, f)
			}
		}
		if len(up) < len(from)/2+1 {
			return fmt.Errorf("partition %d of %s: %d of its %d replicas are up, a majority (%d) is needed to copy every acknowledged write", p, name, len(up), len(from), len(from)/2+1)
		}
		if sabotage.Is("move-no-copy") {
			continue // reported copied, holding only what dual writes brought
		}
		id := antientropy.ID{NS: ns.StorageName(), Partition: p}
		for _, f := range up {
			res, err := antientropy.Exchange(ctx, r.cfg.Trees, r.cfg.Local, f, r.cfg.Peer(f), id, r.budget)
			r.bytes.Add(float64(res.Bytes))
			r.records.Add(float64(res.Pulled))
			r.setStatus(func(s *Status) { s.Bytes += int64(res.Bytes); s.Records += int64(res.Pulled) })
			if err != nil {
				return fmt.Errorf("partition %d of %s from %s: %w", p, name, f, err)
			}
		}
	}
	return nil
}
