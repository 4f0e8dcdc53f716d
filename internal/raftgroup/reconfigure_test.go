package raftgroup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
	pb "go.etcd.io/raft/v3/raftpb"
)

func TestPlanConf(t *testing.T) {
	v := func(match uint64) peer { return peer{match: match, active: true} }
	l := func(match uint64) peer { return peer{learner: true, match: match, active: true} }
	cases := []struct {
		name     string
		prs      map[uint64]peer
		want     []uint64
		cc       pb.ConfChangeType
		node     uint64
		transfer uint64
		done     bool
		nothing  bool
	}{
		{name: "already there", prs: map[uint64]peer{1: v(10), 2: v(10), 3: v(10)}, want: []uint64{1, 2, 3}, done: true},
		{name: "a new node joins as a learner first", prs: map[uint64]peer{1: v(10), 2: v(10), 3: v(10)}, want: []uint64{1, 2, 4}, cc: pb.ConfChangeAddLearnerNode, node: 4},
		{name: "a learner far behind waits", prs: map[uint64]peer{1: v(100), 2: v(100), 3: v(100), 4: l(50)}, want: []uint64{1, 2, 4}, nothing: true},
		{name: "a learner that is not heard from waits", prs: map[uint64]peer{1: v(100), 2: v(100), 3: v(100), 4: {learner: true, match: 100}}, want: []uint64{1, 2, 4}, nothing: true},
		{name: "a caught-up learner is promoted", prs: map[uint64]peer{1: v(100), 2: v(100), 3: v(100), 4: l(95)}, want: []uint64{1, 2, 4}, cc: pb.ConfChangeAddNode, node: 4},
		{name: "no voter leaves before every wanted one votes", prs: map[uint64]peer{1: v(100), 2: v(100), 3: v(100), 4: v(100), 5: l(10)}, want: []uint64{1, 4, 5}, nothing: true},
		{name: "then a voter not wanted leaves", prs: map[uint64]peer{1: v(100), 2: v(100), 3: v(100), 4: v(100)}, want: []uint64{1, 2, 4}, cc: pb.ConfChangeRemoveNode, node: 3},
		{name: "a leader not wanted hands over to the wanted voter furthest along", prs: map[uint64]peer{1: v(100), 2: v(90), 3: v(99), 4: v(98)}, want: []uint64{2, 3, 4}, transfer: 3},
		{name: "a dead voter is removed", prs: map[uint64]peer{1: v(100), 2: v(100), 3: {match: 40}, 4: v(100)}, want: []uint64{1, 2, 4}, cc: pb.ConfChangeRemoveNode, node: 3},
		{name: "a learner not wanted leaves", prs: map[uint64]peer{1: v(100), 2: v(100), 3: v(100), 5: l(3)}, want: []uint64{1, 2, 3}, cc: pb.ConfChangeRemoveNode, node: 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := planConf(1, c.prs, c.want)
			if r.err != nil {
				t.Fatal(r.err)
			}
			switch {
			case c.done || c.nothing:
				if r.cc != nil || r.transfer != 0 || r.done != c.done {
					t.Fatalf("got change %v, transfer %d, done %v; want done %v and nothing else", r.cc, r.transfer, r.done, c.done)
				}
			case c.transfer != 0:
				if r.cc != nil || r.transfer != c.transfer {
					t.Fatalf("got change %v, transfer %d; want a transfer to %d", r.cc, r.transfer, c.transfer)
				}
			default:
				if r.cc == nil || r.cc.GetType() != c.cc || r.cc.GetNodeId() != c.node {
					t.Fatalf("got change %v (transfer %d); want %v of %d", r.cc, r.transfer, c.cc, c.node)
				}
			}
		})
	}
}

// reconfigure drives the group to want from its leader, as a node's
// reconciler does, until it is there.
func (c *cluster) reconfigure(want []uint64) {
	c.t.Helper()
	testutil.Eventually(c.t, fmt.Sprintf("the group's voters to be %v", want), func() bool {
		lead := c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		done, err := c.members[lead].g.Reconfigure(ctx, want)
		if err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, context.DeadlineExceeded) {
			c.t.Logf("reconfigure: %v", err)
		}
		return done
	})
}

// TestReconfigureReplacesAMember: an empty member joins as a learner,
// catches up by snapshot, becomes a voter, and the member it replaces
// leaves, also when it leads; the group commits all along and ends with
// exactly the wanted voters, holding everything.
func TestReconfigureReplacesAMember(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, 5)
	for i := range 20 {
		c.propose(1, fmt.Sprintf("k%d v%d", i, i))
	}
	m4 := c.open(4, t.TempDir())
	c.run(m4)
	lead := c.leader()
	// Replace the leader itself: it must hand over before it is removed.
	var want []uint64
	for _, id := range []uint64{1, 2, 3, 4} {
		if id != lead {
			want = append(want, id)
		}
	}
	c.reconfigure(want)
	for _, id := range want {
		testutil.Eventually(t, fmt.Sprintf("member %d to see voters %v", id, want), func() bool {
			st := c.members[id].g.Status()
			return slices.Equal(st.Voters, want) && len(st.Learners) == 0
		})
	}
	if m4.sm.get("k19") != "v19" {
		t.Fatalf("the new member lacks what was committed before it joined: k19=%q", m4.sm.get("k19"))
	}
	c.stop(c.members[lead])
	c.propose(4, "after replace")
	for _, id := range want {
		testutil.Eventually(t, "a command committed by the new voters", func() bool { return c.members[id].sm.get("after") == "replace" })
	}
}

// TestReplayedAfterRestart: a restarted member's state machine starts from
// its snapshot (here none) and Replayed stays open until it has applied
// every entry the member knew committed when it stopped.
func TestReplayedAfterRestart(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, 1000)
	for i := range 10 {
		c.propose(1, fmt.Sprintf("k%d v%d", i, i))
	}
	m := c.members[2]
	testutil.Eventually(t, "member 2 to apply everything", func() bool { return m.sm.get("k9") == "v9" })
	c.stop(m)
	n := c.open(2, m.dir)
	select {
	case <-n.g.Replayed():
		t.Fatal("replayed before applying anything")
	default:
	}
	c.run(n)
	select {
	case <-n.g.Replayed():
	case <-time.After(10 * time.Second):
		t.Fatal("never replayed")
	}
	if n.sm.get("k9") != "v9" {
		t.Fatalf("replayed, but k9=%q", n.sm.get("k9"))
	}
}
