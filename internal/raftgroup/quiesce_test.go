package raftgroup

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
	pb "go.etcd.io/raft/v3/raftpb"
)

func (c *cluster) allQuiesced() bool {
	for _, m := range c.members {
		if m.cancel != nil && !m.g.Status().Quiesced {
			return false
		}
	}
	return true
}

// readAt reads k linearizably through member id.
func (c *cluster) readAt(id uint64, k string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.members[id].g.ReadIndex(ctx); err != nil {
		c.t.Fatalf("read index on %d: %v", id, err)
	}
	return c.members[id].sm.get(k)
}

// TestIdleGroupQuiesces: an idle group stops ticking on every member and
// sends nothing at all; a write or a read through a follower wakes it and
// is served as ever, and the group quiesces again afterwards.
func TestIdleGroupQuiesces(t *testing.T) {
	c := newClusterWith(t, []uint64{1, 2, 3}, clusterConfig{quiesce: true})
	lead := c.leader()
	c.propose(lead, "a 1")
	testutil.Eventually(t, "every member quiesced", c.allQuiesced)

	var sent atomic.Int64
	c.setFault(func(*pb.Message) fate { sent.Add(1); return deliver })
	before := c.members[lead].g.Status()
	// Fifty ticks of a group that ticks: 100 heartbeats and their answers.
	deadline := time.Now().Add(50 * 10 * time.Millisecond)
	for time.Now().Before(deadline) {
		if !c.allQuiesced() {
			t.Fatal("a member woke with nothing to do")
		}
		time.Sleep(10 * time.Millisecond) // watching for messages that should not come
	}
	if n := sent.Load(); n != 0 {
		t.Fatalf("a quiesced group sent %d messages", n)
	}

	f := c.follower(lead)
	c.propose(f, "b 2")
	if sent.Load() == 0 {
		t.Fatal("a write reached the group without a message")
	}
	for id := range c.members {
		if got := c.readAt(id, "b"); got != "2" {
			t.Fatalf("member %d reads b=%q after the write", id, got)
		}
	}
	testutil.Eventually(t, "quiesced again", c.allQuiesced)
	if st := c.members[lead].g.Status(); st.Leader != lead || st.Term != before.Term {
		t.Fatalf("leadership changed across quiescence: %+v, was %+v", st, before)
	}
	// A read alone, on a quiesced follower, wakes the group and is served.
	if got := c.readAt(f, "a"); got != "1" {
		t.Fatalf("read of a on a quiesced follower: %q", got)
	}
}

// TestQuiescedGroupOutlivesItsLeader: the leader of a quiesced group dies.
// Woken (as gossip does when it sees the leader's node down), the
// followers elect another; and without a wake, a write through a follower
// wakes it, and it elects one itself. Nothing written is lost.
func TestQuiescedGroupOutlivesItsLeader(t *testing.T) {
	for _, woken := range []bool{true, false} {
		t.Run(fmt.Sprintf("woken=%v", woken), func(t *testing.T) {
			c := newClusterWith(t, []uint64{1, 2, 3}, clusterConfig{quiesce: true})
			lead := c.leader()
			c.propose(lead, "a 1")
			testutil.Eventually(t, "every member quiesced", c.allQuiesced)
			c.stop(c.members[lead])
			var alive []uint64
			for id, m := range c.members {
				if m.cancel != nil {
					alive = append(alive, id)
					if woken {
						m.g.Wake()
					}
				}
			}
			if woken {
				testutil.Eventually(t, "a new leader", func() bool {
					l := c.members[alive[0]].g.Status().Leader
					return l != 0 && l != lead
				})
			}
			c.propose(alive[0], "b 2")
			for _, id := range alive {
				if a, b := c.readAt(id, "a"), c.readAt(id, "b"); a != "1" || b != "2" {
					t.Fatalf("member %d reads a=%q b=%q", id, a, b)
				}
			}
		})
	}
}

// TestFollowerThatMissedTheLastHeartbeat: a follower that never hears
// that the group quiesced keeps ticking and stands for election; that
// wakes the group without deposing its leader, and once the follower hears
// a marked heartbeat, all quiesce.
func TestFollowerThatMissedTheLastHeartbeat(t *testing.T) {
	c := newClusterWith(t, []uint64{1, 2, 3}, clusterConfig{quiesce: true})
	lead := c.leader()
	deaf := c.follower(lead)
	var stood atomic.Bool
	c.setFault(func(m *pb.Message) fate {
		if m.GetType() == pb.MsgPreVote && m.GetFrom() == deaf {
			stood.Store(true)
		}
		if m.GetTo() == deaf && isQuiesceMsg(m) && !stood.Load() {
			return lose
		}
		return deliver
	})
	c.propose(lead, "a 1")
	term := c.members[lead].g.Status().Term
	testutil.Eventually(t, "the deaf follower stands for election", stood.Load)
	testutil.Eventually(t, "every member quiesced", c.allQuiesced)
	for id, m := range c.members {
		if st := m.g.Status(); st.Leader != lead || st.Term != term {
			t.Fatalf("member %d after the follower stood: leader %d term %d, was %d term %d", id, st.Leader, st.Term, lead, term)
		}
	}
}

// TestGroupWithAMemberBehindStaysAwake: while a member is cut off and
// misses writes, the group does not quiesce, so that it goes on sending
// the member what it lacks; once it has caught up, the group quiesces.
func TestGroupWithAMemberBehindStaysAwake(t *testing.T) {
	c := newClusterWith(t, []uint64{1, 2, 3}, clusterConfig{quiesce: true})
	lead := c.leader()
	behind := c.follower(lead)
	c.setCut(behind, true)
	c.propose(lead, "a 1")
	deadline := time.Now().Add(50 * 10 * time.Millisecond)
	for time.Now().Before(deadline) {
		if c.members[lead].g.Status().Quiesced {
			t.Fatal("the leader quiesced with a member behind")
		}
		time.Sleep(10 * time.Millisecond) // watching for a quiescence that should not come
	}
	c.setCut(behind, false)
	testutil.Eventually(t, "every member quiesced", c.allQuiesced)
	if got := c.members[behind].sm.get("a"); got != "1" {
		t.Fatalf("the member that was behind has a=%q", got)
	}
}
