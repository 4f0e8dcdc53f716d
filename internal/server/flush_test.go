package server

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/quorum"
)

// TestTruncateHidesAtOnceAndPurges: FLUSHDB's truncation moves a namespace
// to a new generation through the metadata log. Every node then reads it
// empty, new writes land in the new generation, and the purge removes the
// old generation's records from every disk.
func TestTruncateHidesAtOnceAndPurges(t *testing.T) {
	s := newSim(t, 3)
	for i := range 50 {
		if _, err := s.kv("n1").Put(bg, "default", fmt.Appendf(nil, "k%d", i), []byte("v"), api.PutOptions{Write: w(quorum.All)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.nodes["n2"].node.Meta().TruncateNamespace(bg, "default"); err != nil {
		t.Fatal(err)
	}
	// The change is applied on n2 when the call returns; the others follow
	// the log.
	for _, id := range s.ids {
		syncMeta(t, s, id)
		if n, err := s.kv(id).Count(bg, "default"); err != nil || n != 0 {
			t.Fatalf("DBSIZE through %s after the truncation: %d %v", id, n, err)
		}
		if _, err := s.kv(id).Get(bg, "default", []byte("k7"), r(quorum.One)); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("k7 through %s after the truncation: %v", id, err)
		}
	}
	if _, err := s.kv("n3").Put(bg, "default", []byte("new"), []byte("v"), api.PutOptions{Write: w(quorum.All)}); err != nil {
		t.Fatal(err)
	}
	def, _ := s.nodes["n1"].node.Meta().State().Namespace("default")
	for _, id := range s.ids {
		purged, err := s.nodes[id].node.KV().PurgeRetired()
		if err != nil || !slices.Equal(purged, []string{"default"}) {
			t.Fatalf("purge on %s: %v %v, want the old generation, default", id, purged, err)
		}
		left, err := s.nodes[id].node.Store().Engine().DataNamespaces()
		if err != nil || !slices.Equal(left, []string{def.StorageName()}) {
			t.Fatalf("namespaces on %s's disk after the purge: %v %v, want only %s", id, left, err, def.StorageName())
		}
	}
	if e, err := s.kv("n1").Get(bg, "default", []byte("new"), r(quorum.All)); err != nil || string(e.Value) != "v" {
		t.Fatalf("a write after the truncation: %q %v", e.Value, err)
	}
}

// TestDropAndRecreate: a dropped namespace is gone at once, cannot be
// used, and one created again under its name starts empty.
func TestDropAndRecreate(t *testing.T) {
	s := newSim(t, 3)
	ns := metadata.Namespace{Name: "temp", N: 3, Model: metadata.Eventual, Type: metadata.Bytes, MaxSiblings: 16}
	if err := s.nodes["n1"].node.Meta().CreateNamespace(bg, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := s.kv("n1").Put(bg, "temp", []byte("k"), []byte("old"), api.PutOptions{Write: w(quorum.All)}); err != nil {
		t.Fatal(err)
	}
	if err := s.nodes["n2"].node.Meta().DropNamespace(bg, "temp"); err != nil {
		t.Fatal(err)
	}
	if err := s.nodes["n2"].node.Meta().DropNamespace(bg, "default"); !errors.Is(err, metadata.ErrInvalid) {
		t.Fatalf("dropping default: %v", err)
	}
	if err := s.nodes["n2"].node.Meta().DropNamespace(bg, "temp"); !errors.Is(err, metadata.ErrNoNamespace) {
		t.Fatalf("dropping it twice: %v", err)
	}
	syncMeta(t, s, "n3")
	if _, err := s.kv("n3").Get(bg, "temp", []byte("k"), r(quorum.One)); !errors.Is(err, api.ErrNoNamespace) {
		t.Fatalf("a read of the dropped namespace: %v", err)
	}
	if err := s.nodes["n3"].node.Meta().CreateNamespace(bg, ns); err != nil {
		t.Fatal(err)
	}
	syncMeta(t, s, "n1")
	if _, err := s.kv("n1").Get(bg, "temp", []byte("k"), r(quorum.All)); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("k in the namespace created again: %v; want it empty", err)
	}
}
