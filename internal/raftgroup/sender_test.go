package raftgroup

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// raftRecorder is a node that only receives Raft messages.
type raftRecorder struct {
	transport.Peer // nil: only Raft is called
	mu             sync.Mutex
	got            map[uint64][]pb.MessageType // by group
	requests       int
}

func (r *raftRecorder) Raft(_ context.Context, req *nodepb.RaftRequest) (*nodepb.RaftResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	for _, batch := range req.GetBatches() {
		for _, b := range batch.GetMessages() {
			var m pb.Message
			if err := proto.Unmarshal(b, &m); err != nil {
				return nil, err
			}
			r.got[batch.GetGroup()] = append(r.got[batch.GetGroup()], m.GetType())
		}
	}
	return &nodepb.RaftResponse{}, nil
}

func (r *raftRecorder) count(group uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got[group])
}

// TestSenderDeliversEachGroupsMessagesAndReportsToIt: one sender carries
// the messages of several groups; each reaches the peer under its own
// group, and what the sender learns (a peer it cannot reach, a snapshot
// lost) is told to the group that sent, not to the others.
func TestSenderDeliversEachGroupsMessagesAndReportsToIt(t *testing.T) {
	net := transport.NewMemNetwork()
	rec := &raftRecorder{got: map[uint64][]pb.MessageType{}}
	net.Register("n2", rec) // n3 is not on the network
	names := map[uint64]string{2: "n2", 3: "n3"}
	s := NewSender(net.Transport(), func(id uint64) (string, bool) { n, ok := names[id]; return n, ok }, nil)
	defer s.Close()

	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	groups := map[uint64]*Group{}
	for _, id := range []uint64{7, 9} {
		g, err := Open(Config{Group: id, ID: 1, Engine: eng, StateMachine: &kvSM{m: map[string]string{}}, Send: s.For(id)})
		if err != nil {
			t.Fatal(err)
		}
		s.Attach(id, g) // not running: reports stay queued for the test to read
		groups[id] = g
	}
	s.For(7)([]*pb.Message{
		{Type: pb.MsgApp.Enum(), To: proto.Uint64(2)},
		{Type: pb.MsgSnap.Enum(), To: proto.Uint64(3)},
	})
	s.For(9)([]*pb.Message{{Type: pb.MsgHeartbeat.Enum(), To: proto.Uint64(2)}})

	testutil.Eventually(t, "both groups' messages at n2", func() bool { return rec.count(7) == 1 && rec.count(9) == 1 })
	rec.mu.Lock()
	if rec.got[7][0] != pb.MsgApp || rec.got[9][0] != pb.MsgHeartbeat {
		t.Errorf("n2 got %v", rec.got)
	}
	rec.mu.Unlock()

	reports := func(g *Group) (unreachable bool, snap raft.SnapshotStatus, snapped bool) {
		g.reportMu.Lock()
		defer g.reportMu.Unlock()
		snap, snapped = g.snapReports[3]
		return g.unreachable[3], snap, snapped
	}
	testutil.Eventually(t, "group 7 told of n3", func() bool { u, _, ok := reports(groups[7]); return u && ok })
	if _, st, _ := reports(groups[7]); st != raft.SnapshotFailure {
		t.Errorf("group 7's lost snapshot reported as %v", st)
	}
	if u, _, ok := reports(groups[9]); u || ok {
		t.Errorf("group 9, which sent nothing to n3, was told about it (unreachable %v, snapshot %v)", u, ok)
	}
}

// gatedRecorder holds its first request until released.
type gatedRecorder struct {
	*raftRecorder
	first   sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g *gatedRecorder) Raft(ctx context.Context, req *nodepb.RaftRequest) (*nodepb.RaftResponse, error) {
	g.first.Do(func() { close(g.entered); <-g.release })
	return g.raftRecorder.Raft(ctx, req)
}

// TestSenderCarriesAFlushOfManyGroupsInOneRequest: what several groups
// queue for a peer while the previous request is on its way leaves in one
// request, not one per group, so a node's many groups cost a peer one call
// per flush.
func TestSenderCarriesAFlushOfManyGroupsInOneRequest(t *testing.T) {
	net := transport.NewMemNetwork()
	rec := &gatedRecorder{raftRecorder: &raftRecorder{got: map[uint64][]pb.MessageType{}}, entered: make(chan struct{}), release: make(chan struct{})}
	net.Register("n2", rec)
	s := NewSender(net.Transport(), func(id uint64) (string, bool) { return "n2", id == 2 }, nil)
	defer s.Close()

	heartbeat := []*pb.Message{{Type: pb.MsgHeartbeat.Enum(), To: proto.Uint64(2)}}
	s.Send(1, heartbeat)
	<-rec.entered // the first request is on its way and held
	for group := uint64(2); group <= 17; group++ {
		s.Send(group, heartbeat)
	}
	close(rec.release)
	testutil.Eventually(t, "every group's heartbeat at n2", func() bool {
		for group := uint64(1); group <= 17; group++ {
			if rec.count(group) != 1 {
				return false
			}
		}
		return true
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.requests != 2 {
		t.Fatalf("17 groups' messages took %d requests, want 2 (the first, then one for the 16 queued behind it)", rec.requests)
	}
}

// TestSenderHoldsOnlyPlainHeartbeats: with heartbeats coalesced, a flush of
// plain heartbeats waits for more, but a message of any other kind, or a
// heartbeat that carries a ReadIndex, leaves at once and takes the waiting
// heartbeats along. (The wait here is an hour: anything it held would fail
// the test.)
func TestSenderHoldsOnlyPlainHeartbeats(t *testing.T) {
	net := transport.NewMemNetwork()
	rec := &raftRecorder{got: map[uint64][]pb.MessageType{}}
	net.Register("n2", rec)
	s := NewSender(net.Transport(), func(id uint64) (string, bool) { return "n2", id == 2 }, nil)
	defer s.Close()
	s.CoalesceHeartbeats(time.Hour)

	for group := uint64(1); group <= 4; group++ {
		s.Send(group, []*pb.Message{{Type: pb.MsgHeartbeat.Enum(), To: proto.Uint64(2)}})
	}
	s.Send(5, []*pb.Message{{Type: pb.MsgApp.Enum(), To: proto.Uint64(2)}})
	testutil.Eventually(t, "the heartbeats with the append", func() bool {
		return rec.count(1) == 1 && rec.count(4) == 1 && rec.count(5) == 1
	})
	s.Send(6, []*pb.Message{{Type: pb.MsgHeartbeat.Enum(), To: proto.Uint64(2), Context: []byte("read-index")}})
	testutil.Eventually(t, "a ReadIndex heartbeat", func() bool { return rec.count(6) == 1 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.requests != 2 {
		t.Fatalf("%d requests, want 2: the heartbeats with the append, then the ReadIndex heartbeat", rec.requests)
	}
}
