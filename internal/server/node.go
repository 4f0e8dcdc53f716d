package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pandodb/pando/internal/antientropy"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/coordinator"
	"github.com/pandodb/pando/internal/handoff"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/raftgroup"
	"github.com/pandodb/pando/internal/rebalance"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/strong"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
	"github.com/prometheus/client_golang/prometheus"
)

// Gossip is what a node needs of membership: the member list, its own
// metadata, and who is up.
type Gossip interface {
	metadata.Gossip
	Up(id string) bool
}

// NodeConfig configures the data and control planes of one node, without
// its listeners: the part an in-process cluster builds directly.
type NodeConfig struct {
	// ID is the node id; empty means the one stored in DataDir, or a new
	// one on first start.
	ID      string
	DataDir string
	// Advertised addresses, recorded in the metadata.
	ClusterAddr, GossipAddr, RESPAddr, HTTPAddr string
	Transport                                   transport.Transport
	// Gossip is the membership view; or NewGossip makes it once the node's
	// id is known (the id lives in the data directory).
	Gossip          Gossip
	NewGossip       func(id string) (Gossip, error)
	BootstrapExpect int
	Partitions      int
	// RaftTick is the metadata group's Raft tick (default 100ms).
	RaftTick time.Duration
	// RequestTimeout bounds a request's wait for replicas (default 5s).
	RequestTimeout   time.Duration
	CacheBytes       int64
	RecordCacheBytes int64 // 0 disables
	WALMinSync       time.Duration
	ReapInterval     time.Duration
	// MinFreeDisk and MaxDiskUsage: see Config.
	MinFreeDisk, MaxDiskUsage int64
	// DiskFaults, if set, injects disk faults (tests, the verifier).
	DiskFaults *storage.Faults
	// HintMaxBytes and HintMaxAge bound the hints kept for replicas that
	// miss writes, HintReplayInterval is how often they are offered to their
	// replicas (see handoff.Config for the defaults). DisableHints keeps
	// none: for tests of the other repair paths.
	HintMaxBytes       int64
	HintMaxAge         time.Duration
	HintReplayInterval time.Duration
	DisableHints       bool
	// DisableReadRepair stops reads from repairing stale replicas: for tests
	// of the other repair paths.
	DisableReadRepair bool
	// PurgeInterval is how often the records of truncated or dropped
	// namespaces are purged from disk (default 10s).
	PurgeInterval time.Duration
	// AntiEntropyInterval is the pause between two rounds of anti-entropy
	// exchanges (default 10s); AntiEntropyRecords and AntiEntropyBytes bound
	// what they move per second (0: no bound). DisableAntiEntropy runs no
	// rounds (a peer can still compare with this node's trees).
	AntiEntropyInterval                  time.Duration
	AntiEntropyRecords, AntiEntropyBytes float64
	DisableAntiEntropy                   bool
	// ManualAntiEntropy runs rounds only when Node.AntiEntropy().Round is
	// called: for tests that count what one round does.
	ManualAntiEntropy bool
	// TombstoneGrace is how long after its stamp a tombstone stays on disk
	// at least, once anti-entropy knows every replica holds it (default:
	// the hint max age plus 10 minutes; never less than the hint max age,
	// or a late hint could bring a deleted value back).
	TombstoneGrace time.Duration
	// MaxClockOffset is how far apart the nodes' clocks are trusted to be:
	// a purge waits twice this past the grace, since a replica refuses
	// records by the age their sender's clock gives them.
	MaxClockOffset time.Duration
	Clock          clock.Clock
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
}

// Node is one node's storage, replica, metadata member and coordinator.
type Node struct {
	ID    string
	eng   *storage.Engine
	store *replica.Store
	meta  *metadata.Service
	hints *handoff.Store // nil without hints
	// purgeInterval is how often retired namespace data is purged.
	purgeInterval time.Duration
	coord         *coordinator.Coordinator
	ae            *antientropy.Runner // nil when off
	manualAE      bool
	moves         *rebalance.Runner
	strong        *strong.Host
	strongSender  *raftgroup.Sender
	log           *slog.Logger
}

// ErrNodeIDMismatch means --node-id differs from the id the data directory
// was created with.
var ErrNodeIDMismatch = errors.New("node id does not match the data directory")

// OpenNode opens a node's storage and builds its parts.
func OpenNode(cfg NodeConfig) (n *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Transport == nil || (cfg.Gossip == nil && cfg.NewGossip == nil) {
		return nil, errors.New("server: node needs a transport and gossip")
	}
	eng, err := storage.Open(storage.Config{
		Dir: cfg.DataDir, CacheBytes: cfg.CacheBytes, WALMinSyncInterval: cfg.WALMinSync,
		Logger: cfg.Logger, Registerer: cfg.Registerer,
		MinFreeBytes: uint64(cfg.MinFreeDisk), MaxDiskBytes: uint64(cfg.MaxDiskUsage), Faults: cfg.DiskFaults,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			eng.Close()
		}
	}()
	id, err := nodeID(eng, cfg.ID)
	if err != nil {
		return nil, err
	}
	if cfg.Gossip == nil {
		if cfg.Gossip, err = cfg.NewGossip(id); err != nil {
			return nil, err
		}
	}
	epoch, err := nextEpoch(eng)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("node", id)
	var trees *antientropy.Trees // made below, once the metadata is open
	store, err := replica.New(replica.Config{
		Engine: eng, Clock: cfg.Clock, ReapInterval: cfg.ReapInterval, Logger: log,
		Registerer: cfg.Registerer, CacheBytes: recordCache(cfg.RecordCacheBytes),
		Watch: func(dataKey []byte) {
			if trees != nil {
				trees.Touch(dataKey)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	meta, err := metadata.Open(metadata.Config{
		Self:   metadata.Member{ID: id, ClusterAddr: cfg.ClusterAddr, GossipAddr: cfg.GossipAddr, RESPAddr: cfg.RESPAddr, HTTPAddr: cfg.HTTPAddr},
		Engine: eng, Transport: cfg.Transport, Gossip: cfg.Gossip,
		BootstrapExpect: cfg.BootstrapExpect, Partitions: cfg.Partitions, TickInterval: cfg.RaftTick,
		ChangeTimeout: cfg.RequestTimeout, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	strongSender := raftgroup.NewSender(cfg.Transport, func(raftID uint64) (string, bool) {
		m, ok := meta.State().MemberByRaftID(raftID)
		return m.ID, ok
	}, log)
	gossip := cfg.Gossip
	strongHost := strong.NewHost(strong.HostConfig{
		Self: metadata.RaftID(id), Engine: eng, Sender: strongSender, TickInterval: cfg.RaftTick, Logger: log,
		LeaderDown: func(raftID uint64) bool {
			m, ok := meta.State().MemberByRaftID(raftID)
			return ok && !gossip.Up(m.ID)
		},
	})
	if cfg.Registerer != nil {
		for _, state := range []string{"quiesced", "awake"} {
			cfg.Registerer.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "pando_strong_groups",
				Help:        "This node's members of strong partitions' Raft groups: quiesced (idle, not ticking) or awake.",
				ConstLabels: prometheus.Labels{"state": state},
			}, func() float64 {
				q, all := strongHost.Quiesced()
				if state == "quiesced" {
					return float64(q)
				}
				return float64(all - q)
			}))
		}
	}
	var hints *handoff.Store
	if !cfg.DisableHints {
		hints, err = handoff.Open(handoff.Config{
			Engine: eng, MaxBytes: cfg.HintMaxBytes, MaxAge: cfg.HintMaxAge, ReplayInterval: cfg.HintReplayInterval,
			Clock: cfg.Clock, Logger: log, Registerer: cfg.Registerer,
		})
		if err != nil {
			return nil, err
		}
	}
	trees = antientropy.NewTrees(store, func() antientropy.Layout {
		if st := meta.State(); st.Ring != nil {
			return antientropy.Layout{Partitions: st.Ring.Partitions()}
		}
		return antientropy.Layout{}
	})
	trees.Now = cfg.Clock.Now
	// Tombstones are purged only by anti-entropy; with it off, no record
	// is too old to take.
	var grace time.Duration
	if !cfg.DisableAntiEntropy {
		if grace, err = tombstoneGrace(cfg); err != nil {
			return nil, err
		}
	}
	coord, err := coordinator.New(coordinator.Config{
		Self: id, Actor: fmt.Sprintf("%s.%d", id, epoch), Store: store, Meta: meta, Liveness: cfg.Gossip, Transport: cfg.Transport, Hints: hints, Trees: trees,
		Strong: strongHost, Timeout: cfg.RequestTimeout, StaleAfter: grace, DisableReadRepair: cfg.DisableReadRepair, Logger: log, Registerer: cfg.Registerer,
	})
	if err != nil {
		return nil, err
	}
	purge := cfg.PurgeInterval
	if purge <= 0 {
		purge = 10 * time.Second
	}
	n = &Node{ID: id, eng: eng, store: store, meta: meta, hints: hints, coord: coord, log: log, purgeInterval: purge, manualAE: cfg.ManualAntiEntropy,
		strong: strongHost, strongSender: strongSender}
	n.moves, err = rebalance.New(rebalance.Config{
		Self: id, Meta: meta, Trees: trees, Local: coord.AntiEntropyLocal(), Peer: coord.AntiEntropyPeer, Up: coord.Up,
		Purge: store.PurgeRange, Group: strongHost.Status, Grace: cfg.RequestTimeout, Logger: log, Registerer: cfg.Registerer,
	})
	if err != nil {
		return nil, err
	}
	if !cfg.DisableAntiEntropy {
		n.ae, err = antientropy.NewRunner(antientropy.Config{
			PurgeGrace: grace + 2*cfg.MaxClockOffset, Now: cfg.Clock.Now,
			Trees: trees, Local: coord.AntiEntropyLocal(), Peer: coord.AntiEntropyPeer, Plan: coord.AntiEntropyPlan,
			Interval: cfg.AntiEntropyInterval, Budget: antientropy.NewBudget(cfg.AntiEntropyRecords, cfg.AntiEntropyBytes),
			Logger: log, Registerer: cfg.Registerer,
		})
		if err != nil {
			return nil, err
		}
	}
	return n, nil
}

// recordCache maps the node setting (0 disables) to the replica's (negative
// disables).
func recordCache(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// nodeID returns the node's id: the stored one, checked against want, or
// want (or a new random id) stored on first start.
func nodeID(eng *storage.Engine, want string) (string, error) {
	var stored string
	err := eng.Get(storage.MetaKey("node-id"), func(v []byte) error { stored = string(v); return nil })
	switch {
	case err == nil:
		if want != "" && want != stored {
			return "", fmt.Errorf("%w: the directory belongs to node %q, not %q", ErrNodeIDMismatch, stored, want)
		}
		return stored, nil
	case !errors.Is(err, storage.ErrNotFound):
		return "", err
	}
	id := want
	if id == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		id = "n-" + hex.EncodeToString(b)
	}
	b := eng.NewBatch()
	b.Set(storage.MetaKey("node-id"), []byte(id))
	if err := eng.Commit(b, true); err != nil {
		return "", err
	}
	return id, nil
}

// nextEpoch counts this start of the node, durably, before it writes
// anything: its write events are stamped id.epoch, so no event after a crash
// can reuse a dot of one before it (see coordinator.Config.Actor).
func nextEpoch(eng *storage.Engine) (uint64, error) {
	var epoch uint64
	err := eng.Get(storage.MetaKey("epoch"), func(v []byte) error {
		n, k := binary.Uvarint(v)
		if k <= 0 {
			return fmt.Errorf("server: corrupt epoch %x", v)
		}
		epoch = n
		return nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return 0, err
	}
	epoch++
	b := eng.NewBatch()
	b.Set(storage.MetaKey("epoch"), binary.AppendUvarint(nil, epoch))
	if err := eng.Commit(b, true); err != nil {
		return 0, err
	}
	return epoch, nil
}

// KV is the node's client-facing key-value service.
func (n *Node) KV() *coordinator.Coordinator { return n.coord }

// Meta is the node's view of the cluster metadata.
func (n *Node) Meta() *metadata.Service { return n.meta }

// Store is the node's replica.
func (n *Node) Store() *replica.Store { return n.store }

// Handler serves the node-to-node protocol.
func (n *Node) Handler() transport.Peer {
	return nodeHandler{Handler: n.coord.Handler(), meta: n.meta, strong: n.strong}
}

type nodeHandler struct {
	coordinator.Handler
	meta   *metadata.Service
	strong *strong.Host
}

func (h nodeHandler) Raft(_ context.Context, r *nodepb.RaftRequest) (*nodepb.RaftResponse, error) {
	var errs []error
	for _, b := range r.GetBatches() {
		if b.GetGroup() != metadata.Group {
			errs = append(errs, h.strong.HandleRaft(b))
		} else {
			errs = append(errs, h.meta.Step(b))
		}
	}
	return &nodepb.RaftResponse{}, errors.Join(errs...)
}

func (h nodeHandler) Strong(ctx context.Context, r *nodepb.StrongRequest) (*nodepb.StrongResponse, error) {
	return h.strong.Serve(ctx, r), nil
}

// Strong is the node's members of strong partitions' Raft groups.
func (n *Node) Strong() *strong.Host { return n.strong }

// AntiEntropy is the node's anti-entropy runner, or nil when it runs none.
func (n *Node) AntiEntropy() *antientropy.Runner { return n.ae }

// Moves returns the node's part in moving partitions.
func (n *Node) Moves() *rebalance.Runner { return n.moves }

// Hints is the node's hint store, or nil when it keeps none.
func (n *Node) Hints() *handoff.Store { return n.hints }

// ErrStorageFailed stops a node whose storage failed a write (its log could
// not be written or synced): the node must open its data directory again,
// which recovers what was synced (Supervise does).
var ErrStorageFailed = errors.New("server: the node's storage failed a write")

// Run runs the metadata member, the reaper and the hint replay until ctx
// ends, or the storage fails a write, then closes storage.
func (n *Node) Run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-n.eng.Failed():
			n.log.Error("storage failed a write: the node stops acknowledging and reopens its data directory from the log", "err", n.eng.Failure())
			stop()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = n.store.Run(ctx) }()
	if n.hints != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = n.hints.Run(ctx, n.coord) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); n.coord.RunPurge(ctx, n.purgeInterval) }()
	if n.ae != nil && !n.manualAE {
		wg.Add(1)
		go func() { defer wg.Done(); n.ae.Run(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); n.moves.Run(ctx) }()
	wg.Add(2)
	go func() { defer wg.Done(); runStrong(ctx, n.ID, n.meta, n.strong, n.eng, n.log) }()
	go func() { defer wg.Done(); reconfigureStrong(ctx, n.ID, n.meta, n.strong, n.log) }()
	err := n.meta.Run(ctx)
	wg.Wait()
	n.strong.Close()
	n.strongSender.Close()
	cerr := n.eng.Close()
	if ferr := n.eng.Failure(); ferr != nil {
		// What stopped the rest, and what Close met, are its consequences.
		return fmt.Errorf("%w: %w", ErrStorageFailed, ferr)
	}
	if err == nil {
		err = cerr
	}
	return err
}

// tombstoneGrace is the configured grace, or by default the hint max age
// plus 10 minutes. It must outlast a hint (one replayed later could bring
// a deleted value back) and a request (a read repair or an exchange that
// read a replica before the delete reached it).
func tombstoneGrace(cfg NodeConfig) (time.Duration, error) {
	hintAge := cfg.HintMaxAge
	if hintAge == 0 {
		hintAge = handoff.DefaultMaxAge
	}
	grace := cfg.TombstoneGrace
	switch {
	case grace == 0:
		return hintAge + 10*time.Minute, nil
	case grace < hintAge:
		return 0, fmt.Errorf("tombstone grace %v is shorter than the hint max age %v: a hint delivered late could bring a deleted value back", grace, hintAge)
	case grace < cfg.RequestTimeout:
		return 0, fmt.Errorf("tombstone grace %v is shorter than the request timeout %v: a read that found a replica before the delete reached it could bring the deleted value back", grace, cfg.RequestTimeout)
	}
	return grace, nil
}
