package raftgroup

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/testutil"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestRestartedFollowerCatchesUpFromLog: a follower stopped while fewer
// entries than KeepEntries commit catches up from the log when it comes
// back, although the others took snapshots meanwhile and restarted (so
// the tail they serve came from Pebble): no snapshot is sent to it.
func TestRestartedFollowerCatchesUpFromLog(t *testing.T) {
	c := newClusterWith(t, []uint64{1, 2, 3}, clusterConfig{every: 20, keep: 1000})
	lead := c.leader()
	for i := range 30 { // everyone takes a snapshot
		c.propose(lead, fmt.Sprintf("k%d v%d", i, i))
	}
	lag := c.follower(lead)
	testutil.Eventually(t, "the follower to apply", func() bool { return c.members[lag].sm.get("k29") == "v29" })
	c.stop(c.members[lag])
	for i := 30; i < 330; i++ { // 15 snapshots; more than the 100 entries kept before
		c.propose(lead, fmt.Sprintf("k%d v%d", i, i))
	}
	for id, m := range c.members {
		if id != lag {
			c.members[id] = c.restart(m)
		}
	}
	var snaps atomic.Int32
	c.setFault(func(m *pb.Message) fate {
		if m.GetType() == pb.MsgSnap && m.GetTo() == lag {
			snaps.Add(1)
		}
		return deliver
	})
	m := c.open(lag, c.members[lag].dir)
	opened := m.sm.restored() // its own snapshot, at Open
	c.run(m)
	c.propose(c.leader(), "k330 v330")
	testutil.Eventually(t, "the follower to catch up", func() bool { return m.sm.get("k330") == "v330" })
	if n, r := snaps.Load(), m.sm.restored()-opened; n != 0 || r != 0 {
		t.Fatalf("%d snapshot messages sent to the follower, %d restored by it; want it to catch up from the log", n, r)
	}
}

// TestLogStoreKeepsTail: a snapshot taken here keeps the log from
// compactTo in Pebble, and a restart serves it again; a snapshot received
// from the leader replaces the whole log.
func TestLogStoreKeepsTail(t *testing.T) {
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	l := logStore{eng: eng, group: 7}
	var ents []*pb.Entry
	for i := uint64(1); i <= 50; i++ {
		ents = append(ents, &pb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(1 + i/20), Data: []byte{byte(i)}})
	}
	hs := &pb.HardState{Term: proto.Uint64(3), Commit: proto.Uint64(50)}
	if err := l.save(hs, ents, nil, true, 0); err != nil {
		t.Fatal(err)
	}
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	snap := &pb.Snapshot{Data: []byte("state"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(40), Term: proto.Uint64(3), ConfState: cs}}
	if err := l.saveSnapshot(snap, 30); err != nil {
		t.Fatal(err)
	}
	ms, found, err := l.load()
	if err != nil || !found {
		t.Fatalf("load: %v, found %v", err, found)
	}
	first, _ := ms.FirstIndex()
	last, _ := ms.LastIndex()
	term, _ := ms.Term(30)
	got, _ := ms.Snapshot()
	_, gotCS, _ := ms.InitialState()
	if first != 31 || last != 50 || term != 2 || got.GetMetadata().GetIndex() != 40 || string(got.GetData()) != "state" || len(gotCS.GetVoters()) != 3 {
		t.Fatalf("log %d..%d, term(30)=%d, snapshot at %d (%q), voters %v", first, last, term, got.GetMetadata().GetIndex(), got.GetData(), gotCS.GetVoters())
	}
	// A snapshot from the leader at 60, then the entries after it.
	snap = &pb.Snapshot{Data: []byte("new"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(60), Term: proto.Uint64(4), ConfState: cs}}
	after := []*pb.Entry{{Index: proto.Uint64(61), Term: proto.Uint64(4)}}
	if err := l.save(nil, after, snap, true, 50); err != nil {
		t.Fatal(err)
	}
	if ms, _, err = l.load(); err != nil {
		t.Fatal(err)
	}
	first, _ = ms.FirstIndex()
	last, _ = ms.LastIndex()
	if first != 61 || last != 61 {
		t.Fatalf("after a received snapshot, log %d..%d", first, last)
	}
}

// TestLogStoreReplacesAConflictingTail: entries that overwrite part of the
// log (a new leader's, after this member took entries an old one never
// committed) replace it and everything after it; entries that extend the
// log leave it as it is.
func TestLogStoreReplacesAConflictingTail(t *testing.T) {
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	l := logStore{eng: eng, group: 3}
	entries := func(from, to, term uint64) []*pb.Entry {
		var out []*pb.Entry
		for i := from; i <= to; i++ {
			out = append(out, &pb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(term)})
		}
		return out
	}
	terms := func() string {
		t.Helper()
		ms, _, err := l.load()
		if err != nil {
			t.Fatal(err)
		}
		first, _ := ms.FirstIndex()
		last, _ := ms.LastIndex()
		out := ""
		for i := first; i <= last; i++ {
			term, _ := ms.Term(i)
			out += fmt.Sprint(term)
		}
		return out
	}
	steps := []struct {
		ents []*pb.Entry
		last uint64
		want string
	}{
		{entries(1, 10, 1), 0, "1111111111"},
		{entries(11, 12, 1), 10, "111111111111"},
		{entries(6, 7, 2), 12, "1111122"},
		{entries(8, 9, 2), 7, "111112222"},
	}
	for i, st := range steps {
		if err := l.save(nil, st.ents, nil, false, st.last); err != nil {
			t.Fatal(err)
		}
		if got := terms(); got != st.want {
			t.Fatalf("step %d: terms %s, want %s", i, got, st.want)
		}
	}
}
