package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/strong"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// createStrong creates strong namespace name with N = 3 and waits until
// every node knows it.
func createStrong(t *testing.T, s *sim, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	def := metadata.Namespace{Name: name, N: 3, Model: metadata.Strong, Type: metadata.Bytes, MaxSiblings: 16}
	if err := s.nodes[s.ids[0]].node.Meta().CreateNamespace(ctx, def); err != nil {
		t.Fatal(err)
	}
	for _, id := range s.ids {
		syncMeta(t, s, id)
	}
}

// outsider is a node that is not among pref (the replicas of a key).
func (s *sim) outsider(pref []string) string {
	for _, id := range s.ids {
		if !slices.Contains(pref, id) {
			return id
		}
	}
	s.t.Fatalf("every node replicates %v", pref)
	return ""
}

// TestStrongNamespaceLeadsFromItsFirstReplicas: creating a strong namespace
// opens a Raft group for each partition on its replicas, every group elects
// a leader, and leadership follows the ring, so the nodes share the
// leading as they share the partitions: the first replica is the group's
// preferred leader (random elections would leave two thirds of the
// partitions to another replica), and a group another replica won (a
// loaded machine's elections) is handed back to it. Writes and reads then
// go through any node.
func TestStrongNamespaceLeadsFromItsFirstReplicas(t *testing.T) {
	s := newSim(t, 3)
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	createStrong(t, s, "bank")
	st := s.nodes["n1"].node.Meta().State()
	ns, _ := st.Namespace("bank")
	parts := st.Ring.Partitions()
	testutil.Eventually(t, "every partition's group led by its first replica", func() bool {
		for p := range parts {
			first := metadata.RaftID(st.Ring.Preference(p, 3)[0])
			for _, id := range s.ids {
				gs, err := s.nodes[id].node.Strong().Status(strong.GroupID(ns.Generation, p))
				if err != nil || gs.Leader != first {
					return false
				}
			}
		}
		return true
	})
	// With 10ms ticks a loaded machine deposes leaders now and then: a
	// write answered UNKNOWN or UNAVAILABLE is written again (a SET of one
	// value is idempotent), and a read asked again.
	for i := range 20 {
		k := fmt.Appendf(nil, "acct:%d", i)
		testutil.Eventually(t, fmt.Sprintf("SET %s through %s", k, s.ids[i%3]), func() bool {
			_, err := s.kv(s.ids[i%3]).Put(ctx, "bank", k, []byte("100"), api.PutOptions{})
			return err == nil
		})
		var e api.Entry
		var err error
		testutil.Eventually(t, fmt.Sprintf("GET %s through %s", k, s.ids[(i+1)%3]), func() bool {
			e, err = s.kv(s.ids[(i+1)%3]).Get(ctx, "bank", k, api.ReadOptions{})
			return !errors.Is(err, api.ErrUnavailable) && !errors.Is(err, api.ErrOutcomeUnknown)
		})
		if err != nil || string(e.Value) != "100" {
			t.Fatalf("%s through another node: %q %v", k, e.Value, err)
		}
	}
}

// TestStrongRequestsThroughANodeThatIsNotAReplica: with four nodes and
// N = 3, a client may send a strong key's operations to the node that does
// not replicate it, which passes them to a replica's member: reads, writes,
// increments with their refusals, compare-and-set, DEL and transactions
// alike. When the partition's first replica (its usual leader) is down, the
// node passes them to the others.
func TestStrongRequestsThroughANodeThatIsNotAReplica(t *testing.T) {
	// Ticks of 50ms: the increments below are not idempotent, so they are
	// not retried, and 10ms ticks on a loaded machine depose leaders.
	s := newSimWith(t, 4, func(cfg *NodeConfig) { cfg.RaftTick = 50 * time.Millisecond })
	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	createStrong(t, s, "bank")
	key := []byte("{acct}.a")
	pref := s.replicasOf("bank", key)
	outsider := s.outsider(pref)
	kv := s.kv(outsider)
	st := kv.(api.Strong)
	// Retried while groups elect their first leaders, or a loaded machine
	// with 10ms ticks deposes one: a SET of one value is idempotent.
	set := func(k, v string) {
		t.Helper()
		testutil.Eventually(t, "SET "+k+" through "+outsider, func() bool {
			_, err := kv.Put(ctx, "bank", []byte(k), []byte(v), api.PutOptions{})
			return err == nil
		})
	}
	get := func(k string) (api.Entry, error) {
		t.Helper()
		var e api.Entry
		var err error
		testutil.Eventually(t, "GET "+k+" through "+outsider, func() bool {
			e, err = kv.Get(ctx, "bank", []byte(k), api.ReadOptions{})
			return !errors.Is(err, api.ErrUnavailable) && !errors.Is(err, api.ErrOutcomeUnknown)
		})
		return e, err
	}

	set("{acct}.a", "100")
	if e, err := get("{acct}.a"); err != nil || string(e.Value) != "100" {
		t.Fatalf("GET through %s, not a replica of %v: %q %v", outsider, pref, e.Value, err)
	}
	if _, err := get("{acct}.none"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("GET of an absent key through %s: %v", outsider, err)
	}
	if e, err := s.kv(pref[1]).Get(ctx, "bank", key, api.ReadOptions{}); err != nil || string(e.Value) != "100" {
		t.Fatalf("GET through replica %s: %q %v", pref[1], e.Value, err)
	}
	floor := int64(0)
	if n, err := st.IncrBy(ctx, "bank", key, -30, &floor, ""); err != nil || n != 70 {
		t.Fatalf("DEBIT 30 through %s: %d %v", outsider, n, err)
	}
	if _, err := st.IncrBy(ctx, "bank", key, -71, &floor, ""); !errors.Is(err, api.ErrBelowFloor) {
		t.Fatalf("DEBIT 71 of 70 through %s: %v, want the floor's refusal", outsider, err)
	}
	set("{acct}.word", "abc")
	if _, err := st.IncrBy(ctx, "bank", []byte("{acct}.word"), 1, nil, ""); !errors.Is(err, api.ErrNotInteger) {
		t.Fatalf("INCR of a word through %s: %v", outsider, err)
	}
	if ok, old, _, err := st.CompareAndSwap(ctx, "bank", key, []byte("71"), []byte("0")); err != nil || ok || string(old.Value) != "70" {
		t.Fatalf("CAS with a wrong expectation through %s: %v %q %v", outsider, ok, old.Value, err)
	}
	_, version, _, err := st.GetVersion(ctx, "bank", key)
	if err != nil || version == 0 {
		t.Fatalf("versioned read through %s: %d %v", outsider, version, err)
	}
	replies, aborted, err := st.Txn(ctx, "bank", []api.Watch{{Key: key, Version: version}}, []api.TxnOp{
		{Kind: api.TxnIncrBy, Key: key, Delta: -20, Floor: &floor},
		{Kind: api.TxnIncrBy, Key: []byte("{acct}.b"), Delta: 20},
		{Kind: api.TxnGet, Key: key},
	})
	if err != nil || aborted || replies[1].N != 20 || string(replies[2].Value) != "50" {
		t.Fatalf("transfer through %s: %+v aborted=%v %v", outsider, replies, aborted, err)
	}
	if _, aborted, err := st.Txn(ctx, "bank", []api.Watch{{Key: key, Version: version}}, []api.TxnOp{{Kind: api.TxnDel, Keys: [][]byte{key}}}); err != nil || !aborted {
		t.Fatalf("transaction on a watched key that changed, through %s: aborted=%v %v", outsider, aborted, err)
	}
	if old, found, err := kv.Delete(ctx, "bank", key, api.WriteOptions{}); err != nil || !found || string(old.Value) != "50" {
		t.Fatalf("DEL through %s: %q %v %v", outsider, old.Value, found, err)
	}

	// The first replica, the group's usual leader, goes down: the others
	// elect a leader and the outsider passes requests to them.
	s.down(pref[0])
	set("{acct}.c", "7")
	if e, err := get("{acct}.c"); err != nil || string(e.Value) != "7" {
		t.Fatalf("GET through %s with %s down: %q %v", outsider, pref[0], e.Value, err)
	}
	if _, err := get("{acct}.a"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the deleted key through %s with %s down: %v", outsider, pref[0], err)
	}
}

// TestDroppedStrongNamespaceLeavesNothing: dropping a strong namespace
// stops its partitions' Raft groups on every node and deletes their logs
// and keys; a node that was down during the drop deletes them when it
// comes back.
func TestDroppedStrongNamespaceLeavesNothing(t *testing.T) {
	s := newSim(t, 3)
	createStrong(t, s, "bank")
	def, _ := s.nodes["n1"].node.Meta().State().Namespace("bank")
	testutil.Eventually(t, "a first strong write", func() bool {
		_, err := s.kv("n1").Put(bg, "bank", []byte("acct"), []byte("100"), api.PutOptions{})
		return err == nil
	})
	groupsOf := func(id string) (running, stored int) {
		for _, g := range s.nodes[id].node.Strong().Groups() {
			if strong.GroupGeneration(g) == def.Generation {
				running++
			}
		}
		all, err := s.nodes[id].node.Store().Engine().RaftGroups()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range all {
			if strong.GroupGeneration(g) == def.Generation {
				stored++
			}
		}
		return running, stored
	}
	for _, id := range s.ids {
		if running, stored := groupsOf(id); running == 0 || stored == 0 {
			t.Fatalf("%s runs %d and stores %d groups of the namespace", id, running, stored)
		}
	}

	s.down("n3")
	// If n3 led the metadata group, the others elect a leader first.
	testutil.Eventually(t, "the drop", func() bool {
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		_ = s.nodes["n1"].node.Meta().DropNamespace(ctx, "bank") // a timeout may still have dropped it
		_, exists := s.nodes["n1"].node.Meta().State().Namespace("bank")
		return !exists
	})
	for _, id := range []string{"n1", "n2"} {
		testutil.Eventually(t, id+" deletes the namespace's groups", func() bool {
			running, stored := groupsOf(id)
			return running == 0 && stored == 0
		})
	}
	eng, err := storage.Open(storage.Config{Dir: s.nodes["n3"].dir})
	if err != nil {
		t.Fatal(err)
	}
	left, err := eng.RaftGroups()
	eng.Close()
	if err != nil || !slices.ContainsFunc(left, func(g uint64) bool { return strong.GroupGeneration(g) == def.Generation }) {
		t.Fatalf("n3, down, holds none of the namespace's groups: %v %v", left, err)
	}
	s.restart("n3")
	testutil.Eventually(t, "n3 deletes the namespace's groups once back", func() bool {
		running, stored := groupsOf("n3")
		return running == 0 && stored == 0
	})
	for _, id := range s.ids {
		eng := s.nodes[id].node.Store().Engine()
		for p := range 16 {
			lo, hi := storage.StrongSpan(strong.GroupID(def.Generation, p))
			it, err := eng.NewIter(lo, hi)
			if err != nil {
				t.Fatal(err)
			}
			left := it.First()
			it.Close()
			if left {
				t.Fatalf("%s still holds keys of partition %d", id, p)
			}
		}
	}
}

// TestSweepDeletesOnlyRetiredGroups: at start, the data of groups whose
// namespace generation was retired goes; the metadata group's, and that of
// a generation this node's metadata does not know yet, stay.
func TestSweepDeletesOnlyRetiredGroups(t *testing.T) {
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	retired, unknown := strong.GroupID(3, 1), strong.GroupID(7, 0)
	b := eng.NewBatch()
	for _, g := range []uint64{metadata.Group, retired, unknown} {
		b.Set(storage.RaftKey(g, 'h'), []byte("x"))
		b.Set(storage.StrongKey(nil, g, []byte("k")), []byte("x"))
	}
	if err := eng.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	st := metadata.FixedCluster([]string{"n1"}, 4)
	st.Generations = 5
	if !sweepGroups(st, eng, slog.New(slog.DiscardHandler)) {
		t.Fatal("the sweep did not run")
	}
	groups, err := eng.RaftGroups()
	if err != nil || !slices.Equal(groups, []uint64{metadata.Group, unknown}) {
		t.Fatalf("groups left: %v %v, want %v", groups, err, []uint64{metadata.Group, unknown})
	}
	if err := eng.Get(storage.StrongKey(nil, retired, []byte("k")), func([]byte) error { return nil }); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the retired group's key: %v", err)
	}
}

// TestIdleStrongGroupsQuiesce: a strong namespace nobody uses costs
// nothing: every partition's group stops ticking on every node. When a
// node dies, gossip says so, and the groups it led elect other leaders
// straight away, before any request comes; writes go on.
func TestIdleStrongGroupsQuiesce(t *testing.T) {
	s := newSim(t, 3)
	createStrong(t, s, "bank")
	testutil.Eventually(t, "every group quiesced on every node", func() bool {
		for _, id := range s.ids {
			if q, all := s.nodes[id].node.Strong().Quiesced(); all != 16 || q != all {
				return false
			}
		}
		return true
	})
	st := s.nodes["n2"].node.Meta().State()
	ns, _ := st.Namespace("bank")
	// Nor does anti-entropy compare the store's empty trees for it.
	for _, task := range s.nodes["n2"].node.KV().AntiEntropyPlan() {
		if task.ID.NS == ns.StorageName() {
			t.Fatalf("anti-entropy plans %v for a strong namespace", task.ID)
		}
	}
	dead := metadata.RaftID("n1")
	var led []uint64 // the groups n1 led
	for p := range st.Ring.Partitions() {
		g := strong.GroupID(ns.Generation, p)
		if gs, err := s.nodes["n2"].node.Strong().Status(g); err == nil && gs.Leader == dead {
			led = append(led, g)
		}
	}
	if len(led) == 0 {
		t.Fatal("n1 leads no partition")
	}
	s.down("n1")
	testutil.Eventually(t, "the groups n1 led elect other leaders, with no request", func() bool {
		for _, g := range led {
			for _, id := range []string{"n2", "n3"} {
				if gs, err := s.nodes[id].node.Strong().Status(g); err != nil || gs.Leader == 0 || gs.Leader == dead {
					return false
				}
			}
		}
		return true
	})
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	for i := range 16 {
		k := fmt.Appendf(nil, "acct:%d", i)
		testutil.Eventually(t, fmt.Sprintf("SET %s with n1 down", k), func() bool {
			_, err := s.kv("n2").Put(ctx, "bank", k, []byte("1"), api.PutOptions{})
			return err == nil
		})
	}
}

// answerLoss makes the strong commands one node forwards to another lose
// their answers: the command arrives and is applied, the forwarding node
// hears nothing.
type answerLoss struct {
	mu       sync.Mutex
	from, to string
	lost     int
}

func (a *answerLoss) set(from, to string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.from, a.to = from, to
}

func (a *answerLoss) wrap(self string, t transport.Transport) transport.Transport {
	return answerLossTransport{Transport: t, a: a, self: self}
}

type answerLossTransport struct {
	transport.Transport
	a    *answerLoss
	self string
}

func (t answerLossTransport) Peer(id string) transport.Peer {
	return answerLossPeer{Peer: t.Transport.Peer(id), t: t, to: id}
}

type answerLossPeer struct {
	transport.Peer
	t  answerLossTransport
	to string
}

func (p answerLossPeer) Strong(ctx context.Context, req *nodepb.StrongRequest) (*nodepb.StrongResponse, error) {
	resp, err := p.Peer.Strong(ctx, req)
	a := p.t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil && req.GetCommand() != nil && a.from == p.t.self && a.to == p.to {
		a.lost++
		return nil, errors.New("answer lost on the way back")
	}
	return resp, err
}

// TestForwardedIncrementWithAnIDIsRetried: a node that is not a replica
// passes an increment to the partition's first replica, which applies it,
// and the answer is lost. With a request id the node sends it again to the
// next replica, whose group answers what the first answered: acknowledged,
// counted once. Without an id the outcome is unknown, as it must be.
func TestForwardedIncrementWithAnIDIsRetried(t *testing.T) {
	loss := &answerLoss{}
	s := newSimWith(t, 4, func(cfg *NodeConfig) {
		cfg.RaftTick = 50 * time.Millisecond
		cfg.Transport = loss.wrap(cfg.ID, cfg.Transport)
	})
	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	createStrong(t, s, "bank")
	key := []byte("{acct}.a")
	pref := s.replicasOf("bank", key)
	outsider := s.outsider(pref)
	st := s.kv(outsider).(api.Strong)
	testutil.Eventually(t, "the partition's group serves", func() bool {
		_, err := s.kv(outsider).Put(ctx, "bank", []byte("{acct}.probe"), []byte("x"), api.PutOptions{})
		return err == nil
	})
	loss.set(outsider, pref[0])
	n, err := st.IncrBy(ctx, "bank", key, 1, nil, "req-1")
	if err != nil || n != 1 {
		t.Fatalf("WITHID INCRBY whose first answer was lost: %d %v", n, err)
	}
	if _, err := st.IncrBy(ctx, "bank", key, 1, nil, ""); !errors.Is(err, api.ErrOutcomeUnknown) {
		t.Fatalf("INCRBY without an id whose answer was lost: %v, want an unknown outcome", err)
	}
	loss.set("", "")
	e, err := s.kv(outsider).Get(ctx, "bank", key, api.ReadOptions{})
	if err != nil || string(e.Value) != "2" {
		t.Fatalf("after one increment with an id and one without, both applied: %q %v", e.Value, err)
	}
	if loss.lost != 2 {
		t.Fatalf("%d answers lost, want 2", loss.lost)
	}
}
