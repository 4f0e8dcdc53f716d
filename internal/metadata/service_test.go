package metadata

import (
	"context"
	"errors"
	"fmt"
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

func TestLateNodeJoins(t *testing.T) {
	c := newTestCluster(t, 3)
	for _, id := range []string{"n1", "n2", "n3"} {
		c.start(id, t.TempDir())
	}
	for _, n := range c.nodes {
		ready(t, n)
	}
	n4 := c.start("n4", t.TempDir())
	st := ready(t, n4)
	if _, ok := st.Members["n4"]; !ok {
		t.Fatal("n4 not a member")
	}
	if len(st.Ring.PartitionsOf("n4")) != 0 {
		t.Fatal("a joined node took ownership without data transfer")
	}
	testutil.Eventually(t, "n4 to vote", func() bool { return len(c.nodes["n1"].svc.RaftStatus().Voters) == 4 })
	if err := n4.svc.CreateNamespace(context.Background(), Namespace{Name: "late", N: 3, Model: Eventual, Type: Bytes, MaxSiblings: 16}); err != nil {
		t.Fatalf("proposal from the joined node: %v", err)
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
