package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pandodb/pando/internal/antientropy"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/handoff"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/sabotage"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/quorum"
	"github.com/prometheus/client_golang/prometheus"
)

// MetaView is the metadata a coordinator reads.
type MetaView interface {
	State() *metadata.State
}

// Liveness tells whether a node is believed up.
type Liveness interface {
	Up(node string) bool
}

// Config configures a coordinator.
type Config struct {
	// Self is this node's id.
	Self string
	// Actor names this node's write events in version vectors. It must
	// change every time the node starts (Pando uses id.epoch): writes are
	// sent to other replicas before they are durable here, so after a crash
	// a node must never stamp a new write with a dot an earlier, lost one
	// may already have on another replica. Default: Self, safe only for a
	// node with no peers.
	Actor string
	// Store is this node's replica.
	Store *replica.Store
	// Meta provides the ring and namespaces.
	Meta MetaView
	// Liveness tells which nodes to ask; nil means all are up.
	Liveness Liveness
	// Transport reaches the other nodes.
	Transport transport.Transport
	// Hints keeps the records a replica did not take (it was down, cut off
	// or too slow) for replay when it is back; nil keeps none.
	Hints *handoff.Store
	// Trees are this replica's anti-entropy trees, which peers compare
	// with theirs; nil answers that anti-entropy is off.
	Trees *antientropy.Trees
	// Strong is this node's members of strong partitions; nil serves no
	// strong namespace.
	Strong Strong
	// Timeout bounds a request's wait for replicas (default 5s).
	Timeout time.Duration
	// StaleAfter is the tombstone grace: a record that set out for this
	// replica longer ago (a message held up by a partition or a paused
	// process, a hint of that age) is refused, since a tombstone written
	// after it may already be purged everywhere. 0 refuses none.
	StaleAfter time.Duration
	// DefaultR and DefaultW apply when a request names no level (default
	// quorum).
	DefaultR, DefaultW quorum.Level
	// DisableReadRepair stops reads from repairing the replicas they find
	// stale (for tests of the other repair paths).
	DisableReadRepair bool
	// ReadRepairChance is the fraction of reads (at R > 1) after which the
	// replicas the read did not ask are read and repaired too, in the
	// background (default 0.1; negative: never). At most
	// maxBackgroundRepairs such reads run at once.
	ReadRepairChance float64
	// MaxReplicationQueueBytes bounds the records waiting to be sent to one
	// peer (default 64 MiB). A record that finds the queue full is not sent
	// and does not count toward W; the peer is not keeping up.
	MaxReplicationQueueBytes int
	Logger                   *slog.Logger
	// Registerer, if set, receives the replication metrics.
	Registerer prometheus.Registerer
}

// Coordinator serves api.KV over the cluster.
type Coordinator struct {
	cfg   Config
	log   *slog.Logger
	store *replica.Store
	self  string

	// Per peer: records to replicate, reads to send.
	repMu   sync.Mutex
	reps    map[string]*batcher[repItem]
	readers map[string]*batcher[readItem]
	// states holds the decoded states of the counters, sets and maps last
	// updated here.
	states *stateCache

	// bgRepairs bounds the background reads of replicas a read did not ask.
	bgRepairs chan struct{}

	// Replication to peers: records per ReplicateBatch call, and records
	// whose call failed, by peer.
	batchRecords prometheus.Histogram
	repFailures  *prometheus.CounterVec
	staleRefused prometheus.Counter
	// Read repair: records sent to stale replicas, and background reads of
	// unasked replicas skipped because maxBackgroundRepairs were running.
	readRepairs    prometheus.Counter
	repairsSkipped prometheus.Counter
	// rewrites counts blind writes written again because a replica held
	// writes they had not seen.
	rewrites prometheus.Counter
	// writes counts writes received from clients, forwarded those sent on
	// to another node to coordinate.
	writes, forwarded prometheus.Counter
	// Counter, set and map updates sent to replicas as updates, and those
	// a replica asked the record for (its copy was not the base); updates
	// that read other replicas' records, not just their contexts, because
	// they held events this one lacked.
	updatesSent, updatesMissed, updateReads prometheus.Counter
}

// maxBackgroundRepairs bounds the reads of unasked replicas in flight.
const maxBackgroundRepairs = 16

var _ api.KV = (*Coordinator)(nil)

func init() {
	for code, err := range map[string]error{
		"unavailable":       api.ErrUnavailable,
		"no_namespace":      api.ErrNoNamespace,
		"too_many_siblings": api.ErrTooManySiblings,
		"siblings":          api.ErrSiblings,
		"invalid_argument":  api.ErrInvalidArgument,
		"not_replica":       errNotReplica,
		"no_space":          api.ErrNoSpace,
		"io_error":          api.ErrDiskFailed,
	} {
		transport.RegisterError(code, err)
	}
}

var errNotReplica = errors.New("not a replica of the key")

// New returns a coordinator.
func New(cfg Config) (*Coordinator, error) {
	if cfg.Self == "" || cfg.Store == nil || cfg.Meta == nil || cfg.Transport == nil {
		return nil, errors.New("coordinator: config needs Self, Store, Meta and Transport")
	}
	if cfg.Actor == "" {
		cfg.Actor = cfg.Self
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	cfg.DefaultR = cfg.DefaultR.Or(quorum.Quorum)
	cfg.DefaultW = cfg.DefaultW.Or(quorum.Quorum)
	if cfg.ReadRepairChance == 0 {
		cfg.ReadRepairChance = 0.1
	}
	if cfg.MaxReplicationQueueBytes == 0 {
		cfg.MaxReplicationQueueBytes = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{
		cfg: cfg, log: cfg.Logger.With("subsystem", "coordinator"), store: cfg.Store, self: cfg.Self,
		reps: map[string]*batcher[repItem]{}, readers: map[string]*batcher[readItem]{},
		states:    newStateCache(defaultStateCacheBytes),
		bgRepairs: make(chan struct{}, maxBackgroundRepairs),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pando_replication_batch_records",
			Help:    "Records sent to a peer in one ReplicateBatch call: what queued while the previous call to that peer was in flight.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		repFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pando_replication_failed_records_total",
			Help: "Records a peer did not confirm (unreachable, timed out or refused), by peer.",
		}, []string{"peer"}),
		staleRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_replication_stale_refused_total",
			Help: "Records refused because they set out for this replica longer ago than the tombstone grace (held up by a partition or a pause); anti-entropy brings any that still live.",
		}),
		readRepairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_read_repairs_total",
			Help: "Records sent to replicas that a read found missing or behind.",
		}),
		rewrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_write_rewrites_total",
			Help: "Plain writes written a second time because a replica held writes they had not seen (their coordinator's copy was stale).",
		}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_client_writes_total",
			Help: "Writes received from clients on this node.",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_client_writes_forwarded_total",
			Help: "Writes received from clients that this node, not a replica of the key (or not its first live one), forwarded to a replica to coordinate.",
		}),
		repairsSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_read_repair_skipped_total",
			Help: "Background reads of the replicas a read did not ask, skipped because enough were running.",
		}),
		updatesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_replication_updates_total",
			Help: "Counter, set and map updates sent to a replica as the update, not the record it made.",
		}),
		updatesMissed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_replication_update_misses_total",
			Help: "Updates a replica could not apply (its copy differed from the coordinator's) and took as the record instead.",
		}),
		updateReads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_update_record_reads_total",
			Help: "Counter, set and map updates that read other replicas' records, not only their causal contexts, because those held events this node's copy lacked.",
		}),
	}
	if cfg.Registerer != nil {
		for _, m := range []prometheus.Collector{c.batchRecords, c.repFailures, c.staleRefused, c.readRepairs, c.repairsSkipped, c.rewrites, c.writes, c.forwarded, c.updatesSent, c.updatesMissed, c.updateReads} {
			if err := cfg.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("coordinator: register metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Meta is the metadata the coordinator reads.
func (c *Coordinator) Meta() MetaView { return c.cfg.Meta }

func (c *Coordinator) up(node string) bool {
	return node == c.self || c.cfg.Liveness == nil || c.cfg.Liveness.Up(node)
}

// placement is where a key lives.
type placement struct {
	ns        metadata.Namespace
	n         int
	partition int
	hash      uint64
	// store is the name the namespace's records are stored and replicated
	// under (metadata.Namespace.StorageName: the name and generation).
	store string
	// pref is the preference list: the n replicas. For a strong
	// namespace it is the replicas a request tries, best first
	// (metadata.State.StrongServers: during a move, those of both rings),
	// and staying counts its first ones that stay in the partition's group.
	pref    []string
	staying int
	// fallbacks are the nodes after pref in the ring's order, for a
	// namespace with a sloppy quorum (nil otherwise): they keep hints for
	// replicas that do not take a write.
	fallbacks []string
	// pending are the nodes that replicate the key in the ring a move
	// under way switches to, and not in the current one
	// (metadata.State.Pending): writes reach them too.
	pending []string
}

// blockFor is how many replicas must acknowledge a write at level w: w,
// and during a move one more for each pending replica, so that w of the
// current replicas and w of the next ones hold it whichever answer (as
// Cassandra counts pending endpoints, CASSANDRA-833).
func (pl placement) blockFor(w int) int { return w + len(pl.pending) }

// placeSynced places a key, and if its namespace is unknown here, first
// catches the metadata up with the cluster (a namespace created through
// another node a moment ago) before concluding it does not exist.
func (c *Coordinator) placeSynced(ctx context.Context, nsName string, key []byte) (*metadata.State, placement, error) {
	st := c.cfg.Meta.State()
	pl, err := c.place(st, nsName, key)
	if !errors.Is(err, api.ErrNoNamespace) {
		return st, pl, err
	}
	syncer, ok := c.cfg.Meta.(interface{ Sync(context.Context) error })
	if !ok {
		return st, pl, err
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if syncer.Sync(sctx) != nil {
		return st, pl, err
	}
	st = c.cfg.Meta.State()
	pl, err = c.place(st, nsName, key)
	return st, pl, err
}

func (c *Coordinator) place(st *metadata.State, nsName string, key []byte) (placement, error) {
	if !st.Initialized() {
		return placement{}, fmt.Errorf("%w: the cluster has not formed yet", api.ErrUnavailable)
	}
	ns, ok := st.Namespace(nsName)
	if !ok {
		return placement{}, fmt.Errorf("%w: %q", api.ErrNoNamespace, nsName)
	}
	store := ns.StorageName()
	h := storage.Hash(store, key)
	p := st.Ring.Partition(h)
	n := st.Replicas(ns)
	pl := placement{ns: ns, store: store, n: n, partition: p, hash: h, pref: st.Ring.Preference(p, n), pending: st.Pending(ns, p)}
	if ns.Model == metadata.Strong {
		pl.pref, pl.staying = st.StrongServers(ns, p)
	}
	if sabotage.Is("move-no-dual") {
		pl.pending = nil // writes of a move reach the current replicas only
	}
	if ns.SloppyQuorum {
		pl.fallbacks = st.Ring.Preference(p, st.Ring.NumNodes())[n:]
		if len(pl.pending) > 0 {
			// A pending replica takes the write itself; it is no fallback.
			pl.fallbacks = slices.DeleteFunc(slices.Clone(pl.fallbacks), func(f string) bool { return slices.Contains(pl.pending, f) })
		}
	}
	return pl, nil
}

// upFallbacks returns the fallbacks that gossip believes up.
func (c *Coordinator) upFallbacks(pl placement) []string { return c.upOf(pl.fallbacks) }

// upPending returns the pending replicas that gossip believes up.
func (c *Coordinator) upPending(pl placement) []string { return c.upOf(pl.pending) }

func (c *Coordinator) upOf(nodes []string) []string {
	var out []string
	for _, n := range nodes {
		if c.up(n) {
			out = append(out, n)
		}
	}
	return out
}

// candidates orders the replicas to try as coordinator or to read from:
// this node first if it is one, then the others that are up, in preference
// order.
func (c *Coordinator) candidates(pref []string) []string {
	out := make([]string, 0, len(pref))
	if slices.Contains(pref, c.self) {
		out = append(out, c.self)
	}
	for _, r := range pref {
		if r != c.self && c.up(r) {
			out = append(out, r)
		}
	}
	return out
}

func required(l, def quorum.Level, n int) (int, error) {
	k, err := l.Or(def).Required(n)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", api.ErrInvalidArgument, err)
	}
	return k, nil
}

func (c *Coordinator) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.Timeout)
}

// Handler serves the data part of the node-to-node protocol (Write,
// Replicate, Read, Scan) for a coordinator. The node combines it with the
// metadata's Raft and Propose.
type Handler struct{ c *Coordinator }

// Handler returns the coordinator's node-to-node handler.
func (c *Coordinator) Handler() Handler { return Handler{c} }

// Local returns a coordinator for a lone node that owns every partition,
// with fixed metadata and no peers: for tests and tools that need the
// key-value service without a cluster.
func Local(store *replica.Store, namespaces ...metadata.Namespace) *Coordinator {
	c, err := New(Config{
		Self: "local", Store: store,
		Meta:      metadata.Fixed{S: metadata.SingleNode("local", 16, namespaces...)},
		Transport: transport.NewMemNetwork().Transport(),
	})
	if err != nil {
		panic(err)
	}
	return c
}

var _ api.Strong = (*Coordinator)(nil)

// Catalog adapts the metadata to the front ends' view of namespaces.
type Catalog struct{ Meta MetaView }

// Namespace describes a namespace, catching up with the cluster's metadata
// before saying it does not exist.
func (c Catalog) Namespace(name string) (api.NamespaceInfo, bool) {
	var info api.NamespaceInfo
	ok := c.lookup(func(st *metadata.State) bool {
		ns, ok := st.Namespace(name)
		info = api.NamespaceInfo{DB: ns.DB, N: st.Replicas(ns), Strong: ns.Model == metadata.Strong, Type: string(ns.Type)}
		return ok
	})
	return info, ok
}

// Databases is one more than the highest namespace number.
func (c Catalog) Databases() int {
	n := 0
	for _, ns := range c.Meta.State().Namespaces {
		n = max(n, ns.DB+1)
	}
	return n
}

// NamespaceByDB finds a namespace by number.
func (c Catalog) NamespaceByDB(db int) (string, bool) {
	var name string
	ok := c.lookup(func(st *metadata.State) bool {
		ns, ok := st.NamespaceByDB(db)
		name = ns.Name
		return ok
	})
	return name, ok
}

func (c Catalog) lookup(found func(*metadata.State) bool) bool {
	if found(c.Meta.State()) {
		return true
	}
	if s, ok := c.Meta.(interface{ Sync(context.Context) error }); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if s.Sync(ctx) == nil {
			return found(c.Meta.State())
		}
	}
	return false
}
