package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/strong"
	"github.com/pandodb/pando/internal/testutil"
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
	var outsider string
	for _, id := range s.ids {
		if !slices.Contains(pref, id) {
			outsider = id
		}
	}
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
