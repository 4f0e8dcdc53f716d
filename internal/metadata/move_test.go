package metadata

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// member adds a member that owns nothing, as an admitted node is.
func addMember(t *testing.T, s *State, id string, raftID uint64) {
	t.Helper()
	if err := apply(s, &command{Op: opAddMember, Member: &Member{ID: id, RaftID: raftID}}); err != nil {
		t.Fatal(err)
	}
}

// finish reports every remaining transfer done, one at a time, checking
// that the ring switches with the last one and not before.
func finish(t *testing.T, s *State) {
	t.Helper()
	id := s.Move.ID
	rest := s.Remaining()
	if len(rest) == 0 {
		t.Fatal("a move with nothing to transfer was left under way")
	}
	old := s.Ring
	for i, tr := range rest {
		if s.Ring != old {
			t.Fatalf("the ring switched after %d of %d transfers", i, len(rest))
		}
		if err := apply(s, &command{Op: opMoved, Move: id, Partition: tr.Partition, Name: tr.To}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Move != nil || s.LastMove != id {
		t.Fatalf("after every transfer: move %+v, last %d", s.Move, s.LastMove)
	}
}

// TestGrowAndShrink: staged joins and leaves commit as one move; during it
// writes reach the nodes that gain a partition (Pending) while the ring is
// unchanged; the last transfer switches to a balanced ring; a leaving node
// then owns nothing and can be removed.
func TestGrowAndShrink(t *testing.T) {
	s := FixedCluster([]string{"n1", "n2", "n3"}, 16)
	addMember(t, s, "n4", 4)
	addMember(t, s, "n5", 5)
	for _, id := range []string{"n4", "n5"} {
		if err := apply(s, &command{Op: opStage, Change: &Change{Kind: ChangeJoin, Node: id}}); err != nil {
			t.Fatal(err)
		}
	}
	staged := slices.Clone(s.Staged)
	if err := apply(s, &command{Op: opCommit, Changes: staged}); err != nil {
		t.Fatal(err)
	}
	if s.Move == nil || len(s.Staged) != 0 {
		t.Fatalf("after commit: move %+v, staged %v", s.Move, s.Staged)
	}
	if err := apply(s, &command{Op: opCommit, Changes: staged}); err != nil {
		t.Fatalf("a retried commit: %v", err)
	}
	def := s.Namespaces["default"]
	pending := 0
	for p := range 16 {
		for _, n := range s.Pending(def, p) {
			if slices.Contains(s.Ring.Preference(p, 3), n) {
				t.Fatalf("partition %d: pending %s replicates it already", p, n)
			}
			pending++
		}
	}
	if pending == 0 || pending != len(s.Remaining()) {
		t.Fatalf("%d pending replicas, %d transfers", pending, len(s.Remaining()))
	}
	// The snapshot keeps the move.
	b, err := s.encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeState(b)
	if err != nil || back.Move == nil || !back.Move.Next.Equal(s.Move.Next) || back.Move.ID != s.Move.ID {
		t.Fatalf("after a snapshot: %+v %v", back.Move, err)
	}
	finish(t, s)
	for _, id := range []string{"n1", "n2", "n3", "n4", "n5"} {
		if got := len(s.Ring.PartitionsOf(id)); got < 3 || got > 4 {
			t.Fatalf("%s owns %d of 16 partitions on 5 nodes", id, got)
		}
	}
	if s.Pending(def, 0) != nil {
		t.Fatal("pending replicas after the move")
	}
	// A stale report of the finished move changes nothing.
	before := s.Ring
	if err := apply(s, &command{Op: opMoved, Move: s.LastMove, Partition: 0, Name: "n1"}); err != nil || s.Ring != before {
		t.Fatal("a stale transfer report changed the ring")
	}

	// Shrink back to three.
	if err := apply(s, &command{Op: opRemoveMember, Name: "n5"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("removing an owner: %v", err)
	}
	for _, id := range []string{"n4", "n5"} {
		if err := apply(s, &command{Op: opStage, Change: &Change{Kind: ChangeLeave, Node: id}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := apply(s, &command{Op: opRemoveMember, Name: "n5"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("removing a node a staged change names: %v", err)
	}
	if err := apply(s, &command{Op: opCommit, Changes: s.Staged}); err != nil {
		t.Fatal(err)
	}
	finish(t, s)
	if got := s.Ring.Nodes(); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("owners after the leaves: %v", got)
	}
	for _, id := range []string{"n4", "n5"} {
		if err := apply(s, &command{Op: opRemoveMember, Name: id}); err != nil {
			t.Fatalf("removing %s once it owns nothing: %v", id, err)
		}
	}
}

// TestReplace: a replacement moves exactly the replaced node's partitions
// to the new node, pulled from their other replicas.
func TestReplace(t *testing.T) {
	s := FixedCluster([]string{"n1", "n2", "n3", "n4"}, 16)
	addMember(t, s, "n9", 9)
	owned := s.Ring.PartitionsOf("n2")
	if err := apply(s, &command{Op: opStage, Change: &Change{Kind: ChangeReplace, Node: "n2", With: "n9"}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(s, &command{Op: opCommit, Changes: s.Staged}); err != nil {
		t.Fatal(err)
	}
	for _, tr := range s.Remaining() {
		if tr.To != "n9" {
			t.Fatalf("transfer %+v: only n9 gains partitions", tr)
		}
	}
	finish(t, s)
	if got := s.Ring.PartitionsOf("n9"); !slices.Equal(got, owned) {
		t.Fatalf("n9 owns %v, n2 owned %v", got, owned)
	}
}

// TestStagingRefusals: what cannot apply is refused when staged, with the
// staged changes unchanged; a commit of a plan that changed since is
// refused; so is a change that would shrink a strong namespace's groups.
func TestStagingRefusals(t *testing.T) {
	s := FixedCluster([]string{"n1", "n2", "n3"}, 16)
	addMember(t, s, "n4", 4)
	stage := func(c Change) error { return apply(s, &command{Op: opStage, Change: &c}) }
	for _, c := range []Change{
		{Kind: ChangeJoin, Node: "n7"},                 // not a member
		{Kind: ChangeJoin, Node: "n1"},                 // owns partitions
		{Kind: ChangeLeave, Node: "n4"},                // owns nothing
		{Kind: ChangeReplace, Node: "n4", With: "n1"},  // n4 owns nothing
		{Kind: ChangeReplace, Node: "n1", With: "n2"},  // n2 owns partitions
		{Kind: "swap", Node: "n1"},                     // unknown
		{Kind: ChangeReplace, Node: "n1", With: "n77"}, // not a member
	} {
		if err := stage(c); err == nil {
			t.Errorf("staging %v: no error", c)
		}
	}
	if len(s.Staged) != 0 {
		t.Fatalf("refused changes were staged: %v", s.Staged)
	}
	if err := apply(s, &command{Op: opCommit}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a commit with nothing staged: %v", err)
	}
	if err := stage(Change{Kind: ChangeJoin, Node: "n4"}); err != nil {
		t.Fatal(err)
	}
	if err := stage(Change{Kind: ChangeJoin, Node: "n4"}); err != nil || len(s.Staged) != 1 {
		t.Fatalf("a retried stage: %v, staged %v", err, s.Staged)
	}
	if err := stage(Change{Kind: ChangeReplace, Node: "n1", With: "n4"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a change conflicting with a staged one: %v", err)
	}
	if err := apply(s, &command{Op: opCommit, Changes: []Change{{Kind: ChangeLeave, Node: "n1"}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a commit of another plan: %v", err)
	}
	create := &command{Op: opCreateNamespace, Namespace: &Namespace{Name: "bank", N: 3, Model: Strong, Type: Bytes, MaxSiblings: 1}}
	if err := apply(s, create); err != nil {
		t.Fatal(err)
	}
	if err := apply(s, &command{Op: opClearStaged}); err != nil || len(s.Staged) != 0 {
		t.Fatalf("clear: %v, staged %v", err, s.Staged)
	}
	if err := stage(Change{Kind: ChangeLeave, Node: "n1"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "strong namespace bank would keep 2 replicas") {
		t.Fatalf("a leave that shrinks a strong namespace's groups: %v", err)
	}
}

// TestStrongPartitionsMove: a move of a cluster with a strong namespace
// lists its partitions' new replicas as transfers, names the voters each
// group should have, and orders the replicas a request tries: those that
// stay, those joining, those leaving.
func TestStrongPartitionsMove(t *testing.T) {
	s := FixedCluster([]string{"n1", "n2", "n3"}, 16)
	addMember(t, s, "n4", 4)
	create := &command{Op: opCreateNamespace, Namespace: &Namespace{Name: "bank", N: 3, Model: Strong, Type: Bytes, MaxSiblings: 1}}
	if err := apply(s, create); err != nil {
		t.Fatal(err)
	}
	bank := s.Namespaces["bank"]
	moving, err := s.Moving(100, Change{Kind: ChangeReplace, Node: "n2", With: "n4"})
	if err != nil {
		t.Fatal(err)
	}
	trs := moving.Transfers(moving.Move.Next)
	if len(trs) != 16 {
		t.Fatalf("%d transfers; n4 takes all 16 partitions of n2", len(trs))
	}
	for _, tr := range trs {
		if tr.To != "n4" {
			t.Fatalf("transfer %+v: only n4 gains", tr)
		}
		if got := moving.Gains(bank, tr.Partition); !slices.Equal(got, []string{"n4"}) {
			t.Fatalf("partition %d gains %v", tr.Partition, got)
		}
		if moving.Pending(bank, tr.Partition) != nil {
			t.Fatalf("partition %d: a strong partition has pending replicas for dual writes", tr.Partition)
		}
		servers, staying := moving.StrongServers(bank, tr.Partition)
		if staying != 2 || len(servers) != 4 || servers[2] != "n4" || servers[3] != "n2" || slices.Contains(servers[:2], "n2") {
			t.Fatalf("partition %d: servers %v, %d staying", tr.Partition, servers, staying)
		}
		want := moving.Move.Next.Preference(tr.Partition, 3)
		if got := moving.GroupReplicas(bank, tr.Partition); !slices.Equal(got, want) {
			t.Fatalf("partition %d: group replicas %v, want the next ring's %v", tr.Partition, got, want)
		}
	}
	finish(t, moving)
	for p := range moving.Ring.Partitions() {
		servers, staying := moving.StrongServers(bank, p)
		if !slices.Equal(servers, moving.Ring.Preference(p, 3)) || staying != 3 {
			t.Fatalf("after the move, partition %d: servers %v, %d staying", p, servers, staying)
		}
	}
}
