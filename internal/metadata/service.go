package metadata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/pandodb/pando/internal/auth"
	"github.com/pandodb/pando/internal/membership"
	"github.com/pandodb/pando/internal/raftgroup"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Group is the Raft group id of the metadata.
const Group = 0

// RaftIDs maps node ids to their Raft ids, in order.
func RaftIDs(nodes []string) []uint64 {
	ids := make([]uint64, len(nodes))
	for i, id := range nodes {
		ids[i] = RaftID(id)
	}
	return ids
}

// RaftID is the Raft id of a node: a hash of its node id, never zero.
func RaftID(nodeID string) uint64 {
	return xxhash.Sum64String("pando-node/"+nodeID) | 1
}

// Gossip is what the metadata needs of membership.
type Gossip interface {
	Members() []membership.Member
	UpdateMeta(func(*membership.Meta)) error
}

// Config configures the metadata service.
type Config struct {
	// Self describes this node (ID and addresses; RaftID is derived).
	Self Member
	// Engine holds the metadata log.
	Engine *storage.Engine
	// Transport carries Raft messages.
	Transport transport.Transport
	// Gossip tells which nodes exist.
	Gossip Gossip
	// BootstrapExpect is how many nodes form a new cluster.
	BootstrapExpect int
	// Partitions is the ring size of a new cluster (a power of two).
	Partitions int
	// TickInterval is the Raft tick (default 100ms).
	TickInterval time.Duration
	// StableFor is how long the set of candidate founders must stay the same
	// before they bootstrap (default 1s).
	StableFor time.Duration
	// ChangeTimeout bounds a change asked of the service, such as creating
	// a namespace (default 5s).
	ChangeTimeout time.Duration
	Logger        *slog.Logger
}

// Service runs this node's member of the metadata group.
type Service struct {
	cfg    Config
	log    *slog.Logger
	sm     *stateMachine
	group  *raftgroup.Group
	sender *raftgroup.Sender

	changeMu sync.Mutex
	changeC  chan struct{}

	// Owned by Run.
	candidates   []string
	candidatesAt time.Time
	announced    bool
	// waitingAdmission: the "waiting to be admitted" line was logged.
	waitingAdmission bool
}

// Open opens the metadata group's state on this node.
func Open(cfg Config) (*Service, error) {
	if cfg.Self.ID == "" || cfg.Engine == nil || cfg.Transport == nil || cfg.Gossip == nil {
		return nil, errors.New("metadata: config needs Self.ID, Engine, Transport and Gossip")
	}
	cfg.Self.RaftID = RaftID(cfg.Self.ID)
	if cfg.BootstrapExpect < 1 {
		cfg.BootstrapExpect = 1
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 64
	}
	if cfg.StableFor == 0 {
		cfg.StableFor = time.Second
	}
	if cfg.ChangeTimeout == 0 {
		cfg.ChangeTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("subsystem", "metadata"), changeC: make(chan struct{})}
	s.sm = newStateMachine(s.notify)
	s.sender = raftgroup.NewSender(cfg.Transport, s.resolve, s.log)
	g, err := raftgroup.Open(raftgroup.Config{
		Group: Group, ID: cfg.Self.RaftID, Engine: cfg.Engine, StateMachine: s.sm,
		Send: s.sender.For(Group), TickInterval: cfg.TickInterval, SnapshotEvery: 1000, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	s.group = g
	s.sender.Attach(Group, g)
	return s, nil
}

// State returns the current metadata. It is immutable.
func (s *Service) State() *State { return s.sm.state() }

// Changed returns a channel closed at the next change of State.
func (s *Service) Changed() <-chan struct{} {
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	return s.changeC
}

func (s *Service) notify() {
	s.changeMu.Lock()
	close(s.changeC)
	s.changeC = make(chan struct{})
	s.changeMu.Unlock()
}

// Replayed returns a channel closed once State includes every change this
// node had applied before it was restarted (raftgroup.Group.Replayed): a
// node acts on what the metadata says it owns only from then on, never on
// the older snapshot it starts from.
func (s *Service) Replayed() <-chan struct{} { return s.group.Replayed() }

// Sync waits until this node's metadata includes every change the cluster
// had committed when Sync was called (a Raft ReadIndex). Use it before
// concluding that something, a namespace say, does not exist.
func (s *Service) Sync(ctx context.Context) error { return s.group.ReadIndex(ctx) }

// RaftStatus is the metadata group's Raft status on this node.
func (s *Service) RaftStatus() raftgroup.Status { return s.group.Status() }

// Step delivers Raft messages from peers.
func (s *Service) Step(req *nodepb.RaftBatch) error {
	msgs := make([]*pb.Message, 0, len(req.GetMessages()))
	for _, b := range req.GetMessages() {
		m := &pb.Message{}
		if err := proto.Unmarshal(b, m); err != nil {
			return fmt.Errorf("metadata: undecodable raft message: %w", err)
		}
		msgs = append(msgs, m)
	}
	s.group.Step(msgs)
	return nil
}

// CreateNamespace defines a namespace cluster-wide. It answers within
// ChangeTimeout: without a quorum of the metadata group it fails with
// ErrNoQuorum, having changed nothing. A namespace that exists with the
// same definition is reported as ErrExists, unchanged.
func (s *Service) CreateNamespace(ctx context.Context, ns Namespace) error {
	if err := ns.Validate(); err != nil {
		return err
	}
	if err := ns.CheckNew(); err != nil {
		return err
	}
	if err := ns.Supported(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ChangeTimeout)
	defer cancel()
	// A read index first proves that a quorum answers now, so that a
	// proposal is not left in a minority leader's log to be applied, or
	// not, long after the caller gave up.
	if err := s.group.ReadIndex(ctx); err != nil {
		return s.noQuorum(err)
	}
	if old, ok := s.State().Namespace(ns.Name); ok {
		same := ns
		same.DB, same.Generation = old.DB, old.Generation
		if old == same {
			return fmt.Errorf("%w: namespace %s, with the same definition (db %d); nothing changed", ErrExists, old.Name, old.DB)
		}
	}
	if err := s.propose(ctx, command{Op: opCreateNamespace, Namespace: &ns}); err != nil {
		return s.noQuorum(err)
	}
	return nil
}

// TruncateNamespace empties a namespace (Redis's FLUSHDB): it moves to a
// new generation, which hides every record of the old one at once on each
// node as it applies the change; the old records are purged in the
// background. Bounded and refused without a quorum like CreateNamespace.
func (s *Service) TruncateNamespace(ctx context.Context, name string) error {
	return s.retire(ctx, opTruncate, name)
}

// DropNamespace removes a namespace; its records are purged in the
// background. The default namespace cannot be dropped.
func (s *Service) DropNamespace(ctx context.Context, name string) error {
	if name == "default" {
		return fmt.Errorf("%w: the default namespace cannot be dropped (empty it with FLUSHDB)", ErrInvalid)
	}
	return s.retire(ctx, opDrop, name)
}

func (s *Service) retire(ctx context.Context, op, name string) error {
	return s.change(ctx, func(st *State) (command, error) {
		ns, ok := st.Namespace(name)
		if !ok {
			return command{}, fmt.Errorf("%w: %q", ErrNoNamespace, name)
		}
		return command{Op: op, Name: name, Generation: ns.Generation}, nil
	})
}

// change proposes the command build makes from the state as of now: a
// read index first proves that a quorum answers and that the state is
// current, so that a proposal is not left in a minority leader's log, and
// build decides on what the log holds. The command's own refusal, as it
// is applied, is returned.
func (s *Service) change(ctx context.Context, build func(*State) (command, error)) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ChangeTimeout)
	defer cancel()
	if err := s.group.ReadIndex(ctx); err != nil {
		return s.noQuorum(err)
	}
	c, err := build(s.State())
	if err != nil {
		return err
	}
	if err := s.propose(ctx, c); err != nil {
		return s.noQuorum(err)
	}
	return nil
}

// PutUser adds user u (create: refused with ErrExists if the name is
// taken by another) or replaces an existing one (its password, role or
// namespaces).
func (s *Service) PutUser(ctx context.Context, u auth.User, create bool) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return s.change(ctx, func(st *State) (command, error) {
		if _, ok := st.User(u.Name); ok && create {
			return command{}, fmt.Errorf("%w: user %s", ErrExists, u.Name)
		} else if !ok && !create {
			return command{}, fmt.Errorf("%w: no user %s", ErrInvalid, u.Name)
		}
		return command{Op: opPutUser, User: &u, Create: create}, nil
	})
}

// PutToken records a user's bearer token.
func (s *Service) PutToken(ctx context.Context, t auth.Token) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return s.change(ctx, func(st *State) (command, error) {
		if _, ok := st.User(t.User); !ok {
			return command{}, fmt.Errorf("%w: no user %s", ErrInvalid, t.User)
		}
		return command{Op: opPutToken, Token: &t}, nil
	})
}

// DeleteToken revokes a bearer token.
func (s *Service) DeleteToken(ctx context.Context, id string) error {
	return s.change(ctx, func(st *State) (command, error) {
		if _, ok := st.Token(id); !ok {
			return command{}, fmt.Errorf("%w: no token %s", ErrInvalid, id)
		}
		return command{Op: opDeleteToken, Name: id}, nil
	})
}

// DeleteUser removes a user: its next command on a connection
// authenticated before is refused.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	return s.change(ctx, func(st *State) (command, error) {
		if _, ok := st.User(name); !ok {
			return command{}, fmt.Errorf("%w: no user %s", ErrInvalid, name)
		}
		return command{Op: opDeleteUser, Name: name}, nil
	})
}

// Admit makes a node that gossips with the cluster a member: a candidate
// until an operator admits it (pando cluster join). It owns no partitions
// yet; it joins the metadata group as a learner, and votes once the group
// needs a voter (VoterTarget). Bounded and refused without a quorum like
// CreateNamespace. A node already a member is reported as ErrExists.
func (s *Service) Admit(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ChangeTimeout)
	defer cancel()
	if err := s.group.ReadIndex(ctx); err != nil {
		return s.noQuorum(err)
	}
	st := s.State()
	if !st.Initialized() {
		return ErrNotInitialized
	}
	if _, ok := st.Members[id]; ok {
		return fmt.Errorf("%w: %s is a member already; nothing changed", ErrExists, id)
	}
	if err := st.wasRemoved(id, RaftID(id)); err != nil {
		return err
	}
	var cand *membership.Member
	for _, m := range s.cfg.Gossip.Members() {
		if m.ID == id && m.Up() {
			cand = &m
		}
	}
	switch {
	case cand == nil:
		return fmt.Errorf("%w: no node %s is up in gossip; start it with --join pointing at a member, then admit it", ErrInvalid, id)
	case cand.Cluster != "" && cand.Cluster != st.ClusterID:
		return fmt.Errorf("%w: %s belongs to another cluster (%s)", ErrInvalid, id, cand.Cluster)
	case cand.ClusterAddr == "":
		return fmt.Errorf("%w: %s has not announced its addresses in gossip yet; try again in a moment", ErrInvalid, id)
	}
	m := &Member{ID: id, RaftID: RaftID(id), ClusterAddr: cand.ClusterAddr, GossipAddr: cand.GossipAddr, RESPAddr: cand.RESPAddr, HTTPAddr: cand.HTTPAddr}
	if err := s.propose(ctx, command{Op: opAddMember, Member: m}); err != nil {
		return s.noQuorum(err)
	}
	s.log.Info("admitted a node as a member", "node", id)
	return nil
}

// Candidates lists the nodes up in gossip that belong to no other cluster
// and are not members: those an operator may admit.
func (s *Service) Candidates() []string {
	st := s.State()
	var out []string
	for _, m := range s.cfg.Gossip.Members() {
		if _, member := st.Members[m.ID]; member || !m.Up() || (m.Cluster != "" && m.Cluster != st.ClusterID) {
			continue
		}
		if _, gone := st.Removed[m.ID]; !gone {
			out = append(out, m.ID)
		}
	}
	slices.Sort(out)
	return out
}

// Remove removes a member for good: one that is down and owns no
// partitions (a node that never took any, or whose partitions were handed
// to others). It leaves the metadata group (a voter is replaced first when
// a learner can be promoted), and its node id and Raft id are never
// admitted again.
func (s *Service) Remove(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ChangeTimeout)
	defer cancel()
	if err := s.group.ReadIndex(ctx); err != nil {
		return s.noQuorum(err)
	}
	st := s.State()
	if _, ok := st.Members[id]; !ok {
		if _, gone := st.Removed[id]; gone {
			return fmt.Errorf("%w: %s was removed already; nothing changed", ErrExists, id)
		}
		return fmt.Errorf("%w: %s is not a member", ErrInvalid, id)
	}
	if id == s.cfg.Self.ID {
		return fmt.Errorf("%w: %s is the node asked; ask another member to remove it", ErrInvalid, id)
	}
	for _, m := range s.cfg.Gossip.Members() {
		if m.ID == id && m.Up() {
			return fmt.Errorf("%w: %s is up; only a member that is down can be removed (stop it first)", ErrInvalid, id)
		}
	}
	if err := s.propose(ctx, command{Op: opRemoveMember, Name: id}); err != nil {
		return s.noQuorum(err)
	}
	s.log.Info("removed a member for good", "node", id)
	return nil
}

// noQuorum explains a metadata change that did not go through for want of
// a quorum, counting the voters gossip sees up.
func (s *Service) noQuorum(err error) error {
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, raftgroup.ErrNoLeader) {
		return err
	}
	voters := s.group.Status().Voters
	up := 0
	alive := map[uint64]bool{}
	for _, m := range s.cfg.Gossip.Members() {
		alive[RaftID(m.ID)] = m.Up()
	}
	for _, v := range voters {
		if alive[v] || v == s.cfg.Self.RaftID {
			up++
		}
	}
	return fmt.Errorf("%w: %d of %d voters of the metadata group are reachable, %d are needed; nothing was changed", ErrNoQuorum, up, len(voters), len(voters)/2+1)
}

func (s *Service) propose(ctx context.Context, c command) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, _, err = s.group.Propose(ctx, data)
	return err
}

// WaitReady blocks until the cluster is formed and this node is a member.
func (s *Service) WaitReady(ctx context.Context) error {
	for {
		ch := s.Changed()
		st := s.State()
		if _, ok := st.Members[s.cfg.Self.ID]; ok && st.Initialized() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run drives the metadata group, forms or joins the cluster, and, on the
// leader, adds new nodes, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	defer s.sender.Close()
	done := s.group.Start(ctx)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return <-done
		case err := <-done:
			return err
		case <-t.C:
		}
		s.tick(ctx)
	}
}

func (s *Service) tick(ctx context.Context) {
	st := s.State()
	if !s.group.HasState() {
		s.tryBootstrap()
		return
	}
	raft := s.group.Status()
	if raft.Leader == 0 {
		return
	}
	if !st.Initialized() {
		s.tryInit(ctx, raft)
		return
	}
	if !s.announced {
		err := s.cfg.Gossip.UpdateMeta(func(m *membership.Meta) { m.Cluster, m.Founders = st.ClusterID, nil })
		s.announced = err == nil
	}
	if me, ok := st.Members[s.cfg.Self.ID]; ok && s.addressesChanged(me) {
		s.proposeQuick(ctx, command{Op: opUpdateMember, Member: &Member{
			ID: me.ID, RaftID: me.RaftID, ClusterAddr: s.cfg.Self.ClusterAddr, GossipAddr: s.cfg.Self.GossipAddr,
			RESPAddr: s.cfg.Self.RESPAddr, HTTPAddr: s.cfg.Self.HTTPAddr,
		}})
	}
	if raft.Leader == s.cfg.Self.RaftID {
		s.reconcile(ctx, st, raft)
	}
}

func (s *Service) addressesChanged(me Member) bool {
	return me.ClusterAddr != s.cfg.Self.ClusterAddr || me.GossipAddr != s.cfg.Self.GossipAddr ||
		me.RESPAddr != s.cfg.Self.RESPAddr || me.HTTPAddr != s.cfg.Self.HTTPAddr
}

// proposeQuick proposes with a short timeout; a failure is retried by a later
// tick.
func (s *Service) proposeQuick(ctx context.Context, c command) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := s.propose(pctx, c)
	if err != nil && !errors.Is(err, ErrExists) {
		s.log.Debug("metadata proposal", "op", c.Op, "err", err)
	}
	return err
}

// tryBootstrap decides, for a node with no Raft state, whether to found a
// cluster now, or to wait (for more nodes, or to be added to a cluster).
func (s *Service) tryBootstrap() {
	var alive []membership.Member
	for _, m := range s.cfg.Gossip.Members() {
		if m.Up() {
			alive = append(alive, m)
		}
	}
	for _, m := range alive {
		if m.Cluster != "" {
			// A cluster exists: this node is a candidate until an
			// operator admits it.
			if !s.waitingAdmission {
				s.waitingAdmission = true
				s.log.Info("a cluster is in gossip: waiting to be admitted; run `pando cluster join "+s.cfg.Self.ID+"` against one of its members", "cluster", m.Cluster)
			}
			return
		}
	}
	// Adopt a founder list someone announced.
	for _, m := range alive {
		if len(m.Founders) > 0 {
			s.bootstrap(m.Founders)
			return
		}
	}
	var ids []string
	for _, m := range alive {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	if len(ids) < s.cfg.BootstrapExpect {
		return
	}
	if !slices.Equal(ids, s.candidates) {
		s.candidates, s.candidatesAt = ids, time.Now()
		return
	}
	if time.Since(s.candidatesAt) < s.cfg.StableFor && s.cfg.BootstrapExpect > 1 {
		return
	}
	s.bootstrap(ids[:s.cfg.BootstrapExpect])
}

func (s *Service) bootstrap(founders []string) {
	founders = slices.Clone(founders)
	slices.Sort(founders)
	if err := s.cfg.Gossip.UpdateMeta(func(m *membership.Meta) { m.Founders = founders }); err != nil {
		s.log.Warn("announcing founders", "err", err)
	}
	if !slices.Contains(founders, s.cfg.Self.ID) {
		return // another set founds the cluster; we join it afterwards
	}
	voters := make([]uint64, len(founders))
	for i, id := range founders {
		voters[i] = RaftID(id)
	}
	if err := s.group.Bootstrap(voters); err != nil {
		s.log.Error("bootstrapping the metadata group", "err", err)
		return
	}
	s.log.Info("founding the cluster", "founders", founders)
	if len(founders) == 1 {
		s.group.Campaign()
	}
}

// tryInit proposes the initial state once the founders have a leader. The
// smallest founder proposes; init is refused if it already happened.
func (s *Service) tryInit(ctx context.Context, raft raftgroup.Status) {
	byRaft := map[uint64]membership.Member{}
	for _, m := range s.cfg.Gossip.Members() {
		byRaft[RaftID(m.ID)] = m
	}
	var founders []Member
	for _, v := range raft.Voters {
		m, ok := byRaft[v]
		if !ok {
			return // not every founder is known to gossip yet
		}
		founders = append(founders, Member{
			ID: m.ID, RaftID: v, ClusterAddr: m.ClusterAddr, GossipAddr: m.GossipAddr,
			RESPAddr: m.RESPAddr, HTTPAddr: m.HTTPAddr, Voter: true,
		})
	}
	slices.SortFunc(founders, func(a, b Member) int { return compareStrings(a.ID, b.ID) })
	if len(founders) == 0 || founders[0].ID != s.cfg.Self.ID {
		return
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	s.proposeQuick(ctx, command{Op: opInit, ClusterID: hex.EncodeToString(id), Partitions: s.cfg.Partitions, Founders: founders})
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// reconcile, on the leader, makes the metadata group's configuration
// follow the members, one change per tick: members not in it join as
// learners, removed members leave it, and the voters are kept at
// VoterTarget of the members: a learner up in gossip is promoted while
// voters are short, or while a voter is down, and a voter is demoted (one
// that is down first, never the leader) only while there are more than
// the target. A voter down is thus replaced by a promotion before it is
// demoted, and no change ever leaves fewer voters than the target.
func (s *Service) reconcile(ctx context.Context, st *State, raft raftgroup.Status) {
	up := map[uint64]bool{s.cfg.Self.RaftID: true}
	for _, m := range s.cfg.Gossip.Members() {
		up[RaftID(m.ID)] = up[RaftID(m.ID)] || m.Up()
	}
	voters, learners := map[uint64]bool{}, map[uint64]bool{}
	for _, v := range raft.Voters {
		voters[v] = true
	}
	for _, l := range raft.Learners {
		learners[l] = true
	}
	change := func(typ pb.ConfChangeType, raftID uint64, why string) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := s.group.ProposeConfChange(cctx, &pb.ConfChange{Type: typ.Enum(), NodeId: proto.Uint64(raftID)})
		node, _ := s.resolve(raftID)
		if err != nil {
			s.log.Debug("changing the metadata group", "change", typ.String(), "node", node, "err", err)
			return
		}
		s.log.Info("metadata group changed", "change", why, "node", node)
	}
	ids := st.MemberIDs()
	for _, id := range ids {
		if r := st.Members[id].RaftID; !voters[r] && !learners[r] {
			change(pb.ConfChangeAddLearnerNode, r, "member added as a learner")
			return
		}
	}
	for r := range voters {
		if _, ok := st.MemberByRaftID(r); !ok && r != s.cfg.Self.RaftID {
			change(pb.ConfChangeRemoveNode, r, "removed member left the group")
			return
		}
	}
	for r := range learners {
		if _, ok := st.MemberByRaftID(r); !ok {
			change(pb.ConfChangeRemoveNode, r, "removed member left the group")
			return
		}
	}
	target := VoterTarget(len(ids))
	down := 0
	for r := range voters {
		if !up[r] {
			down++
		}
	}
	if len(voters) < target || (down > 0 && len(voters) <= target) {
		for _, id := range ids {
			if r := st.Members[id].RaftID; learners[r] && up[r] {
				change(pb.ConfChangeAddNode, r, "learner promoted to voter")
				return
			}
		}
	}
	if len(voters) > target {
		var demote uint64
		for _, id := range slices.Backward(ids) {
			r := st.Members[id].RaftID
			if !voters[r] || r == s.cfg.Self.RaftID {
				continue
			}
			if !up[r] {
				demote = r
				break
			}
			if demote == 0 {
				demote = r
			}
		}
		if demote != 0 {
			change(pb.ConfChangeAddLearnerNode, demote, "voter demoted to learner")
		}
	}
}

// resolve maps a Raft id to a node id, through the metadata or gossip.
func (s *Service) resolve(raftID uint64) (string, bool) {
	if m, ok := s.State().MemberByRaftID(raftID); ok {
		return m.ID, true
	}
	for _, m := range s.cfg.Gossip.Members() {
		if RaftID(m.ID) == raftID {
			return m.ID, true
		}
	}
	return "", false
}

// Stage stages an ownership change: it moves nothing until Commit. The
// node a join or a replacement gives partitions is admitted first if it is
// a candidate (see Admit).
func (s *Service) Stage(ctx context.Context, c Change) error {
	gains := map[string]string{ChangeJoin: c.Node, ChangeReplace: c.With}[c.Kind]
	if _, ok := s.State().Members[gains]; gains != "" && !ok {
		if err := s.Admit(ctx, gains); err != nil && !errors.Is(err, ErrExists) {
			return err
		}
	}
	return s.change(ctx, func(st *State) (command, error) {
		return command{Op: opStage, Change: &c}, nil
	})
}

// ClearStaged drops the staged changes.
func (s *Service) ClearStaged(ctx context.Context) error {
	return s.change(ctx, func(*State) (command, error) { return command{Op: opClearStaged}, nil })
}

// Commit commits the staged changes as a move and returns it: from now on
// writes reach the replicas of both rings, and each node that gains a
// partition pulls it; the ring switches when the last one has.
func (s *Service) Commit(ctx context.Context) (*Move, error) {
	var staged []Change
	err := s.change(ctx, func(st *State) (command, error) {
		if _, err := st.NextRing(st.Staged); err != nil {
			return command{}, err
		}
		staged = st.Staged
		return command{Op: opCommit, Changes: staged}, nil
	})
	if err != nil {
		return nil, err
	}
	st := s.State()
	if st.Move != nil && slices.Equal(st.Move.Changes, staged) {
		return st.Move, nil
	}
	return &Move{ID: st.LastMove, Changes: staged}, nil // switched already: nothing to move
}

// Moved reports that node holds partition of move id; the last report of a
// move switches the ring.
func (s *Service) Moved(ctx context.Context, id uint64, partition int, node string) error {
	return s.change(ctx, func(*State) (command, error) {
		return command{Op: opMoved, Move: id, Partition: partition, Name: node}, nil
	})
}

// MoveReady reports that this node writes to both rings of move id.
func (s *Service) MoveReady(ctx context.Context, id uint64) error {
	return s.change(ctx, func(*State) (command, error) {
		return command{Op: opMoveReady, Move: id, Name: s.cfg.Self.ID}, nil
	})
}

// SetThrottle bounds the bytes per second each node pulls in transfers (0:
// no bound); nodes apply it to transfers under way.
func (s *Service) SetThrottle(ctx context.Context, bytesPerSecond int64) error {
	if bytesPerSecond < 0 {
		return fmt.Errorf("%w: a throttle of %d bytes per second", ErrInvalid, bytesPerSecond)
	}
	return s.change(ctx, func(*State) (command, error) { return command{Op: opThrottle, Rate: bytesPerSecond}, nil })
}
