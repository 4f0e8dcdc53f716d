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
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/quorum"
)

// createNamespace creates an eventual namespace of type typ with N = 3 and
// waits until every node knows it.
func createNamespace(t *testing.T, s *sim, name string, typ metadata.Type) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	def := metadata.Namespace{Name: name, N: 3, Model: metadata.Eventual, Type: typ, MaxSiblings: 16}
	if err := s.nodes[s.ids[0]].node.Meta().CreateNamespace(ctx, def); err != nil {
		t.Fatal(err)
	}
	for _, id := range s.ids {
		syncMeta(t, s, id)
	}
}

func (s *sim) types(id string) api.Types { return s.nodes[id].node.KV() }

var one = api.WriteOptions{W: quorum.One, R: quorum.One}

// update applies op through node via at W = R = ONE and fails the test on
// an error.
func (s *sim) update(via, ns, key string, op api.Op) api.OpResult {
	s.t.Helper()
	res, err := s.types(via).Update(bg, ns, []byte(key), op, one)
	if err != nil {
		s.t.Fatalf("%v on %s through %s: %v", op.Kind, key, via, err)
	}
	return res
}

// settled waits until a read at ALL through every node shows want.
func (s *sim) settled(ns, key string, want func(api.Value) bool) api.Value {
	s.t.Helper()
	var v api.Value
	for _, id := range s.ids {
		testutil.Eventually(s.t, fmt.Sprintf("%s through %s", key, id), func() bool {
			var err error
			v, err = s.types(id).Value(bg, ns, []byte(key), api.ReadOptions{R: quorum.All})
			return err == nil && want(v)
		})
	}
	return v
}

func members(v api.Value) []string {
	var out []string
	for _, m := range v.Members {
		out = append(out, string(m))
	}
	return out
}

// TestCounterIncrementsOnBothSidesOfAPartitionSum: increments accepted at
// W = ONE on both sides of a partition all count once it heals, and a DEL
// on one side takes away what it saw while an increment on the other side
// survives.
func TestCounterIncrementsOnBothSidesOfAPartitionSum(t *testing.T) {
	s := newSim(t, 3)
	createNamespace(t, s, "hits", metadata.Counter)
	s.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	want := int64(0)
	for i := range 20 {
		s.update("n1", "hits", "page", api.Op{Kind: api.OpIncrement, Delta: 1})
		s.update([]string{"n2", "n3"}[i%2], "hits", "page", api.Op{Kind: api.OpIncrement, Delta: 5})
		want += 6
	}
	if got := s.update("n1", "hits", "page", api.Op{Kind: api.OpIncrement, Delta: -1}).N; got != 19 {
		t.Fatalf("n1's side counts %d, want 19", got)
	}
	want--
	s.faults.Heal()
	s.settled("hits", "page", func(v api.Value) bool { return v.Counter == want })
	// The DEL below reads n1's own copy only: wait for the read repairs
	// the reads above sent it, or the DEL misses some increments, which
	// then survive it, as increments it did not see do.
	testutil.Eventually(t, "n1's own copy repaired", func() bool {
		v, err := s.types("n1").Value(bg, "hits", []byte("page"), api.ReadOptions{R: quorum.One})
		return err == nil && v.Counter == want
	})

	s.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	if res := s.update("n1", "hits", "page", api.Op{Kind: api.OpClear}); res.N != 1 {
		t.Fatalf("DEL of a counter that exists: %d", res.N)
	}
	if _, err := s.types("n1").Value(bg, "hits", []byte("page"), api.ReadOptions{R: quorum.One}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a deleted counter: %v", err)
	}
	s.update("n2", "hits", "page", api.Op{Kind: api.OpIncrement, Delta: 7})
	s.faults.Heal()
	s.settled("hits", "page", func(v api.Value) bool { return v.Counter == 7 })
}

// TestSetAddWinsAcrossAPartition: a member removed on one side and added
// again on the other stays; a member only removed goes; adds on both sides
// all stay.
func TestSetAddWinsAcrossAPartition(t *testing.T) {
	s := newSim(t, 3)
	createNamespace(t, s, "tags", metadata.Set)
	if res, err := s.types("n2").Update(bg, "tags", []byte("t"), api.Op{Kind: api.OpAdd, Members: [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("a")}}, api.WriteOptions{W: quorum.All}); err != nil || res.N != 3 {
		t.Fatalf("SADD a b c a: %v %v", res, err)
	}
	s.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	if res := s.update("n1", "tags", "t", api.Op{Kind: api.OpRemove, Members: [][]byte{[]byte("a"), []byte("b"), []byte("x")}}); res.N != 2 {
		t.Fatalf("SREM a b x removed %d", res.N)
	}
	s.update("n1", "tags", "t", api.Op{Kind: api.OpAdd, Members: [][]byte{[]byte("d")}})
	if res := s.update("n3", "tags", "t", api.Op{Kind: api.OpAdd, Members: [][]byte{[]byte("a"), []byte("e")}}); res.N != 1 {
		t.Fatalf("SADD a e on the other side added %d", res.N)
	}
	s.faults.Heal()
	want := []string{"a", "c", "d", "e"}
	v := s.settled("tags", "t", func(v api.Value) bool { return slices.Equal(members(v), want) })
	if v.Type != api.TypeSet {
		t.Fatalf("type %q", v.Type)
	}
	// Emptied, the set no longer exists, as in Redis.
	all := api.WriteOptions{W: quorum.All, R: quorum.All}
	if _, err := s.types("n2").Update(bg, "tags", []byte("t"), api.Op{Kind: api.OpRemove, Members: [][]byte{[]byte("a"), []byte("c"), []byte("d"), []byte("e")}}, all); err != nil {
		t.Fatal(err)
	}
	if _, err := s.types("n2").Value(bg, "tags", []byte("t"), api.ReadOptions{}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("an emptied set: %v", err)
	}
}

// TestMapFieldsMergeAcrossAPartition: fields set, removed and incremented
// on both sides of a partition all arrive; HINCRBY of a field holding an
// integer string continues from it, once, however many sides increment.
func TestMapFieldsMergeAcrossAPartition(t *testing.T) {
	s := newSim(t, 3)
	createNamespace(t, s, "users", metadata.Map)
	s.update("n1", "users", "u1", api.Op{Kind: api.OpAssign, Members: [][]byte{[]byte("name"), []byte("visits"), []byte("nick")}, Values: [][]byte{[]byte("ada"), []byte("10"), []byte("a")}})
	s.settled("users", "u1", func(v api.Value) bool { return len(v.Fields) == 3 })
	s.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	if res := s.update("n1", "users", "u1", api.Op{Kind: api.OpIncrement, Field: []byte("visits"), Delta: 1}); res.N != 11 {
		t.Fatalf("HINCRBY visits 1: %d", res.N)
	}
	s.update("n2", "users", "u1", api.Op{Kind: api.OpIncrement, Field: []byte("visits"), Delta: 2})
	s.update("n2", "users", "u1", api.Op{Kind: api.OpAssign, Members: [][]byte{[]byte("city")}, Values: [][]byte{[]byte("london")}})
	s.update("n1", "users", "u1", api.Op{Kind: api.OpRemove, Members: [][]byte{[]byte("name")}})
	if res := s.update("n1", "users", "u1", api.Op{Kind: api.OpIncrement, Field: []byte("score"), Delta: 4}); res.N != 4 {
		t.Fatalf("HINCRBY of a new field: %d", res.N)
	}
	s.faults.Heal()
	s.settled("users", "u1", func(v api.Value) bool {
		var got []string
		for _, f := range v.Fields {
			got = append(got, string(f.Name)+"="+string(f.Value))
		}
		return slices.Equal(got, []string{"city=london", "nick=a", "score=4", "visits=13"})
	})
	if _, err := s.types("n1").Update(bg, "users", []byte("u1"), api.Op{Kind: api.OpIncrement, Field: []byte("nick"), Delta: 1}, one); !errors.Is(err, api.ErrHashNotInteger) {
		t.Fatalf("HINCRBY of a string field: %v", err)
	}
}

// TestTypesRefuseTheWrongOperations: plain-value operations on a typed
// namespace and typed ones on a plain namespace fail with WRONGTYPE, and
// nothing is written.
func TestTypesRefuseTheWrongOperations(t *testing.T) {
	s := newSim(t, 3)
	createNamespace(t, s, "hits", metadata.Counter)
	kv, types := s.kv("n1"), s.types("n1")
	s.update("n1", "hits", "k", api.Op{Kind: api.OpIncrement, Delta: 1})
	checks := map[string]error{}
	_, checks["SET in a counter namespace"] = kv.Put(bg, "hits", []byte("k"), []byte("x"), api.PutOptions{})
	_, checks["GET of a counter as bytes"] = kv.Get(bg, "hits", []byte("k"), api.ReadOptions{})
	_, checks["EXPIRE of a counter"] = kv.SetExpiry(bg, "hits", []byte("k"), time.Now().Add(time.Hour).UnixMilli(), api.ExpireAlways, api.WriteOptions{})
	_, checks["SADD in a counter namespace"] = types.Update(bg, "hits", []byte("k"), api.Op{Kind: api.OpAdd, Members: [][]byte{[]byte("a")}}, api.WriteOptions{})
	_, checks["INCR in a bytes namespace"] = types.Update(bg, "default", []byte("k"), api.Op{Kind: api.OpIncrement, Delta: 1}, api.WriteOptions{})
	_, checks["a counter read in a bytes namespace"] = types.Value(bg, "default", []byte("k"), api.ReadOptions{})
	for what, err := range checks {
		if !errors.Is(err, api.ErrWrongType) {
			t.Errorf("%s: %v, want WRONGTYPE", what, err)
		}
	}
	v, err := types.Value(bg, "hits", []byte("k"), api.ReadOptions{})
	if err != nil || v.Counter != 1 {
		t.Fatalf("the counter after refused operations: %v %v", v, err)
	}
}

// TestRetriedIncrementCountsOnce: an increment sent with a request id on
// both sides of a partition, and again to a node that has seen it, counts
// once.
func TestRetriedIncrementCountsOnce(t *testing.T) {
	s := newSim(t, 3)
	createNamespace(t, s, "hits", metadata.Counter)
	withID := api.WriteOptions{W: quorum.One, R: quorum.One, RequestID: "req-1"}
	s.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	for _, via := range []string{"n1", "n2", "n1", "n3"} {
		res, err := s.types(via).Update(bg, "hits", []byte("k"), api.Op{Kind: api.OpIncrement, Delta: 5}, withID)
		if err != nil || res.N != 5 {
			t.Fatalf("INCRBY k 5 with id req-1 through %s: %v %v", via, res, err)
		}
	}
	s.update("n2", "hits", "k", api.Op{Kind: api.OpIncrement, Delta: 1})
	s.faults.Heal()
	s.settled("hits", "k", func(v api.Value) bool { return v.Counter == 6 })
	// The retry below reads at R=1, n3's own copy: wait for the read
	// repair of the reads above to reach it (it runs after they answer).
	testutil.Eventually(t, "n3's own copy to hold 6", func() bool {
		v, err := s.types("n3").Value(bg, "hits", []byte("k"), api.ReadOptions{R: quorum.One})
		return err == nil && v.Counter == 6
	})
	res, err := s.types("n3").Update(bg, "hits", []byte("k"), api.Op{Kind: api.OpIncrement, Delta: 5}, withID)
	if err != nil || res.N != 6 {
		t.Fatalf("a retry after healing: %v %v, want 6", res, err)
	}
}

// TestRetriedFieldIncrementCountsOnce: HINCRBY with a request id, sent on
// both sides of a partition and again after it heals, counts once; an HDEL
// takes away what it saw, and a retry of an increment it took away does
// not bring it back.
func TestRetriedFieldIncrementCountsOnce(t *testing.T) {
	s := newSim(t, 3)
	createNamespace(t, s, "users", metadata.Map)
	withID := func(id string) api.WriteOptions { return api.WriteOptions{W: quorum.One, R: quorum.One, RequestID: id} }
	visit := api.Op{Kind: api.OpIncrement, Field: []byte("visits"), Delta: 5}
	s.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	for _, via := range []string{"n1", "n2", "n1", "n3"} {
		res, err := s.types(via).Update(bg, "users", []byte("u1"), visit, withID("req-1"))
		if err != nil || res.N != 5 {
			t.Fatalf("HINCRBY u1 visits 5 with id req-1 through %s: %v %v", via, res, err)
		}
	}
	s.update("n2", "users", "u1", api.Op{Kind: api.OpIncrement, Field: []byte("visits"), Delta: 1})
	s.faults.Heal()
	visits := func(want string) func(api.Value) bool {
		return func(v api.Value) bool {
			return len(v.Fields) == 1 && string(v.Fields[0].Name) == "visits" && string(v.Fields[0].Value) == want
		}
	}
	s.settled("users", "u1", visits("6"))
	res, err := s.types("n3").Update(bg, "users", []byte("u1"), visit, withID("req-1"))
	if err != nil || res.N != 6 {
		t.Fatalf("a retry after healing: %v %v, want 6", res, err)
	}
	if res := s.update("n1", "users", "u1", api.Op{Kind: api.OpRemove, Members: [][]byte{[]byte("visits")}}); res.N != 1 {
		t.Fatalf("HDEL visits: %d", res.N)
	}
	for _, id := range s.ids {
		testutil.Eventually(t, "u1 gone through "+id, func() bool {
			_, err := s.types(id).Value(bg, "users", []byte("u1"), api.ReadOptions{R: quorum.All})
			return errors.Is(err, api.ErrNotFound)
		})
	}
	if res, err := s.types("n2").Update(bg, "users", []byte("u1"), visit, withID("req-1")); err != nil || res.N != 0 {
		t.Fatalf("a retry of an increment HDEL took away: %v %v, want 0 and nothing added", res, err)
	}
	if res := s.update("n2", "users", "u1", api.Op{Kind: api.OpIncrement, Field: []byte("visits"), Delta: 2}); res.N != 2 {
		t.Fatalf("HINCRBY after HDEL starts again from 0: %d", res.N)
	}
	s.settled("users", "u1", visits("2"))
}

// TestIncrementsThroughLossyLinksCountOnce: increments sent through a node
// that does not replicate the key, over links that lose answers and
// deliver requests twice, so that the node passes an increment to the next
// replica when the first one's answer is lost: each counts at most once
// (the node gives it a request id), and every acknowledged one counts.
func TestIncrementsThroughLossyLinksCountOnce(t *testing.T) {
	s := newSim(t, 4)
	createNamespace(t, s, "hits", metadata.Counter)
	key := []byte("k")
	var outsider string
	for _, id := range s.ids {
		if !slices.Contains(s.replicasOf("hits", key), id) {
			outsider = id
		}
	}
	s.faults.SetLossy(0, 0.3, 0.3)
	acked, attempts := 0, 60
	for range attempts {
		if _, err := s.types(outsider).Update(bg, "hits", key, api.Op{Kind: api.OpIncrement, Delta: 1}, api.WriteOptions{W: quorum.One, R: quorum.One}); err == nil {
			acked++
		}
	}
	s.faults.SetLossy(0, 0, 0)
	if acked < attempts/3 {
		t.Fatalf("only %d of %d increments acknowledged: the test did not exercise the path", acked, attempts)
	}
	v := s.settled("hits", "k", func(v api.Value) bool { return v.Counter >= int64(acked) })
	if v.Counter > int64(attempts) {
		t.Fatalf("%d increments of 1 (%d acknowledged) count %d", attempts, acked, v.Counter)
	}
	t.Logf("%d of %d acknowledged; the counter reads %d", acked, attempts, v.Counter)
}
