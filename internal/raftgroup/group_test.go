package raftgroup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/testutil"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// kvSM is a deterministic test state machine: "k=v" sets k.
type kvSM struct {
	mu       sync.Mutex
	m        map[string]string
	n        int // commands applied
	restores int
	failOn   string // a key whose command this machine fails on, as on a storage error
}

func (s *kvSM) Apply(index uint64, cmd []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k, v string
	if _, err := fmt.Sscanf(string(cmd), "%s %s", &k, &v); err != nil {
		return nil, fmt.Errorf("bad command %q", cmd)
	}
	if s.failOn != "" && k == s.failOn {
		return nil, fmt.Errorf("%w: cannot store %q", ErrFatal, k)
	}
	s.m[k] = v
	s.n++
	return []byte(fmt.Sprint(s.n)), nil
}

func (s *kvSM) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(struct {
		M map[string]string
		N int
	}{s.m, s.n})
}

func (s *kvSM) Restore(_ uint64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st struct {
		M map[string]string
		N int
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	s.m, s.n = st.M, st.N
	s.restores++
	return nil
}

func (s *kvSM) restored() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restores
}

func (s *kvSM) get(k string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[k]
}

// fate is what the bus does with a message.
type fate int

const (
	deliver fate = iota
	fail         // not sent, and the sender is told
	lose         // lost on the way; the sender believes it sent it
)

// bus routes messages between members of one test group, with cuttable
// links and a fault hook. Like a transport, it tells the sender which peers
// it could not reach and how its snapshot messages went.
type bus struct {
	mu      sync.Mutex
	members map[uint64]*Group
	cut     map[uint64]bool
	fault   func(m *pb.Message) fate // sees (and may alter) a copy of each message on a link not cut
}

func (b *bus) send(msgs []*pb.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range msgs {
		m = proto.Clone(m).(*pb.Message)
		to, from := m.GetTo(), m.GetFrom()
		f := deliver
		switch {
		case b.cut[to] || b.cut[from]:
			f = fail
		case b.fault != nil:
			f = b.fault(m)
		}
		g, ok := b.members[to]
		if !ok && f == deliver {
			f = fail
		}
		if f == deliver {
			g.Step([]*pb.Message{m})
		}
		if sender, ok := b.members[from]; ok {
			if f == fail {
				sender.ReportUnreachable(to)
			}
			if m.GetType() == pb.MsgSnap {
				sender.ReportSnapshot(to, f != fail)
			}
		}
	}
}

type member struct {
	id     uint64
	dir    string
	eng    *storage.Engine
	sm     *kvSM
	g      *Group
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, once done is closed
}

// clusterConfig sets the members' Config: SnapshotEvery, KeepEntries,
// PreferredLeader, Quiesce and Logger (zero for the defaults).
type clusterConfig struct {
	every, keep uint64
	preferred   uint64
	quiesce     bool
	log         *slog.Logger
}

type cluster struct {
	t       *testing.T
	bus     *bus
	members map[uint64]*member
	cfg     clusterConfig
}

func newCluster(t *testing.T, ids []uint64, snapshotEvery uint64) *cluster {
	return newClusterWith(t, ids, clusterConfig{every: snapshotEvery})
}

func newClusterWith(t *testing.T, ids []uint64, cfg clusterConfig) *cluster {
	c := &cluster{t: t, bus: &bus{members: map[uint64]*Group{}, cut: map[uint64]bool{}}, members: map[uint64]*member{}, cfg: cfg}
	for _, id := range ids {
		m := c.open(id, t.TempDir())
		if err := m.g.Bootstrap(ids); err != nil {
			t.Fatal(err)
		}
		c.run(m)
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			c.stop(m)
		}
	})
	return c
}

func (c *cluster) open(id uint64, dir string) *member {
	eng, err := storage.Open(storage.Config{Dir: dir})
	if err != nil {
		c.t.Fatal(err)
	}
	sm := &kvSM{m: map[string]string{}}
	g, err := Open(Config{
		Group: 0, ID: id, Engine: eng, StateMachine: sm, Send: c.bus.send, TickInterval: 10 * time.Millisecond,
		SnapshotEvery: c.cfg.every, KeepEntries: c.cfg.keep, PreferredLeader: c.cfg.preferred, Quiesce: c.cfg.quiesce, Logger: c.cfg.log,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	m := &member{id: id, dir: dir, eng: eng, sm: sm, g: g}
	c.members[id] = m
	return m
}

func (c *cluster) run(m *member) {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	c.bus.mu.Lock()
	c.bus.members[m.id] = m.g
	c.bus.mu.Unlock()
	go func() { defer close(m.done); m.err = m.g.Run(ctx) }()
}

func (c *cluster) stop(m *member) {
	if m.cancel == nil {
		return
	}
	c.bus.mu.Lock()
	delete(c.bus.members, m.id)
	c.bus.mu.Unlock()
	m.cancel()
	<-m.done
	m.cancel = nil
	m.eng.Close()
}

func (c *cluster) restart(m *member) *member {
	c.stop(m)
	n := c.open(m.id, m.dir)
	c.run(n)
	return n
}

func (c *cluster) setCut(id uint64, cut bool) {
	c.bus.mu.Lock()
	defer c.bus.mu.Unlock()
	c.bus.cut[id] = cut
}

// setFault installs the bus's fault hook (nil for none).
func (c *cluster) setFault(f func(m *pb.Message) fate) {
	c.bus.mu.Lock()
	defer c.bus.mu.Unlock()
	c.bus.fault = f
}

// follower returns a member other than lead.
func (c *cluster) follower(lead uint64) uint64 {
	for id := range c.members {
		if id != lead {
			return id
		}
	}
	c.t.Fatal("no follower")
	return 0
}

func (c *cluster) leader() uint64 {
	c.t.Helper()
	var lead uint64
	testutil.Eventually(c.t, "a leader", func() bool {
		for _, m := range c.members {
			if m.cancel != nil && !c.bus.cut[m.id] {
				if st := m.g.Status(); st.Leader != 0 && st.Leader == m.id {
					lead = st.Leader
					return true
				}
			}
		}
		return false
	})
	return lead
}

// propose retries through leader changes, as clients of a group do.
func (c *cluster) propose(via uint64, cmd string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _, err := c.members[via].g.Propose(ctx, []byte(cmd))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("propose %q via %d: %v", cmd, via, err)
		}
	}
}

func TestReplicatesAndAgrees(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, 1000)
	c.leader()
	for i := range 30 {
		c.propose(uint64(1+i%3), fmt.Sprintf("k%d v%d", i, i))
	}
	for _, m := range c.members {
		testutil.Eventually(t, "all 30 applied everywhere", func() bool { return m.sm.get("k29") == "v29" })
		for i := range 30 {
			if got := m.sm.get(fmt.Sprintf("k%d", i)); got != fmt.Sprintf("v%d", i) {
				t.Fatalf("member %d: k%d=%q", m.id, i, got)
			}
		}
	}
	// The proposer gets the state machine's result and error.
	data, index, err := c.members[2].g.Propose(context.Background(), []byte("k30 v30"))
	if err != nil || string(data) != "31" || index == 0 {
		t.Fatalf("result of a proposal: %q at %d, %v", data, index, err)
	}
	_, _, err = c.members[2].g.Propose(context.Background(), []byte("garbage"))
	if err == nil || err.Error() != `bad command "garbage"` {
		t.Fatalf("a refusal by the state machine: %v", err)
	}
}

// TestLeadershipReturnsToThePreferredLeader: while the preferred leader is
// cut off another member leads; once it is back and has caught up with
// what was written meanwhile, leadership moves to it, and nothing written
// is lost on the way.
func TestLeadershipReturnsToThePreferredLeader(t *testing.T) {
	c := newClusterWith(t, []uint64{1, 2, 3}, clusterConfig{preferred: 1})
	c.setCut(1, true)
	lead := c.leader()
	if lead == 1 {
		t.Fatal("the cut-off member leads")
	}
	for i := range 20 {
		c.propose(lead, fmt.Sprintf("k%d v%d", i, i))
	}
	c.setCut(1, false)
	testutil.Eventually(t, "every member led by 1", func() bool {
		for _, m := range c.members {
			if m.g.Status().Leader != 1 {
				return false
			}
		}
		return true
	})
	c.propose(1, "k20 v20")
	testutil.Eventually(t, "member 1 applied all", func() bool { return c.members[1].sm.get("k20") == "v20" })
	for i := range 20 {
		if got := c.members[1].sm.get(fmt.Sprintf("k%d", i)); got != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%d on the new leader: %q", i, got)
		}
	}
}

func TestRestartRecoversFromStorage(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, 7) // snapshots every 7 entries
	c.leader()
	for i := range 25 {
		c.propose(1, fmt.Sprintf("k%d v%d", i, i))
	}
	for id, m := range c.members {
		testutil.Eventually(t, "applied", func() bool { return m.sm.get("k24") == "v24" })
		c.members[id] = c.restart(m)
	}
	c.leader()
	c.propose(2, "after restart")
	for _, m := range c.members {
		testutil.Eventually(t, "state rebuilt from snapshot and log", func() bool {
			return m.sm.get("k0") == "v0" && m.sm.get("k24") == "v24" && m.sm.get("after") == "restart"
		})
	}
}

func TestLaggingMemberCatchesUpBySnapshot(t *testing.T) {
	c := newClusterWith(t, []uint64{1, 2, 3}, clusterConfig{every: 20, keep: 100})
	lead := c.leader()
	var lag uint64 = 1
	if lead == 1 {
		lag = 2
	}
	c.setCut(lag, true)
	via := lead
	for i := range 250 { // well past the 100 entries kept after a snapshot
		c.propose(via, fmt.Sprintf("k%d v%d", i, i))
	}
	c.setCut(lag, false)
	m := c.members[lag]
	testutil.Eventually(t, "the lagging member to catch up", func() bool { return m.sm.get("k249") == "v249" && m.sm.get("k0") == "v0" })
}

func TestMinorityCannotCommit(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, 1000)
	lead := c.leader()
	// Isolate the leader: with CheckQuorum it steps down and cannot commit.
	c.setCut(lead, true)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, _, err := c.members[lead].g.Propose(ctx, []byte("lost write"))
	if err == nil {
		t.Fatal("an isolated leader committed a proposal")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrNoLeader) {
		t.Fatalf("unexpected error: %v", err)
	}
	// The majority elects a new leader and goes on.
	var other uint64 = 1
	if lead == 1 {
		other = 2
	}
	c.propose(other, "majority ok")
	c.setCut(lead, false)
	m := c.members[lead]
	testutil.Eventually(t, "the old leader to learn the majority's write", func() bool { return m.sm.get("majority") == "ok" })
	if m.sm.get("lost") != "" {
		t.Fatal("the minority's proposal was applied")
	}
}

func TestAddMember(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, 5)
	c.leader()
	for i := range 12 {
		c.propose(1, fmt.Sprintf("k%d v%d", i, i))
	}
	// A new, empty member joins by conf change.
	m4 := c.open(4, t.TempDir())
	c.run(m4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.members[1].g.ProposeConfChange(ctx, &pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(4)}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the new member to catch up", func() bool { return m4.sm.get("k11") == "v11" })
	testutil.Eventually(t, "four voters", func() bool { return len(c.members[1].g.Status().Voters) == 4 })
	c.propose(4, "from four")
	for _, m := range c.members {
		testutil.Eventually(t, "the new member's proposal everywhere", func() bool { return m.sm.get("from") == "four" })
	}
}

// TestReadIndexSeesEarlierCommits: after ReadIndex returns on a member, its
// state machine includes every command committed before the call, even one
// proposed elsewhere and not yet applied here.
func TestReadIndexSeesEarlierCommits(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, 1000)
	lead := c.leader()
	var lag uint64 = 1
	if lead == 1 {
		lag = 2
	}
	for i := range 20 {
		key := fmt.Sprintf("k%d v%d", i, i)
		c.propose(lead, key)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.members[lag].g.ReadIndex(ctx); err != nil {
			cancel()
			t.Fatalf("read index on %d: %v", lag, err)
		}
		cancel()
		if got := c.members[lag].sm.get(fmt.Sprintf("k%d", i)); got != fmt.Sprintf("v%d", i) {
			t.Fatalf("after ReadIndex, member %d has k%d=%q", lag, i, got)
		}
	}
	// Without a quorum, ReadIndex cannot complete.
	c.setCut(lag, true)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := c.members[lag].g.ReadIndex(ctx); err == nil {
		t.Fatal("ReadIndex succeeded on a member cut off from the group")
	}
}

// TestProposalCutOffHasUnknownOutcome: a proposal handed to raft whose
// answer never comes may have been committed; Propose says so, and does not
// pass it off as a plain failure.
func TestProposalCutOffHasUnknownOutcome(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, 1000)
	lead := c.leader()
	f := c.follower(lead)
	c.setCut(f, true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _, err := c.members[f].g.Propose(ctx, []byte("k v"))
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a proposal cut off from the leader: %v, want ErrOutcomeUnknown", err)
	}
}
