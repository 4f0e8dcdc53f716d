package raftgroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pandodb/pando/internal/storage"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// Errors of a group.
var (
	ErrStopped      = errors.New("raftgroup: group stopped")
	ErrNoLeader     = errors.New("raftgroup: no leader; the group has no quorum or is electing one")
	ErrBootstrapped = errors.New("raftgroup: group already has state")
	// ErrFatal marks an error that stopped the group for good, such as a
	// committed entry it cannot decode. Run returns it, wrapped with its
	// cause, and so do the group's methods from then on.
	ErrFatal = errors.New("raftgroup: group stopped on a fatal error")
	// ErrOutcomeUnknown is returned by Propose when its context ended, or
	// the group stopped, after the command was handed to raft: it may
	// have been committed, and may yet be applied.
	ErrOutcomeUnknown = errors.New("raftgroup: outcome unknown: the command was proposed and may yet be applied")
)

// StateMachine is what a group replicates. Apply must be deterministic: every
// member applies the same commands in the same order and must reach the
// same state.
type StateMachine interface {
	// Apply applies the command committed at index and returns its result.
	// An error is a refusal that is part of the state machine's history
	// (e.g. "namespace exists"), returned to the proposer; it must not
	// depend on anything but the state and the command. An error that
	// wraps ErrFatal is not a refusal but the machine failing (a storage
	// error): the group stops, as it does when it cannot persist, rather
	// than apply the next command on a member that missed this one.
	Apply(index uint64, cmd []byte) ([]byte, error)
	// Snapshot encodes the state as of the last applied index.
	Snapshot() ([]byte, error)
	// Restore replaces the state with a snapshot taken at index.
	Restore(index uint64, data []byte) error
}

// Config configures a group.
type Config struct {
	// Group is the group's id; 0 is the cluster metadata.
	Group uint64
	// ID is this member's Raft id (non-zero).
	ID uint64
	// Engine holds the group's log.
	Engine *storage.Engine
	// StateMachine receives committed commands.
	StateMachine StateMachine
	// Send delivers messages to other members. It is called from the
	// group's goroutine and must not block: queue and send elsewhere. Lost
	// messages are fine; raft retries. The sender should tell the group
	// what it learns: ReportUnreachable when a message could not be sent,
	// ReportSnapshot when a snapshot message was sent or lost.
	Send func(msgs []*pb.Message)
	// TickInterval is the length of a Raft tick (default 100ms). Elections
	// take ElectionTick to twice that many ticks; heartbeats go every tick.
	TickInterval time.Duration
	// Ticker, if set, ticks the group together with the node's other
	// groups (its Interval replaces TickInterval); otherwise the group has
	// a timer of its own.
	Ticker *Ticker
	// ElectionTick is how many ticks without a leader before this member
	// stands for election, randomized up to twice that (default 10). A
	// member with a shorter one than the others usually wins.
	ElectionTick int
	// PreferredLeader, if set, is the voter this group should be led by
	// when it is up: a leader that is not it hands leadership back once
	// it is caught up, so that an election lost under load or while it
	// was down does not leave the group led elsewhere for good.
	// SetPreferredLeader changes it.
	PreferredLeader uint64
	// SnapshotEvery is how many applied entries between snapshots (default
	// 1000).
	SnapshotEvery uint64
	// KeepEntries is how many applied entries the log keeps behind each
	// snapshot, in Pebble and in memory (default 10000). A member less
	// than that far behind, even after a restart of either side, catches
	// up from the log instead of by a snapshot.
	KeepEntries uint64
	// Quiesce lets the group stop ticking while it has nothing to do
	// (see quiesce.go): an idle group then sends nothing and costs
	// nothing until a proposal, a read, a message or Wake rouses it.
	Quiesce bool
	Logger  *slog.Logger
}

// Status is a summary of the group as this member sees it.
type Status struct {
	ID       uint64
	Leader   uint64
	Term     uint64
	Applied  uint64
	Voters   []uint64
	Learners []uint64
	// Quiesced: the group has stopped ticking until something happens.
	Quiesced bool
}

// Group is one member of a Raft group.
type Group struct {
	cfg   Config
	log   *slog.Logger
	store logStore
	ms    *raft.MemoryStorage
	rn    *raft.RawNode

	incoming chan []*pb.Message
	boots    chan bootReq
	running  atomic.Bool
	props    chan proposal
	confs    chan confProposal
	reads    chan uint64
	reconfs  chan reconfReq
	wakes    chan struct{}
	done     chan struct{}
	stopped  atomic.Bool
	fatal    atomic.Pointer[error] // set before done is closed

	reportMu    sync.Mutex // guards the reports from the transport
	unreachable map[uint64]bool
	snapReports map[uint64]raft.SnapshotStatus
	reported    chan struct{} // signals new reports to Run

	mu          sync.Mutex
	waiters     map[uint64]chan result
	appliedCond *sync.Cond // broadcast when applied moves
	appliedAt   uint64     // applied, readable under mu

	// replayed is closed once the state machine has applied replayTo, the
	// commit index this member had persisted when it was opened.
	replayed chan struct{}
	replayTo uint64

	status    atomic.Pointer[Status]
	preferred atomic.Uint64 // the preferred leader (Config.PreferredLeader)

	// Owned by the Run goroutine.
	confState *pb.ConfState
	// statusConf is the configuration the published status lists.
	statusConf *pb.ConfState
	applied    uint64
	snapIndex  uint64
	// leadTicks counts the ticks this member has led in a row.
	leadTicks int
	// The clock, and quiescence (quiesce.go).
	tickSrc   *Ticker
	tickC     <-chan struct{} // nil while quiesced
	untick    func()
	quiesced  bool
	quiescing bool   // this tick's heartbeats are to be the last
	idleTicks int    // ticks led with nothing new in the log
	idleIndex uint64 // the last index those ticks saw
}

type bootReq struct {
	voters []uint64
	err    chan error
}

type proposal struct {
	id  uint64
	cmd []byte
}

type confProposal struct {
	id uint64
	cc pb.ConfChangeI
}

type result struct {
	index uint64
	data  []byte
	err   error
}

// Open loads the group's state from storage (or starts empty) and restores
// the state machine from the latest snapshot. Call Bootstrap on a brand-new
// group's first members, then Run.
func Open(cfg Config) (*Group, error) {
	if cfg.ID == 0 || cfg.Engine == nil || cfg.StateMachine == nil || cfg.Send == nil {
		return nil, errors.New("raftgroup: config needs ID, Engine, StateMachine and Send")
	}
	if cfg.Ticker != nil {
		cfg.TickInterval = cfg.Ticker.Interval()
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = 1000
	}
	if cfg.ElectionTick == 0 {
		cfg.ElectionTick = 10
	}
	if cfg.KeepEntries == 0 {
		cfg.KeepEntries = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Group{
		cfg:      cfg,
		log:      cfg.Logger.With("subsystem", "raft", "group", cfg.Group),
		store:    logStore{eng: cfg.Engine, group: cfg.Group},
		incoming: make(chan []*pb.Message, 256),
		boots:    make(chan bootReq),
		props:    make(chan proposal, 256),
		confs:    make(chan confProposal, 16),
		reads:    make(chan uint64, 64),
		reconfs:  make(chan reconfReq),
		wakes:    make(chan struct{}, 1),
		done:     make(chan struct{}),
		waiters:  map[uint64]chan result{},
		reported: make(chan struct{}, 1),
	}
	g.appliedCond = sync.NewCond(&g.mu)
	g.preferred.Store(cfg.PreferredLeader)
	ms, _, err := g.store.load()
	if err != nil {
		return nil, err
	}
	g.ms = ms
	snap, err := ms.Snapshot()
	if err != nil {
		return nil, err
	}
	if !raft.IsEmptySnap(snap) {
		if err := cfg.StateMachine.Restore(snap.GetMetadata().GetIndex(), snap.GetData()); err != nil {
			return nil, fmt.Errorf("raftgroup: restoring the state machine: %w", err)
		}
		g.applied = snap.GetMetadata().GetIndex()
		g.snapIndex = g.applied
		g.appliedAt = g.applied
	}
	hs, cs, err := ms.InitialState()
	if err != nil {
		return nil, err
	}
	// What this member knew committed when it stopped: the state machine
	// has caught up with its own past once it has applied that far.
	g.replayTo, g.replayed = hs.GetCommit(), make(chan struct{})
	g.noteReplayed()
	g.confState = proto.Clone(cs).(*pb.ConfState)
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              cfg.ID,
		ElectionTick:    cfg.ElectionTick,
		HeartbeatTick:   1,
		Storage:         ms,
		Applied:         g.applied,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          raftLogger{g.log},
	})
	if err != nil {
		return nil, err
	}
	g.rn = rn
	g.publishStatus()
	return g, nil
}

// Bootstrap makes a brand-new group with the given voters. Every founding
// member calls it with the same list. It refuses a group that has state. It
// may be called before or while Run runs.
func (g *Group) Bootstrap(voters []uint64) error {
	if !g.running.Load() {
		return g.bootstrap(voters)
	}
	req := bootReq{voters: voters, err: make(chan error, 1)}
	select {
	case g.boots <- req:
		return <-req.err
	case <-g.done:
		return g.stopErr()
	}
}

func (g *Group) bootstrap(voters []uint64) error {
	last, err := g.ms.LastIndex()
	if err != nil {
		return err
	}
	hs, _, _ := g.ms.InitialState()
	if last > 0 || !raft.IsEmptyHardState(hs) {
		return ErrBootstrapped
	}
	peers := make([]raft.Peer, len(voters))
	for i, v := range voters {
		peers[i] = raft.Peer{ID: v}
	}
	return g.rn.Bootstrap(peers)
}

// HasState reports whether the group has a log (was bootstrapped or joined).
func (g *Group) HasState() bool {
	last, _ := g.ms.LastIndex()
	snap, _ := g.ms.Snapshot()
	return last > 0 || !raft.IsEmptySnap(snap)
}

// Step hands messages from other members to the group. It never blocks:
// when the group is behind, messages are dropped (raft retries).
func (g *Group) Step(msgs []*pb.Message) {
	select {
	case g.incoming <- msgs:
	default:
	}
}

// Propose submits a command and waits until it is applied on this member,
// returning the state machine's result. While no leader is known it waits
// for one, until ctx ends. An error wrapping ErrOutcomeUnknown means the
// command was handed to raft and may still be applied; any other error
// means it never will be.
func (g *Group) Propose(ctx context.Context, cmd []byte) ([]byte, uint64, error) {
	for {
		data, index, err := g.propose(ctx, cmd)
		if !errors.Is(err, ErrNoLeader) || errors.Is(err, ErrOutcomeUnknown) || ctx.Err() != nil {
			return data, index, err
		}
		// Dropped for want of a leader (an election, or a group just
		// formed): never appended, so proposing again is safe. Try again a
		// tick later, until the context ends.
		t := time.NewTimer(g.cfg.TickInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, 0, g.ctxErr(ctx)
		case <-g.done:
			t.Stop()
			return nil, 0, g.stopErr()
		}
	}
}

// propose submits a command once.
func (g *Group) propose(ctx context.Context, cmd []byte) ([]byte, uint64, error) {
	select {
	case <-g.done: // props has room even then: never say unknown for nothing
		return nil, 0, g.stopErr()
	default:
	}
	id := rand.Uint64() | 1
	ch := g.wait(id)
	defer g.unwait(id)
	select {
	case g.props <- proposal{id: id, cmd: cmd}:
	case <-ctx.Done():
		return nil, 0, g.ctxErr(ctx)
	case <-g.done:
		return nil, 0, g.stopErr()
	}
	select {
	case r := <-ch:
		return r.data, r.index, r.err
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("%w: %w", ErrOutcomeUnknown, g.ctxErr(ctx))
	case <-g.done:
		return nil, 0, fmt.Errorf("%w: %w", ErrOutcomeUnknown, g.stopErr())
	}
}

// ProposeConfChange submits a membership change and waits until it is
// applied on this member.
func (g *Group) ProposeConfChange(ctx context.Context, cc *pb.ConfChange) error {
	id := rand.Uint64() | 1
	cc.Context = encodeProposal(id, nil)
	ch := g.wait(id)
	defer g.unwait(id)
	select {
	case g.confs <- confProposal{id: id, cc: cc}:
	case <-ctx.Done():
		return g.ctxErr(ctx)
	case <-g.done:
		return g.stopErr()
	}
	select {
	case r := <-ch:
		return r.err
	case <-ctx.Done():
		return g.ctxErr(ctx)
	case <-g.done:
		return g.stopErr()
	}
}

// stopErr is what the group's methods return once it has stopped: the
// fatal error that stopped it, or ErrStopped.
func (g *Group) stopErr() error {
	if err := g.fatal.Load(); err != nil {
		return *err
	}
	return ErrStopped
}

func (g *Group) ctxErr(ctx context.Context) error {
	if st := g.Status(); st.Leader == 0 {
		return fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
	}
	return ctx.Err()
}

// wait registers a waiter for the result of request id. Its channel holds
// the one result it gets.
func (g *Group) wait(id uint64) chan result {
	ch := make(chan result, 1)
	g.mu.Lock()
	g.waiters[id] = ch
	g.mu.Unlock()
	return ch
}

func (g *Group) unwait(id uint64) {
	g.mu.Lock()
	delete(g.waiters, id)
	g.mu.Unlock()
}

// notify hands a result to the waiter for id, if there still is one. It
// never blocks the group's goroutine: a waiter that already holds a result
// (say, of a proposal submitted twice) gets no other.
func (g *Group) notify(id uint64, r result) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch, ok := g.waiters[id]; ok {
		select {
		case ch <- r:
		default:
		}
	}
}

// ReadIndex waits until this member has applied every entry the leader had
// committed when the call began (Raft's ReadIndex, section 6.4 of Ongaro's
// thesis): afterwards, reading the state machine on this member sees every
// write committed before the call, wherever it was proposed.
func (g *Group) ReadIndex(ctx context.Context) error {
	var index uint64
	for {
		i, err := g.readIndex(ctx)
		if err == nil {
			index = i
			break
		}
		if !errors.Is(err, ErrNoLeader) || ctx.Err() != nil {
			return err
		}
		// No leader known yet (an election, or a member just started):
		// ask again a tick later, until the context ends.
		t := time.NewTimer(g.cfg.TickInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return g.ctxErr(ctx)
		case <-g.done:
			t.Stop()
			return g.stopErr()
		}
	}
	// Wait for the apply loop to reach the index.
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		g.appliedCond.Broadcast()
		g.mu.Unlock()
	})
	defer stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.appliedAt < index {
		if ctx.Err() != nil {
			return g.ctxErr(ctx)
		}
		if g.stopped.Load() {
			return g.stopErr()
		}
		g.appliedCond.Wait()
	}
	return nil
}

// readIndex asks raft for the read index once.
func (g *Group) readIndex(ctx context.Context) (uint64, error) {
	id := rand.Uint64() | 1
	ch := g.wait(id)
	defer g.unwait(id)
	select {
	case g.reads <- id:
	case <-ctx.Done():
		return 0, g.ctxErr(ctx)
	case <-g.done:
		return 0, g.stopErr()
	}
	select {
	case r := <-ch:
		return r.index, r.err
	case <-ctx.Done():
		return 0, g.ctxErr(ctx)
	case <-g.done:
		return 0, g.stopErr()
	}
}

// Replayed returns a channel closed once the state machine has applied
// every entry this member knew to be committed when it was opened: from
// then on, what the machine holds is no older than what this node had
// acted on before a restart (the snapshot it starts from may be).
func (g *Group) Replayed() <-chan struct{} { return g.replayed }

// noteReplayed closes replayed once applied has reached replayTo; in the
// Run goroutine, or in Open.
func (g *Group) noteReplayed() {
	select {
	case <-g.replayed:
	default:
		if g.applied >= g.replayTo {
			close(g.replayed)
		}
	}
}

// Status returns the latest summary.
func (g *Group) Status() Status { return *g.status.Load() }

// publishStatus runs after every turn of the loop, so it is cheap: raft's
// BasicStatus (no progress of the followers), and the members from the
// configuration, listed again only when it changes.
func (g *Group) publishStatus() {
	st := g.rn.BasicStatus()
	prev := g.status.Load()
	if prev != nil && g.statusConf == g.confState && prev.Leader == st.Lead && prev.Term == st.GetTerm() && prev.Applied == g.applied && prev.Quiesced == g.quiesced {
		return
	}
	s := &Status{ID: g.cfg.ID, Leader: st.Lead, Term: st.GetTerm(), Applied: g.applied, Quiesced: g.quiesced}
	if prev != nil && g.statusConf == g.confState {
		s.Voters, s.Learners = prev.Voters, prev.Learners
	} else {
		cs := g.confState
		s.Voters = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(cs.GetVoters()), cs.GetVotersOutgoing()...))))
		s.Learners = slices.Sorted(slices.Values(cs.GetLearners()))
		g.statusConf = g.confState
	}
	g.status.Store(s)
}

// Campaign makes this member try to become leader now (tests, and a lone
// founding member that need not wait an election timeout).
func (g *Group) Campaign() {
	g.Step([]*pb.Message{{Type: pb.MsgHup.Enum(), From: proto.Uint64(g.cfg.ID), To: proto.Uint64(g.cfg.ID)}})
}

// Start runs the group in a new goroutine until ctx ends; the channel gets
// Run's result. From the moment Start returns, Bootstrap goes through the
// group's goroutine.
func (g *Group) Start(ctx context.Context) <-chan error {
	g.running.Store(true)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	return done
}

// Run drives the group until ctx ends.
func (g *Group) Run(ctx context.Context) error {
	g.running.Store(true)
	defer func() {
		g.stopped.Store(true)
		close(g.done)
		g.mu.Lock()
		g.appliedCond.Broadcast()
		g.mu.Unlock()
	}()
	stopClock := g.startClock()
	defer stopClock()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-g.tickC:
			g.quiescing = g.shouldQuiesce()
			g.rn.Tick()
			g.maybeHandBack()
		case msgs := <-g.incoming:
			for _, m := range msgs {
				if m.GetType() == pb.MsgHup && m.GetFrom() == g.cfg.ID {
					g.wake()
					_ = g.rn.Campaign()
					continue
				}
				last := isQuiesceMsg(m)
				if !last {
					g.wake()
				} else if m.GetType() == pb.MsgHeartbeatResp {
					// raft reads an answer's context as a count of
					// confirmed reads: the mark is not one.
					m.Context = nil
				}
				_ = g.rn.Step(m)
				if last && m.GetType() == pb.MsgHeartbeat {
					g.followerQuiesce(m)
				}
			}
		case b := <-g.boots:
			g.busy()
			b.err <- g.bootstrap(b.voters)
		case p := <-g.props:
			g.busy()
			g.submit(p)
			// Take every proposal already waiting, so that one Ready, one
			// synced batch and one message to each follower carry them all.
			for more := true; more; {
				select {
				case p = <-g.props:
					g.submit(p)
				default:
					more = false
				}
			}
		case id := <-g.reads:
			g.busy()
			if g.rn.BasicStatus().Lead == 0 {
				// raft would drop it without a word; say so, and the
				// reader asks again a tick later.
				g.notify(id, result{err: ErrNoLeader})
				break
			}
			g.rn.ReadIndex(encodeProposal(id, nil))
		case c := <-g.confs:
			g.busy()
			if err := g.rn.ProposeConfChange(c.cc); err != nil {
				g.notify(c.id, result{err: g.dropped(err)})
			}
		case r := <-g.reconfs:
			g.busy()
			r.reply <- g.planReconfig(r.want)
		case <-g.wakes:
			g.busy()
		case <-g.reported:
			g.stepReports()
		}
		if err := g.handleReady(); err != nil {
			err = fmt.Errorf("%w: %w", ErrFatal, err)
			g.fatal.Store(&err)
			g.log.Error("raft group stopped on a fatal error", "err", err)
			return err
		}
	}
}

// maybeHandBack, on the leader's ticks, hands leadership to the preferred
// leader when it is a voter, heard from recently and holds the whole log:
// first after two election timeouts of leading (time for a member just
// back to catch up), then once per election timeout until it is. Raft refuses proposals for at most an election timeout
// during a transfer; one that fails leaves this member leading.
func (g *Group) maybeHandBack() {
	pref := g.preferred.Load()
	if pref == 0 || pref == g.cfg.ID || g.rn.BasicStatus().RaftState != raft.StateLeader {
		g.leadTicks = 0
		return
	}
	g.leadTicks++
	// Half-way between two of raft's quorum checks, each of which
	// forgets who was heard from: RecentActive then means heard from in
	// the last half election timeout.
	if g.leadTicks < 2*g.cfg.ElectionTick || g.leadTicks%g.cfg.ElectionTick != g.cfg.ElectionTick/2 {
		return
	}
	var own, theirs tracker.Progress
	var voter bool
	g.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
		switch id {
		case g.cfg.ID:
			own = pr
		case pref:
			theirs, voter = pr, typ == raft.ProgressTypePeer
		}
	})
	if voter && theirs.RecentActive && theirs.State == tracker.StateReplicate && theirs.Match >= own.Match {
		g.log.Debug("handing leadership back to the preferred leader", "group", g.cfg.Group, "to", pref)
		g.rn.TransferLeader(pref)
	}
}

// submit hands a proposal to raft, or tells its proposer why not.
func (g *Group) submit(p proposal) {
	if err := g.rn.Propose(encodeProposal(p.id, p.cmd)); err != nil {
		g.notify(p.id, result{err: g.dropped(err)})
	}
}

func (g *Group) dropped(err error) error {
	if errors.Is(err, raft.ErrProposalDropped) && g.rn.BasicStatus().Lead == 0 {
		return ErrNoLeader
	}
	return fmt.Errorf("raftgroup: proposal dropped: %w", err)
}

func (g *Group) handleReady() error {
	for g.rn.HasReady() {
		rd := g.rn.Ready()
		last, err := g.ms.LastIndex()
		if err != nil {
			return err
		}
		if err := g.store.save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync, last); err != nil {
			return fmt.Errorf("persisting raft state: %w", err)
		}
		if rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot) {
			if err := g.ms.ApplySnapshot(rd.Snapshot); err != nil {
				return err
			}
			if err := g.cfg.StateMachine.Restore(rd.Snapshot.GetMetadata().GetIndex(), rd.Snapshot.GetData()); err != nil {
				return fmt.Errorf("restoring snapshot: %w", err)
			}
			g.applied = rd.Snapshot.GetMetadata().GetIndex()
			g.snapIndex = g.applied
			g.confState = proto.Clone(rd.Snapshot.GetMetadata().GetConfState()).(*pb.ConfState)
		}
		if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
			if err := g.ms.SetHardState(rd.HardState); err != nil {
				return err
			}
		}
		if err := g.ms.Append(rd.Entries); err != nil {
			return err
		}
		g.quiesceReady(rd.Messages)
		if len(rd.Messages) > 0 {
			g.cfg.Send(rd.Messages)
		}
		for _, e := range rd.CommittedEntries {
			if err := g.apply(e); err != nil {
				return err
			}
		}
		for _, rs := range rd.ReadStates {
			if id, _, ok := decodeProposal(rs.RequestCtx); ok {
				g.notify(id, result{index: rs.Index})
			}
		}
		g.mu.Lock()
		if g.applied > g.appliedAt {
			g.appliedAt = g.applied
			g.appliedCond.Broadcast()
		}
		g.mu.Unlock()
		g.noteReplayed()
		g.rn.Advance(rd)
		if err := g.maybeSnapshot(); err != nil {
			return err
		}
	}
	g.publishStatus()
	return nil
}

// apply applies a committed entry. An error is fatal: the members would
// disagree on the group's configuration if this one skipped the entry.
func (g *Group) apply(e *pb.Entry) error {
	if e.GetIndex() <= g.applied {
		return nil
	}
	switch e.GetType() {
	case pb.EntryNormal:
		if id, cmd, ok := decodeProposal(e.GetData()); ok { // else the empty entry of a new leader
			data, err := g.cfg.StateMachine.Apply(e.GetIndex(), cmd)
			if errors.Is(err, ErrFatal) {
				return fmt.Errorf("state machine failed at index %d: %w", e.GetIndex(), err)
			}
			g.notify(id, result{index: e.GetIndex(), data: data, err: err})
		}
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("undecodable conf change at index %d: %w", e.GetIndex(), err)
		}
		g.confState = g.rn.ApplyConfChange(&cc)
		if id, _, ok := decodeProposal(cc.GetContext()); ok {
			g.notify(id, result{index: e.GetIndex()})
		}
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("undecodable conf change at index %d: %w", e.GetIndex(), err)
		}
		g.confState = g.rn.ApplyConfChange(&cc)
	}
	g.applied = e.GetIndex()
	return nil
}

func (g *Group) maybeSnapshot() error {
	if g.applied-g.snapIndex < g.cfg.SnapshotEvery {
		return nil
	}
	data, err := g.cfg.StateMachine.Snapshot()
	if err != nil {
		return fmt.Errorf("snapshotting the state machine: %w", err)
	}
	cs := proto.Clone(g.confState).(*pb.ConfState)
	snap, err := g.ms.CreateSnapshot(g.applied, cs, data)
	if err != nil {
		return err
	}
	// Keep a tail of the log behind the snapshot, so that a member a little
	// behind catches up from the log, even after a restart.
	var compactTo uint64
	if g.applied > g.cfg.KeepEntries {
		compactTo = g.applied - g.cfg.KeepEntries
	}
	if err := g.store.saveSnapshot(snap, compactTo); err != nil {
		return err
	}
	if compactTo > 0 {
		if err := g.ms.Compact(compactTo); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return err
		}
	}
	g.snapIndex = g.applied
	return nil
}

// raftLogger adapts slog to raft's Logger.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)              { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(f string, v ...any)   { r.l.Debug(fmt.Sprintf(f, v...)) }
func (r raftLogger) Info(v ...any)               { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Infof(f string, v ...any)    { r.l.Debug(fmt.Sprintf(f, v...)) }
func (r raftLogger) Warning(v ...any)            { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(f string, v ...any) { r.l.Warn(fmt.Sprintf(f, v...)) }
func (r raftLogger) Error(v ...any)              { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(f string, v ...any)   { r.l.Error(fmt.Sprintf(f, v...)) }
func (r raftLogger) Fatal(v ...any)              { r.l.Error(fmt.Sprint(v...)); panic(fmt.Sprint(v...)) }
func (r raftLogger) Fatalf(f string, v ...any) {
	r.l.Error(fmt.Sprintf(f, v...))
	panic(fmt.Sprintf(f, v...))
}
func (r raftLogger) Panic(v ...any)            { panic(fmt.Sprint(v...)) }
func (r raftLogger) Panicf(f string, v ...any) { panic(fmt.Sprintf(f, v...)) }
