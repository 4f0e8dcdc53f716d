package metadata

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/membership"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// fakeGossip is a shared, instantly consistent gossip view.
type fakeGossip struct {
	mu      sync.Mutex
	members map[string]*membership.Member
}

func (g *fakeGossip) add(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members[id] = &membership.Member{ID: id, GossipAddr: "g-" + id, State: membership.Alive,
		Meta: membership.Meta{ClusterAddr: "c-" + id, RESPAddr: "r-" + id, HTTPAddr: "h-" + id}}
}

func (g *fakeGossip) view() []membership.Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []membership.Member
	for _, m := range g.members {
		c := *m
		c.Founders = append([]string(nil), m.Founders...)
		out = append(out, c)
	}
	return out
}

type gossipOf struct {
	g  *fakeGossip
	id string
}

func (o gossipOf) Members() []membership.Member { return o.g.view() }
func (o gossipOf) UpdateMeta(fn func(*membership.Meta)) error {
	o.g.mu.Lock()
	defer o.g.mu.Unlock()
	fn(&o.g.members[o.id].Meta)
	return nil
}

// raftPeer serves only Raft messages.
type raftPeer struct {
	transport.Peer
	s *Service
}

func (p raftPeer) Raft(_ context.Context, r *nodepb.RaftRequest) (*nodepb.RaftResponse, error) {
	for _, b := range r.GetBatches() {
		if err := p.s.Step(b); err != nil {
			return nil, err
		}
	}
	return &nodepb.RaftResponse{}, nil
}

type node struct {
	id     string
	dir    string
	eng    *storage.Engine
	svc    *Service
	cancel context.CancelFunc
	done   chan error
}

type testCluster struct {
	t      *testing.T
	net    *transport.MemNetwork
	gossip *fakeGossip
	nodes  map[string]*node
	expect int
}

func newTestCluster(t *testing.T, expect int) *testCluster {
	c := &testCluster{t: t, net: transport.NewMemNetwork(), gossip: &fakeGossip{members: map[string]*membership.Member{}}, nodes: map[string]*node{}, expect: expect}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.stop(n)
		}
	})
	return c
}

func (c *testCluster) start(id, dir string) *node {
	eng, err := storage.Open(storage.Config{Dir: dir})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, ok := c.gossip.members[id]; !ok {
		c.gossip.add(id)
	}
	svc, err := Open(Config{
		Self:   Member{ID: id, ClusterAddr: "c-" + id, GossipAddr: "g-" + id, RESPAddr: "r-" + id, HTTPAddr: "h-" + id},
		Engine: eng, Transport: c.net.Transport(), Gossip: gossipOf{c.gossip, id},
		BootstrapExpect: c.expect, Partitions: 16, TickInterval: 10 * time.Millisecond, StableFor: 50 * time.Millisecond,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.net.Register(id, raftPeer{s: svc})
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{id: id, dir: dir, eng: eng, svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- svc.Run(ctx) }()
	c.nodes[id] = n
	return n
}

func (c *testCluster) stop(n *node) {
	if n.cancel == nil {
		return
	}
	c.net.Register(n.id, nil)
	n.cancel()
	<-n.done
	n.cancel = nil
	n.eng.Close()
}

func ready(t *testing.T, n *node) *State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.svc.WaitReady(ctx); err != nil {
		t.Fatalf("node %s never joined a formed cluster: %v (state %+v, raft %+v)", n.id, err, n.svc.State(), n.svc.RaftStatus())
	}
	return n.svc.State()
}

func TestThreeNodesFormOneCluster(t *testing.T) {
	c := newTestCluster(t, 3)
	for _, id := range []string{"n2", "n1", "n3"} {
		c.start(id, t.TempDir())
	}
	var first *State
	for _, id := range []string{"n1", "n2", "n3"} {
		st := ready(t, c.nodes[id])
		if first == nil {
			first = st
			continue
		}
		testutil.Eventually(t, "the same metadata everywhere", func() bool {
			st = c.nodes[id].svc.State()
			return st.ClusterID == first.ClusterID && len(st.Members) == 3
		})
		if !st.Ring.Equal(first.Ring) {
			t.Fatalf("%s derived a different ring", id)
		}
	}
	if got := first.Ring.Nodes(); fmt.Sprint(got) != "[n1 n2 n3]" {
		t.Fatalf("ring owners %v", got)
	}
	if ns, ok := first.Namespace("default"); !ok || ns.Model != Eventual || ns.N != 3 || ns.Type != Bytes {
		t.Fatalf("default namespace: %+v", ns)
	}
	if len(c.nodes["n1"].svc.RaftStatus().Voters) != 3 {
		t.Fatalf("voters: %v", c.nodes["n1"].svc.RaftStatus())
	}
	if m := first.Members["n2"]; m.ClusterAddr != "c-n2" || m.RESPAddr != "r-n2" || !m.Voter {
		t.Fatalf("member n2: %+v", m)
	}
}

func TestNamespacesAndRestart(t *testing.T) {
	c := newTestCluster(t, 3)
	for _, id := range []string{"n1", "n2", "n3"} {
		c.start(id, t.TempDir())
	}
	for _, n := range c.nodes {
		ready(t, n)
	}
	ctx := context.Background()
	users := Namespace{Name: "users", N: 2, Model: Eventual, Type: Bytes, MaxSiblings: DefaultMaxSiblings}
	if err := c.nodes["n2"].svc.CreateNamespace(ctx, users); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes["n3"].svc.CreateNamespace(ctx, users); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "same definition") || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("repeating the same definition: %v; want it to say the namespace exists, unchanged", err)
	}
	for _, tc := range []struct {
		ns   Namespace
		want error
	}{
		{Namespace{Name: "users", N: 3, Model: Eventual, Type: Bytes, MaxSiblings: 16}, ErrExists},
		{Namespace{Name: "bank", N: 3, Model: Strong, Type: Bytes, MaxSiblings: 16, SloppyQuorum: true}, ErrInvalid},
		{Namespace{Name: "bank", N: 3, Model: Strong, Type: Counter, MaxSiblings: 16}, ErrInvalid},
		{Namespace{Name: "flags", N: 3, Model: Eventual, Type: Flag, MaxSiblings: 16}, ErrUnsupported},
		{Namespace{Name: "Bad Name", N: 3, Model: Eventual, Type: Bytes, MaxSiblings: 16}, ErrInvalid},
		{Namespace{Name: "1", N: 3, Model: Eventual, Type: Bytes, MaxSiblings: 16}, ErrInvalid},
		{Namespace{Name: "x", N: 0, Model: Eventual, Type: Bytes, MaxSiblings: 16}, ErrInvalid},
		{Namespace{Name: "x", N: 3, Model: Eventual, Type: Bytes, MaxSiblings: 0}, ErrInvalid},
		{Namespace{Name: "x", N: 3, Model: "eventualish", Type: Bytes, MaxSiblings: 16}, ErrInvalid},
	} {
		if err := c.nodes["n1"].svc.CreateNamespace(ctx, tc.ns); !errors.Is(err, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.ns, err, tc.want)
		}
	}
	for _, n := range c.nodes {
		testutil.Eventually(t, "users everywhere", func() bool { _, ok := n.svc.State().Namespace("users"); return ok })
	}
	clusterID := c.nodes["n1"].svc.State().ClusterID
	// Restart every node: the metadata comes back from the log.
	for _, id := range []string{"n1", "n2", "n3"} {
		n := c.nodes[id]
		c.stop(n)
		c.start(id, n.dir)
	}
	for _, n := range c.nodes {
		st := ready(t, n)
		testutil.Eventually(t, "the namespace after restart", func() bool { _, ok := n.svc.State().Namespace("users"); return ok })
		if st.ClusterID != clusterID {
			t.Fatalf("cluster id changed across restart: %s -> %s", clusterID, st.ClusterID)
		}
	}
}

func (g *fakeGossip) setState(id string, st membership.State) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members[id].State = st
}

// leaderOf returns the service of the node that leads the metadata group.
func (c *testCluster) leaderOf() *Service {
	c.t.Helper()
	var svc *Service
	testutil.Eventually(c.t, "a metadata leader", func() bool {
		for _, n := range c.nodes {
			if n.cancel != nil && n.svc.RaftStatus().Leader == RaftID(n.id) {
				svc = n.svc
				return true
			}
		}
		return false
	})
	return svc
}

// formed starts a cluster founded by ids and waits until each is ready.
func formed(t *testing.T, ids ...string) *testCluster {
	c := newTestCluster(t, len(ids))
	for _, id := range ids {
		c.start(id, t.TempDir())
	}
	for _, n := range c.nodes {
		ready(t, n)
	}
	return c
}

func voterCount(svc *Service) int { return len(svc.RaftStatus().Voters) }

// TestLateNodeIsACandidateUntilAdmitted: a node that gossips with a formed
// cluster is not made a member by it: it is a candidate, listed as such,
// until an operator admits it. Admitted, it joins as a learner that owns
// nothing (four members keep three voters); a fifth makes five voters.
func TestLateNodeIsACandidateUntilAdmitted(t *testing.T) {
	c := formed(t, "n1", "n2", "n3")
	n4 := c.start("n4", t.TempDir())
	n1 := c.nodes["n1"].svc
	testutil.Eventually(t, "n4 listed as a candidate", func() bool {
		cands := n1.Candidates()
		return len(cands) == 1 && cands[0] == "n4"
	})
	// The leader ticks every 200ms; give it several ticks to (wrongly) add n4.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if _, ok := n1.State().Members["n4"]; ok {
			t.Fatal("a node that only gossips became a member")
		}
		time.Sleep(50 * time.Millisecond) // watching for a change that must not come
	}
	if err := n1.Admit(context.Background(), "n9"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no node n9 is up") {
		t.Fatalf("admitting a node gossip does not know: %v", err)
	}
	if err := n1.Admit(context.Background(), "n2"); !errors.Is(err, ErrExists) {
		t.Fatalf("admitting a member: %v", err)
	}
	if err := n1.Admit(context.Background(), "n4"); err != nil {
		t.Fatalf("admitting n4: %v", err)
	}
	st := ready(t, n4)
	if len(st.Ring.PartitionsOf("n4")) != 0 {
		t.Fatal("an admitted node took ownership without data transfer")
	}
	testutil.Eventually(t, "n4 a learner, three voters", func() bool {
		rs := n1.RaftStatus()
		return len(rs.Voters) == 3 && len(rs.Learners) == 1 && rs.Learners[0] == RaftID("n4")
	})
	if err := n4.svc.CreateNamespace(context.Background(), Namespace{Name: "late", N: 3, Model: Eventual, Type: Bytes, MaxSiblings: 16}); err != nil {
		t.Fatalf("proposal from the admitted node: %v", err)
	}
	c.start("n5", t.TempDir())
	testutil.Eventually(t, "n5 a candidate", func() bool { return len(n1.Candidates()) == 1 })
	if err := n1.Admit(context.Background(), "n5"); err != nil {
		t.Fatalf("admitting n5: %v", err)
	}
	testutil.Eventually(t, "five voters from five members", func() bool { return voterCount(n1) == 5 })
}

// TestDeadVoterIsReplaced: with a learner up, a voter that gossip sees
// dead is replaced: the learner is promoted first, then the dead voter
// demoted, so the group never has fewer voters than its target; a member
// that is down and owns nothing is removed for good and never comes back.
func TestDeadVoterIsReplaced(t *testing.T) {
	c := formed(t, "n1", "n2", "n3")
	c.start("n4", t.TempDir())
	testutil.Eventually(t, "n4 a candidate", func() bool { return len(c.nodes["n1"].svc.Candidates()) == 1 })
	if err := c.nodes["n1"].svc.Admit(context.Background(), "n4"); err != nil {
		t.Fatal(err)
	}
	ready(t, c.nodes["n4"])
	testutil.Eventually(t, "n4 a learner", func() bool { return len(c.nodes["n1"].svc.RaftStatus().Learners) == 1 })

	victim := "n2"
	if c.leaderOf() == c.nodes["n2"].svc {
		victim = "n3"
	}
	c.stop(c.nodes[victim])
	c.gossip.setState(victim, membership.Dead)
	minVoters := 3
	testutil.Eventually(t, victim+" replaced by n4 among the voters", func() bool {
		rs := c.leaderOf().RaftStatus()
		minVoters = min(minVoters, len(rs.Voters))
		has := map[uint64]bool{}
		for _, v := range rs.Voters {
			has[v] = true
		}
		return len(rs.Voters) == 3 && has[RaftID("n4")] && !has[RaftID(victim)]
	})
	if minVoters < 3 {
		t.Fatalf("the group went down to %d voters", minVoters)
	}

	// n4 owns nothing: once down, it can be removed for good.
	svc := c.leaderOf()
	if err := svc.Remove(context.Background(), "n4"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "is up") {
		t.Fatalf("removing a member that is up: %v", err)
	}
	if err := svc.Remove(context.Background(), victim); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "owns") {
		t.Fatalf("removing a member that owns partitions: %v", err)
	}
	c.stop(c.nodes["n4"])
	c.gossip.setState("n4", membership.Dead)
	if err := svc.Remove(context.Background(), "n4"); err != nil {
		t.Fatalf("removing n4: %v", err)
	}
	if err := svc.Remove(context.Background(), "n4"); !errors.Is(err, ErrExists) {
		t.Fatalf("removing n4 again: %v", err)
	}
	testutil.Eventually(t, "n4 out of the metadata group", func() bool {
		rs := svc.RaftStatus()
		for _, id := range append(rs.Voters, rs.Learners...) {
			if id == RaftID("n4") {
				return false
			}
		}
		return true
	})
	c.gossip.setState("n4", membership.Alive)
	if err := svc.Admit(context.Background(), "n4"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("admitting a removed node again: %v", err)
	}
	if slices.Contains(svc.Candidates(), "n4") {
		t.Fatal("a removed node listed as a candidate")
	}
}

func TestSingleNodeCluster(t *testing.T) {
	c := newTestCluster(t, 1)
	n := c.start("solo", t.TempDir())
	st := ready(t, n)
	if st.Replicas(st.Namespaces["default"]) != 1 {
		t.Fatalf("default namespace on one node keeps %d replicas", st.Replicas(st.Namespaces["default"]))
	}
}
