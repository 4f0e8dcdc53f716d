package strong

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pandodb/pando/internal/raftgroup"
	"github.com/pandodb/pando/internal/sabotage"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/transport/nodepb"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Errors of a Host, each a definite answer unless it says otherwise.
var (
	// ErrNotMember: this node holds no member of the group; the request
	// belongs on one of the partition's replicas.
	ErrNotMember = errors.New("strong: this node is not a replica of the partition")
	// ErrNoQuorum: the group has no leader this member can reach, so the
	// command was not applied and will not be.
	ErrNoQuorum = errors.New("strong: the partition has no leader reachable from this replica (fewer than a majority of its replicas can agree); nothing was written")
	// ErrUnknown: the command was proposed but no answer came in time; it
	// may have been applied or may yet be. Read before retrying a command
	// that is not idempotent.
	ErrUnknown = errors.New("strong: outcome unknown: the command was proposed and may have been applied")
)

// Election timeouts in ticks: the preferred leader's, and the others'.
const (
	preferredElectionTick = 10
	followerElectionTick  = 20
)

// GroupID is the Raft group of partition p of the strong namespace with id
// ns (ns >= 1; group 0 is the cluster metadata). Partitions are fewer than
// 2^16.
func GroupID(ns uint64, p int) uint64 { return ns<<16 | uint64(p) }

// GroupGeneration is the namespace generation of group (see GroupID).
func GroupGeneration(group uint64) uint64 { return group >> 16 }

// HostConfig configures a Host.
type HostConfig struct {
	// Self is this node's Raft id.
	Self uint64
	// Engine holds the groups' logs and machines.
	Engine *storage.Engine
	// Sender carries the groups' messages to their peers.
	Sender *raftgroup.Sender
	// TickInterval is the Raft tick (default 100ms).
	TickInterval time.Duration
	// LeaderDown, if set, reports whether the node of a Raft id is known
	// to be down (by gossip). Idle groups quiesce (raftgroup's
	// Config.Quiesce); a quiesced group whose leader is down is woken to
	// elect another rather than when its next request comes.
	LeaderDown func(raftID uint64) bool
	Logger     *slog.Logger
}

// Host runs this node's members of strong partition groups.
type Host struct {
	cfg    HostConfig
	ticker *raftgroup.Ticker // ticks every group at once

	mu     sync.RWMutex
	parts  map[uint64]*member
	closed bool
	stop   chan struct{} // ends watch
}

type member struct {
	g      *raftgroup.Group
	m      *Machine
	cancel context.CancelFunc
	done   <-chan error
}

// NewHost returns a host with no groups.
func NewHost(cfg HostConfig) *Host {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	// The groups tick together; a twentieth of a tick lets their
	// heartbeats gather into one request per peer.
	cfg.Sender.CoalesceHeartbeats(cfg.TickInterval / 20)
	h := &Host{cfg: cfg, ticker: raftgroup.NewTicker(cfg.TickInterval), parts: map[uint64]*member{}, stop: make(chan struct{})}
	if cfg.LeaderDown != nil {
		go h.watch()
	}
	return h
}

// watch wakes, every five ticks, the quiesced groups whose leader's node
// is down.
func (h *Host) watch() {
	t := time.NewTicker(5 * h.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.mu.RLock()
		for _, p := range h.parts {
			if st := p.g.Status(); st.Quiesced && st.Leader != 0 && st.Leader != h.cfg.Self && h.cfg.LeaderDown(st.Leader) {
				p.g.Wake()
			}
		}
		h.mu.RUnlock()
	}
}

// Quiesced counts this host's groups that are quiesced, and all of them.
func (h *Host) Quiesced() (quiesced, groups int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, p := range h.parts {
		if p.g.Status().Quiesced {
			quiesced++
		}
	}
	return quiesced, len(h.parts)
}

// Open starts this node's member of group, bootstrapping the group with
// voters if the member has no state yet: every founding member opens it
// with the same voters. With no voters, a member without state waits to
// be added to a running group (Reconfigure on its leader), which sends it
// the log or a snapshot. Opening a running group does nothing.
//
// The first voter is the group's preferred leader: it stands for election
// after 10 to 20 ticks without a leader, the others after 20 to 40, so it
// wins when it is up, and leadership spreads over the nodes as the ring
// spreads the partitions' first replicas. The price: when it is down, the
// others take twice as long to elect one of them. Another member that
// leads (after an election lost under load, or while the first voter was
// down) hands leadership back once the first voter has caught up.
func (h *Host) Open(group uint64, voters []uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return raftgroup.ErrStopped
	}
	if _, ok := h.parts[group]; ok {
		return nil
	}
	m, err := NewMachine(h.cfg.Engine, group)
	if err != nil {
		return err
	}
	var preferred uint64
	if len(voters) > 0 {
		preferred = voters[0]
	}
	election := followerElectionTick
	if preferred == h.cfg.Self {
		election = preferredElectionTick
	}
	g, err := raftgroup.Open(raftgroup.Config{
		Group: group, ID: h.cfg.Self, Engine: h.cfg.Engine, StateMachine: m,
		Send: h.cfg.Sender.For(group), Ticker: h.ticker, ElectionTick: election,
		PreferredLeader: preferred, Quiesce: true, Logger: h.cfg.Logger,
	})
	if err != nil {
		return err
	}
	if !g.HasState() && len(voters) > 0 {
		if err := g.Bootstrap(voters); err != nil {
			return fmt.Errorf("strong: bootstrapping group %d: %w", group, err)
		}
	}
	h.cfg.Sender.Attach(group, g)
	ctx, cancel := context.WithCancel(context.Background())
	h.parts[group] = &member{g: g, m: m, cancel: cancel, done: g.Start(ctx)}
	return nil
}

func (h *Host) member(group uint64) (*member, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	p, ok := h.parts[group]
	if !ok {
		return nil, fmt.Errorf("%w (group %d)", ErrNotMember, group)
	}
	return p, nil
}

// HandleRaft steps the messages a peer sent to one of this node's groups.
// Messages for a group not open here are dropped: raft sends again.
func (h *Host) HandleRaft(req *nodepb.RaftBatch) error {
	p, err := h.member(req.GetGroup())
	if err != nil {
		return nil
	}
	msgs := make([]*pb.Message, 0, len(req.GetMessages()))
	for _, b := range req.GetMessages() {
		m := &pb.Message{}
		if err := proto.Unmarshal(b, m); err != nil {
			return fmt.Errorf("strong: undecodable raft message for group %d: %w", req.GetGroup(), err)
		}
		msgs = append(msgs, m)
	}
	p.g.Step(msgs)
	return nil
}

// Do applies cmd through group's log and returns its result: a Result, a
// refusal of the machine (ErrNotInteger, ErrOverflow, ErrBelowFloor, ...),
// ErrNoQuorum (not applied), ErrUnknown (may have been applied),
// ErrNotMember, or this node's disk refusal (storage.ErrNoSpace,
// ErrDiskFailed: not proposed).
func (h *Host) Do(ctx context.Context, group uint64, cmd Command) (Result, error) {
	p, err := h.member(group)
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Engine.WriteRefusal(); err != nil {
		// This node's disk takes no data writes (storage.ErrNoSpace or
		// ErrDiskFailed): nothing is proposed through it; the group's
		// other members may take the command. (Its log still receives
		// the group's entries as a follower, in the room the disk guard
		// keeps.)
		return nil, err
	}
	data, _, err := p.g.Propose(ctx, cmd.Encode(nil))
	if err != nil {
		return nil, outcome(group, err)
	}
	return DecodeResult(data)
}

// Get reads key in group linearizably: it returns the state of every
// command applied anywhere before the call began (Raft's ReadIndex).
func (h *Host) Get(ctx context.Context, group uint64, key []byte) (value []byte, version uint64, found bool, err error) {
	p, err := h.member(group)
	if err != nil {
		return nil, 0, false, err
	}
	if sabotage.Is("stale-reads") { // what this member has, confirmed by no one
		return p.m.Get(key)
	}
	if err := p.g.ReadIndex(ctx); err != nil {
		if errors.Is(err, raftgroup.ErrNoLeader) || ctx.Err() != nil {
			return nil, 0, false, fmt.Errorf("%w (group %d): %w", ErrNoQuorum, group, err)
		}
		return nil, 0, false, err
	}
	return p.m.Get(key)
}

// outcome turns a proposal's error into the host's: unknown, or a definite
// failure, or the machine's own refusal as it is.
func outcome(group uint64, err error) error {
	switch {
	case errors.Is(err, raftgroup.ErrOutcomeUnknown):
		return fmt.Errorf("%w (group %d): %w", ErrUnknown, group, err)
	case errors.Is(err, raftgroup.ErrNoLeader), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w (group %d): %w", ErrNoQuorum, group, err)
	}
	return err
}

// Reconfigure takes the next step toward a group whose voters are exactly
// want, if this node's member leads it, and reports whether the group is
// there (raftgroup.Group.Reconfigure). ErrNotMember if this node runs no
// member of the group, raftgroup.ErrNotLeader if its member does not lead.
func (h *Host) Reconfigure(ctx context.Context, group uint64, want []uint64) (bool, error) {
	p, err := h.member(group)
	if err != nil {
		return false, err
	}
	return p.g.Reconfigure(ctx, want)
}

// Prefer makes id the preferred leader of this node's member of group (see
// Open), as the partition's first replica changes with the ring.
func (h *Host) Prefer(group, id uint64) {
	if p, err := h.member(group); err == nil {
		p.g.SetPreferredLeader(id)
	}
}

// Status is the Raft status of this node's member of group.
func (h *Host) Status(group uint64) (raftgroup.Status, error) {
	p, err := h.member(group)
	if err != nil {
		return raftgroup.Status{}, err
	}
	return p.g.Status(), nil
}

// Groups returns the groups this host runs.
func (h *Host) Groups() []uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Sorted(maps.Keys(h.parts))
}

// Drop stops this node's member of group, if it runs one, and deletes
// everything the group keeps here: its log, hard state, snapshot and
// keys. It is for the groups of a dropped or truncated namespace, which no
// member will serve again.
func (h *Host) Drop(group uint64) error {
	h.mu.Lock()
	p, ok := h.parts[group]
	delete(h.parts, group)
	h.mu.Unlock()
	if ok {
		p.cancel()
		<-p.done
		h.cfg.Sender.Detach(group)
	}
	return h.cfg.Engine.DeleteGroup(group)
}

// Close stops every group and waits for them.
func (h *Host) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	parts := h.parts
	h.parts, h.closed = map[uint64]*member{}, true
	h.mu.Unlock()
	for group, p := range parts {
		p.cancel()
		<-p.done
		h.cfg.Sender.Detach(group)
	}
	h.ticker.Stop()
	close(h.stop)
}
