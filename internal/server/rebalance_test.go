package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/quorum"
)

// writer writes keys at QUORUM through random nodes until stopped, each
// key once, and remembers those acknowledged.
type writer struct {
	mu    sync.Mutex
	acked map[string]string
	stop  chan struct{}
	done  sync.WaitGroup
}

func (s *sim) startWriter(prefix string, via ...string) *writer {
	wr := &writer{acked: map[string]string{}, stop: make(chan struct{})}
	kvs := make([]api.KV, len(via)) // resolved now: s.nodes changes as nodes join
	for i, id := range via {
		kvs[i] = s.kv(id)
	}
	for g := range 4 {
		wr.done.Add(1)
		go func() {
			defer wr.done.Done()
			for i := 0; ; i++ {
				select {
				case <-wr.stop:
					return
				default:
				}
				key := fmt.Sprintf("%s-%d-%d", prefix, g, i)
				kv := kvs[rand.IntN(len(kvs))]
				if _, err := kv.Put(bg, "default", []byte(key), []byte("v"+key), api.PutOptions{Write: w(quorum.Quorum)}); err != nil {
					continue // not acknowledged: nothing promised
				}
				wr.mu.Lock()
				wr.acked[key] = "v" + key
				wr.mu.Unlock()
			}
		}()
	}
	return wr
}

// halt stops the writer and returns what it had acknowledged.
func (wr *writer) halt() map[string]string {
	close(wr.stop)
	wr.done.Wait()
	return wr.acked
}

// join starts a node that joins the running cluster as a candidate.
func (s *sim) join(id string) {
	s.t.Helper()
	s.start(id, s.t.TempDir(), clock.NewOffset(0))
	testutil.Eventually(s.t, id+" a candidate", func() bool {
		return slices.Contains(s.nodes["n1"].node.Meta().Candidates(), id)
	})
}

// move stages changes through n1, commits them and waits until the ring
// has switched on every node.
func (s *sim) move(changes ...metadata.Change) *metadata.Move {
	s.t.Helper()
	meta := s.nodes["n1"].node.Meta()
	// A change is refused while the metadata group has no quorum (a dead
	// voter being replaced, an election): an operator tries again.
	retry := func(what string, f func() error) {
		s.t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for err := f(); err != nil; err = f() {
			if !errors.Is(err, metadata.ErrNoQuorum) || time.Now().After(deadline) {
				s.t.Fatalf("%s: %v", what, err)
			}
		}
	}
	for _, c := range changes {
		retry(fmt.Sprint("stage ", c), func() error { return meta.Stage(bg, c) })
	}
	var m *metadata.Move
	retry("commit", func() (err error) { m, err = meta.Commit(bg); return err })
	deadline := time.Now().Add(60 * time.Second)
	for _, sn := range s.nodes {
		if sn.cancel == nil {
			continue
		}
		for st := sn.node.Meta().State(); st.Move != nil || st.LastMove < m.ID; st = sn.node.Meta().State() {
			if time.Now().After(deadline) {
				for _, o := range s.nodes {
					if o.cancel != nil {
						s.t.Logf("%s's part: %+v", o.id, o.node.Moves().Status())
					}
				}
				s.t.Fatalf("move %d not finished on %s: transfers left %+v", m.ID, sn.id, st.Remaining())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return m
}

// onReplicas waits until every key of want is held, with its value, by
// every replica the ring gives it, and checks QUORUM reads through via.
func (s *sim) onReplicas(want map[string]string, via string) {
	s.t.Helper()
	st := s.nodes[via].node.Meta().State()
	def, _ := st.Namespace("default")
	byNode := map[string]map[string]string{}
	for k, v := range want {
		for _, id := range st.Ring.Preference(st.Ring.Partition(storage.Hash("default", []byte(k))), st.Replicas(def)) {
			if byNode[id] == nil {
				byNode[id] = map[string]string{}
			}
			byNode[id][k] = v
		}
	}
	for id, keys := range byNode {
		var wrong []string
		testutil.Eventually(s.t, fmt.Sprintf("%s to hold its %d keys", id, len(keys)), func() bool {
			wrong = s.holds(id, keys)
			return len(wrong) == 0
		})
	}
	for k, v := range want {
		got, err := s.kv(via).Get(bg, "default", []byte(k), r(quorum.Quorum))
		if err != nil || string(got.Value) != v {
			s.t.Fatalf("QUORUM read of %s through %s: %+v %v, want %q", k, via, got, err, v)
		}
	}
}

func balanced(t *testing.T, st *metadata.State, nodes ...string) {
	t.Helper()
	p := st.Ring.Partitions()
	if got := st.Ring.Nodes(); !slices.Equal(got, nodes) {
		t.Fatalf("owners %v, want %v", got, nodes)
	}
	for _, id := range nodes {
		if n := len(st.Ring.PartitionsOf(id)); n < p/len(nodes) || n > (p+len(nodes)-1)/len(nodes) {
			t.Fatalf("%s owns %d of %d partitions on %d nodes", id, n, p, len(nodes))
		}
	}
}

// TestGrowAndShrinkUnderWrites: 3 nodes grow to 5 and shrink back to 3
// while writes go on through every node; read repair and anti-entropy are
// off, so only the move's dual writes and transfers place data. Every
// acknowledged write is then on each of its replicas in the new ring and
// read back at QUORUM, the ring is balanced, and the nodes that left own
// nothing and are removed for good.
func TestGrowAndShrinkUnderWrites(t *testing.T) {
	s := newSimWith(t, 3, func(c *NodeConfig) { c.DisableAntiEntropy, c.DisableReadRepair = true, true })
	before := s.startWriter("before", "n1", "n2", "n3")
	testutil.Eventually(t, "some writes", func() bool { before.mu.Lock(); defer before.mu.Unlock(); return len(before.acked) > 300 })
	s.join("n4")
	s.join("n5")
	during := s.startWriter("grow", "n1", "n2", "n3", "n4", "n5")
	s.move(metadata.Change{Kind: metadata.ChangeJoin, Node: "n4"}, metadata.Change{Kind: metadata.ChangeJoin, Node: "n5"})
	want := before.halt()
	for k, v := range during.halt() {
		want[k] = v
	}
	balanced(t, s.nodes["n1"].node.Meta().State(), "n1", "n2", "n3", "n4", "n5")
	s.onReplicas(want, "n5")
	t.Logf("grown to 5 with %d acknowledged writes", len(want))

	shrink := s.startWriter("shrink", "n1", "n2", "n3")
	s.move(metadata.Change{Kind: metadata.ChangeLeave, Node: "n4"}, metadata.Change{Kind: metadata.ChangeLeave, Node: "n5"})
	for k, v := range shrink.halt() {
		want[k] = v
	}
	balanced(t, s.nodes["n1"].node.Meta().State(), "n1", "n2", "n3")
	s.onReplicas(want, "n2")
	for _, id := range []string{"n4", "n5"} {
		s.down(id)
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		err := s.nodes["n1"].node.Meta().Remove(ctx, id)
		cancel()
		if err != nil {
			t.Fatalf("remove %s after it left: %v", id, err)
		}
	}
	t.Logf("shrunk to 3 with %d acknowledged writes", len(want))
}

// TestTransferResumes: the node receiving partitions is killed in the
// middle of a throttled transfer and started again: the move finishes, and
// what it pulled after the restart is what was left, not the whole: key
// ranges already copied compare equal and are not sent again.
func TestTransferResumes(t *testing.T) {
	s := newSimWith(t, 3, func(c *NodeConfig) { c.DisableAntiEntropy, c.DisableReadRepair = true, true })
	value := make([]byte, 512)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 3000; i += 8 {
				if _, err := s.kv("n1").Put(bg, "default", fmt.Appendf(nil, "k%d", i), value, api.PutOptions{Write: w(quorum.All)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	meta := s.nodes["n1"].node.Meta()
	if err := meta.SetThrottle(bg, 256<<10); err != nil {
		t.Fatal(err)
	}
	s.join("n4")
	if err := meta.Stage(bg, metadata.Change{Kind: metadata.ChangeJoin, Node: "n4"}); err != nil {
		t.Fatal(err)
	}
	m, err := meta.Commit(bg)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "n4 to have pulled 300 KiB", func() bool { return s.nodes["n4"].node.Moves().Status().Bytes > 300<<10 })
	s.stop("n4")
	before := s.nodes["n4"].node.Moves().Status().Bytes
	if err := meta.SetThrottle(bg, 0); err != nil {
		t.Fatal(err)
	}
	sn := s.nodes["n4"]
	s.start("n4", sn.dir, sn.clock)
	testutil.Eventually(t, "the move to finish", func() bool { return meta.State().LastMove == m.ID })
	after := s.nodes["n4"].node.Moves().Status().Bytes

	// What pulling n4's share whole costs: its records of the keys it
	// gained, keys included.
	st := meta.State()
	var whole int64
	for i := range 3000 {
		key := fmt.Appendf(nil, "k%d", i)
		if !slices.Contains(s.replicasOf("default", key), "n4") {
			continue
		}
		rec, found, err := s.nodes["n4"].node.Store().Read("default", key)
		if err != nil || !found {
			t.Fatalf("n4 lacks %s after the move: %v", key, err)
		}
		whole += int64(len(key) + len(replica.AppendRecord(nil, &rec)))
	}
	t.Logf("n4's share: %d bytes; pulled %d before the kill, %d after (move %d, ring of %d nodes)", whole, before, after, m.ID, st.Ring.NumNodes())
	if before+after > whole+whole/20 {
		t.Fatalf("pulled %d+%d bytes for a share of %d: finished ranges were sent again", before, after, whole)
	}
}

// TestReplaceADeadNode: n3 dies; writes go on; a new node n4 replaces it
// with exactly its partitions, copied from the replicas that are left;
// every acknowledged write is then on all three replicas of the new ring,
// and n3 is removed for good.
func TestReplaceADeadNode(t *testing.T) {
	s := newSimWith(t, 3, func(c *NodeConfig) { c.DisableAntiEntropy, c.DisableReadRepair = true, true })
	before := s.startWriter("alive", "n1", "n2", "n3")
	testutil.Eventually(t, "some writes", func() bool { before.mu.Lock(); defer before.mu.Unlock(); return len(before.acked) > 300 })
	want := before.halt()
	owned := s.nodes["n1"].node.Meta().State().Ring.PartitionsOf("n3")
	s.down("n3")
	dead := s.startWriter("dead", "n1", "n2")
	testutil.Eventually(t, "writes with n3 down", func() bool { dead.mu.Lock(); defer dead.mu.Unlock(); return len(dead.acked) > 300 })
	s.join("n4")
	s.move(metadata.Change{Kind: metadata.ChangeReplace, Node: "n3", With: "n4"})
	for k, v := range dead.halt() {
		want[k] = v
	}
	st := s.nodes["n1"].node.Meta().State()
	if got := st.Ring.PartitionsOf("n4"); !slices.Equal(got, owned) {
		t.Fatalf("n4 owns %v; n3 owned %v", got, owned)
	}
	s.onReplicas(want, "n4")
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if err := s.nodes["n1"].node.Meta().Remove(ctx, "n3"); err != nil {
		t.Fatalf("removing the replaced node: %v", err)
	}
	t.Logf("%d acknowledged writes on n1, n2 and n4 after n4 replaced n3", len(want))
}

// TestARegainedPartitionBringsNothingBack: n4 replaces n1, which keeps its
// old copy of every partition; every key is then deleted and, once n2, n3
// and n4 all hold the tombstones and the grace has passed, the tombstones
// leave their disks. When n1 takes its partitions back, its old copy must
// not come with it: a node clears what it holds of a partition before it
// gains it again, and no deleted key reads back.
func TestARegainedPartitionBringsNothingBack(t *testing.T) {
	const grace = time.Hour
	s := newSimWith(t, 3, func(c *NodeConfig) {
		c.DisableHints, c.DisableReadRepair = true, true
		c.ManualAntiEntropy = true // rounds run when the test says
		c.HintMaxAge, c.TombstoneGrace = grace, grace
	})
	const keys = 300
	deleted := map[string]string{}
	for i := range keys {
		k := fmt.Sprint("k", i)
		if _, err := s.kv("n1").Put(bg, "default", []byte(k), []byte(k), api.PutOptions{Write: w(quorum.All)}); err != nil {
			t.Fatal(err)
		}
		deleted[k] = ""
	}
	s.join("n4")
	s.move(metadata.Change{Kind: metadata.ChangeReplace, Node: "n1", With: "n4"})
	if tombs, all := s.tombstones("n1"); all != keys || tombs != 0 {
		t.Fatalf("n1 holds %d records (%d tombstones) after it was replaced; want its old copy of all %d", all, tombs, keys)
	}
	for k := range deleted {
		if _, _, err := s.kv("n2").Delete(bg, "default", []byte(k), w(quorum.All)); err != nil {
			t.Fatal(err)
		}
	}
	ahead := time.Duration(0)
	owners := []string{"n2", "n3", "n4"}
	testutil.Eventually(t, "the tombstones to leave n2, n3 and n4", func() bool {
		ahead += grace
		for _, id := range s.nodes {
			id.clock.Set(ahead)
		}
		left := 0
		for _, id := range owners {
			s.nodes[id].node.AntiEntropy().Round(bg)
		}
		for _, id := range owners {
			tombs, _ := s.tombstones(id)
			left += tombs
		}
		return left == 0
	})
	s.move(metadata.Change{Kind: metadata.ChangeReplace, Node: "n4", With: "n1"})
	if wrong := s.holds("n1", deleted); len(wrong) > 0 {
		t.Fatalf("n1 took its partitions back with %d deleted keys, e.g. %s", len(wrong), wrong[0])
	}
	for k := range deleted {
		if e, err := s.kv("n3").Get(bg, "default", []byte(k), r(quorum.All)); err == nil && len(e.Value) > 0 {
			t.Fatalf("%s was deleted, and reads back %q at ALL once n1 is a replica again", k, e.Value)
		}
	}
}
