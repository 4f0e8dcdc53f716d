package raftgroup

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pandodb/pando/internal/testutil"
	pb "go.etcd.io/raft/v3/raftpb"
)

// TestLostSnapshotIsResent: a follower whose snapshot message is lost,
// whether the transport knows the send failed or believes it went out,
// gets another and catches up, with no change of leader.
func TestLostSnapshotIsResent(t *testing.T) {
	for _, tc := range []struct {
		name string
		fate fate
	}{{"send fails", fail}, {"lost after sending", lose}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClusterWith(t, []uint64{1, 2, 3}, clusterConfig{every: 10, keep: 5})
			lead := c.leader()
			lag := c.follower(lead)
			c.setCut(lag, true)
			for i := range 40 { // the log the follower needs is compacted away
				c.propose(lead, fmt.Sprintf("k%d v%d", i, i))
			}
			var snaps atomic.Int32
			c.setFault(func(m *pb.Message) fate {
				if m.GetType() == pb.MsgSnap && m.GetTo() == lag && snaps.Add(1) == 1 {
					return tc.fate
				}
				return deliver
			})
			term := c.members[lead].g.Status().Term
			c.setCut(lag, false)
			m := c.members[lag]
			testutil.Eventually(t, "the follower to catch up", func() bool { return m.sm.get("k39") == "v39" })
			if st := c.members[lead].g.Status(); st.Leader != lead || st.Term != term {
				t.Fatalf("leader %d in term %d, then %d in term %d", lead, term, st.Leader, st.Term)
			}
			if n := snaps.Load(); n < 2 {
				t.Fatalf("%d snapshot messages to the follower; want the lost one and another", n)
			}
		})
	}
}

// TestUnreachablePeerIsProbed: once the transport reports a follower
// unreachable, the leader probes it with one append at a time instead of
// streaming every new entry to it; it catches up when reachable again.
func TestUnreachablePeerIsProbed(t *testing.T) {
	c := newCluster(t, []uint64{1, 2, 3}, 1000)
	lead := c.leader()
	lag := c.follower(lead)
	m := c.members[lag]
	c.propose(lead, "warm up")
	testutil.Eventually(t, "the follower to replicate", func() bool { return m.sm.get("warm") == "up" })
	var appends atomic.Int32
	c.setFault(func(m *pb.Message) fate {
		if m.GetTo() != lag && m.GetFrom() != lag {
			return deliver
		}
		if m.GetType() == pb.MsgApp && len(m.GetEntries()) > 0 {
			appends.Add(1)
		}
		return fail
	})
	for i := range 50 {
		c.propose(lead, fmt.Sprintf("k%d v%d", i, i))
	}
	if n := appends.Load(); n > 5 {
		t.Fatalf("%d appends with entries sent to an unreachable follower for 50 proposals", n)
	}
	c.setFault(nil)
	testutil.Eventually(t, "the follower to catch up", func() bool { return m.sm.get("k49") == "v49" })
}
