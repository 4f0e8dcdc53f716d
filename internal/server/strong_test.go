package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/strong"
	"github.com/pandodb/pando/internal/testutil"
)

// TestStrongNamespaceLeadsFromItsFirstReplicas: creating a strong namespace
// opens a Raft group for each partition on its replicas, every group elects
// a leader, and leadership follows the ring, so the nodes share the
// leading as they
// share the partitions: the first replica is the group's preferred leader
// (random elections would leave two thirds of the partitions to another
// replica). Writes and reads then go through any node.
func TestStrongNamespaceLeadsFromItsFirstReplicas(t *testing.T) {
	s := newSim(t, 3)
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	def := metadata.Namespace{Name: "bank", N: 3, Model: metadata.Strong, Type: metadata.Bytes, MaxSiblings: 16}
	if err := s.nodes["n1"].node.Meta().CreateNamespace(ctx, def); err != nil {
		t.Fatal(err)
	}
	for _, id := range s.ids {
		syncMeta(t, s, id)
	}
	st := s.nodes["n1"].node.Meta().State()
	ns, _ := st.Namespace("bank")
	parts := st.Ring.Partitions()
	var byFirst int
	testutil.Eventually(t, "a leader in every partition's group", func() bool {
		byFirst = 0
		for p := range parts {
			pref := st.Ring.Preference(p, 3)
			leader := uint64(0)
			for _, id := range s.ids {
				gs, err := s.nodes[id].node.Strong().Status(strong.GroupID(ns.Generation, p))
				if err != nil || gs.Leader == 0 || (leader != 0 && gs.Leader != leader) {
					return false
				}
				leader = gs.Leader
			}
			if leader == metadata.RaftID(pref[0]) {
				byFirst++
			}
		}
		return true
	})
	t.Logf("%d of %d partitions led by their first replica", byFirst, parts)
	if byFirst < parts*9/10 {
		t.Fatalf("%d of %d partitions are led by their first replica", byFirst, parts)
	}
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
