package raftgroup

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestUndecodableConfChangeStops: a member that commits a conf change it
// cannot decode stops with ErrFatal and says why, in its log and from its
// methods, instead of skipping the entry; the process goes on, and so does
// the rest of the group.
func TestUndecodableConfChangeStops(t *testing.T) {
	var logs testutil.Buffer
	c := newClusterWith(t, []uint64{1, 2, 3}, clusterConfig{every: 1000, log: slog.New(slog.NewTextHandler(&logs, nil))})
	lead := c.leader()
	bad := c.follower(lead)
	c.setFault(func(m *pb.Message) fate {
		for _, e := range m.GetEntries() {
			if m.GetTo() == bad && e.GetType() == pb.EntryConfChange {
				e.Data = []byte{0xff} // a truncated field tag
			}
		}
		return deliver
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc := &pb.ConfChange{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(4)}
	if err := c.members[lead].g.ProposeConfChange(ctx, cc); err != nil {
		t.Fatal(err)
	}
	m := c.members[bad]
	testutil.Eventually(t, "the member to stop", func() bool {
		select {
		case <-m.done:
			return true
		default:
			return false
		}
	})
	if !errors.Is(m.err, ErrFatal) || !strings.Contains(m.err.Error(), "undecodable conf change") {
		t.Fatalf("Run returned %v", m.err)
	}
	if !strings.Contains(logs.String(), "raft group stopped on a fatal error") {
		t.Fatalf("the failure is not logged:\n%s", logs.String())
	}
	if _, _, err := m.g.Propose(ctx, []byte("k v")); err != m.err {
		t.Fatalf("Propose after the failure: %v", err)
	}
	if err := m.g.ReadIndex(ctx); err != m.err {
		t.Fatalf("ReadIndex after the failure: %v", err)
	}
	if err := m.g.ProposeConfChange(ctx, cc); err != m.err {
		t.Fatalf("ProposeConfChange after the failure: %v", err)
	}
	if err := m.g.Bootstrap([]uint64{1}); err != m.err {
		t.Fatalf("Bootstrap after the failure: %v", err)
	}
	c.propose(lead, "still going")
}

// TestFailingStateMachineStops: a machine that cannot apply a committed
// command (its storage failed) says so with an error wrapping ErrFatal, and
// its member stops instead of applying the next command without this one.
// Every other member applies it, and the proposer hears the result.
func TestFailingStateMachineStops(t *testing.T) {
	c := newClusterWith(t, []uint64{1, 2, 3}, clusterConfig{every: 1000})
	lead := c.leader()
	bad := c.members[c.follower(lead)]
	bad.sm.mu.Lock()
	bad.sm.failOn = "broken"
	bad.sm.mu.Unlock()
	c.propose(lead, "broken v")
	testutil.Eventually(t, "the failing member to stop", func() bool {
		select {
		case <-bad.done:
			return true
		default:
			return false
		}
	})
	if !errors.Is(bad.err, ErrFatal) || !strings.Contains(bad.err.Error(), "state machine failed") {
		t.Fatalf("Run returned %v", bad.err)
	}
	for _, m := range c.members {
		if m != bad {
			testutil.Eventually(t, "the others to apply it", func() bool { return m.sm.get("broken") == "v" })
		}
	}
	c.propose(lead, "after x")
	if got := bad.sm.get("after"); got != "" {
		t.Fatalf("the stopped member applied a later command: %q", got)
	}
}
