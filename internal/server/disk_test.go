package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/quorum"
)

// TestNodeOutOfSpace: a node whose disk is (nearly) full refuses data
// writes at once, with ErrNoSpace, and never stalls. Through it, a write
// to keys it replicates is coordinated by another replica: it counts as
// unavailable for W, the coordinator keeps a hint for it, and reads work.
// A key only it replicates (N = 1) is refused with ErrNoSpace, through it
// and through the others.
func TestNodeOutOfSpace(t *testing.T) {
	s := newSimWith(t, 3, func(cfg *NodeConfig) {
		if cfg.ID == "n3" {
			cfg.MinFreeDisk = 1 << 62 // no disk has that much free: n3 is "full"
		}
	})
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	soloNamespace(t, s, "one", metadata.Eventual)
	for i := range 20 {
		k := fmt.Appendf(nil, "k%d", i)
		if _, err := s.kv("n3").Put(ctx, "default", k, []byte("v"), api.PutOptions{}); err != nil {
			t.Fatalf("PUT %s through the full node: %v", k, err)
		}
		e, err := s.kv("n3").Get(ctx, "default", k, api.ReadOptions{})
		if err != nil || string(e.Value) != "v" {
			t.Fatalf("GET %s through the full node: %q %v", k, e.Value, err)
		}
	}
	testutil.Eventually(t, "hints kept for the full node", func() bool {
		n := 0
		for _, id := range []string{"n1", "n2"} {
			n += s.nodes[id].node.Hints().Pending()["n3"]
		}
		return n > 0
	})
	all := api.PutOptions{Write: api.WriteOptions{W: quorum.All}}
	if _, err := s.kv("n1").Put(ctx, "default", []byte("k0"), []byte("w"), all); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("PUT at ALL with a full replica: %v, want unavailable", err)
	}
	only := s.keyOnlyOn("one", "n3")
	for _, via := range []string{"n3", "n1"} {
		start := time.Now()
		_, err := s.kv(via).Put(ctx, "one", only, []byte("v"), api.PutOptions{})
		if !errors.Is(err, api.ErrNoSpace) {
			t.Fatalf("PUT through %s of a key only the full node replicates: %v, want no space", via, err)
		}
		if d := api.Describe(err); d.RESPPrefix != "NOSPACE" || d.Status != 507 {
			t.Fatalf("its wire form: %+v", d)
		}
		if time.Since(start) > time.Second {
			t.Fatalf("the refusal took %v: it must not wait", time.Since(start))
		}
	}
}

// TestStrongWritesAroundAFullNode: a node whose disk refuses writes
// proposes nothing to a strong partition's group: a write through it is
// taken by another member of the group, and a partition whose only
// replica it is refuses with ErrNoSpace, through any node, at once.
func TestStrongWritesAroundAFullNode(t *testing.T) {
	s := newSimWith(t, 3, func(cfg *NodeConfig) {
		if cfg.ID == "n3" {
			cfg.MinFreeDisk = 1 << 62 // n3 is "full"
		}
	})
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	createStrong(t, s, "bank")
	soloNamespace(t, s, "solo", metadata.Strong)
	for i := range 10 {
		k := fmt.Appendf(nil, "k%d", i)
		testutil.Eventually(t, "a strong write through the full node", func() bool {
			_, err := s.kv("n3").Put(ctx, "bank", k, []byte("v"), api.PutOptions{})
			return err == nil
		})
		e, err := s.kv("n1").Get(ctx, "bank", k, api.ReadOptions{})
		if err != nil || string(e.Value) != "v" {
			t.Fatalf("GET %s: %q %v", k, e.Value, err)
		}
	}
	only := s.keyOnlyOn("solo", "n3")
	for _, via := range []string{"n3", "n1"} {
		var err error
		testutil.Eventually(t, "the solo partition's group is open", func() bool {
			_, err = s.kv(via).Put(ctx, "solo", only, []byte("v"), api.PutOptions{})
			return !errors.Is(err, api.ErrUnavailable)
		})
		if !errors.Is(err, api.ErrNoSpace) {
			t.Fatalf("strong PUT through %s of a key only the full node replicates: %v, want no space", via, err)
		}
	}
}

// soloNamespace creates namespace name with one replica per key and
// waits until every node knows it.
func soloNamespace(t *testing.T, s *sim, name string, model metadata.Model) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	if err := s.nodes["n1"].node.Meta().CreateNamespace(ctx, metadata.Namespace{Name: name, N: 1, Model: model, Type: metadata.Bytes, MaxSiblings: 16}); err != nil {
		t.Fatal(err)
	}
	for _, id := range s.ids {
		syncMeta(t, s, id)
	}
}

// keyOnlyOn is a key of namespace ns (of one replica per key) that node
// alone replicates.
func (s *sim) keyOnlyOn(ns, node string) []byte {
	for i := 0; ; i++ {
		k := fmt.Appendf(nil, "solo%d", i)
		if pref := s.replicasOf(ns, k); len(pref) == 1 && pref[0] == node {
			return k
		}
	}
}
