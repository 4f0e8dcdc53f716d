package rebalance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/antientropy"
	"github.com/pandodb/pando/internal/metadata"
)

// fakeMeta serves a fixed state and records what the runner reports.
type fakeMeta struct {
	st    *metadata.State
	mu    sync.Mutex
	ready []uint64
	moved []int
	// purged lists the ranges purged (namespace and start), and readyAt
	// how many had been when the first ready report came.
	purged  []string
	readyAt int
}

func (m *fakeMeta) State() *metadata.State    { return m.st }
func (m *fakeMeta) Changed() <-chan struct{}  { return make(chan struct{}) }
func (m *fakeMeta) Replayed() <-chan struct{} { return closed }

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (m *fakeMeta) MoveReady(_ context.Context, id uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ready) == 0 {
		m.readyAt = len(m.purged)
	}
	m.ready = append(m.ready, id)
	return nil
}
func (m *fakeMeta) Moved(_ context.Context, _ uint64, p int, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.moved = append(m.moved, p)
	return nil
}

// unused stands for the exchange's parts in steps that must not reach an
// exchange: calling it panics.
type unused struct{ antientropy.Local }

func runner(t *testing.T, meta *fakeMeta, up func(string) bool) *Runner {
	t.Helper()
	r, err := New(Config{
		Self: "n1", Meta: meta, Up: up, Grace: time.Millisecond,
		Trees: antientropy.NewTrees(nil, func() antientropy.Layout { return antientropy.Layout{Partitions: 16} }),
		Local: unused{}, Peer: func(string) antientropy.Peer { return nil },
		Purge: func(ns string, from, _ uint64, _ bool) error {
			meta.mu.Lock()
			defer meta.mu.Unlock()
			meta.purged = append(meta.purged, fmt.Sprintf("%s@%016x", ns, from))
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// n4 leaves a cluster of four: n1 gains partitions from it.
func leaving(t *testing.T) *metadata.State {
	t.Helper()
	st, err := metadata.FixedCluster([]string{"n1", "n2", "n3", "n4"}, 16).Moving(7, metadata.Change{Kind: metadata.ChangeLeave, Node: "n4"})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestReadyBeforeCopying: a member first reports itself ready (after the
// grace); no copy starts while a member that is up is not ready; one that
// is down does not hold the copies back.
func TestReadyBeforeCopying(t *testing.T) {
	st := leaving(t)
	meta := &fakeMeta{st: st}
	r := runner(t, meta, func(string) bool { return true })
	if err := r.step(context.Background(), st, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(meta.ready) != 1 || meta.ready[0] != 7 {
		t.Fatalf("ready reports %v, want one for move 7", meta.ready)
	}
	// Before it reported ready, n1 cleared what it might hold of each
	// partition it gains: stale records of a time it replicated them.
	var gains []string
	for _, tr := range st.Remaining() {
		if tr.To == "n1" {
			lo, _, _ := st.Ring.Range(tr.Partition)
			gains = append(gains, fmt.Sprintf("default@%016x", lo))
		}
	}
	if len(gains) == 0 || !slices.Equal(meta.purged, gains) || meta.readyAt != len(gains) {
		t.Fatalf("purged %v (%d before reporting ready); n1 gains %v", meta.purged, meta.readyAt, gains)
	}
	meta.st = st.WithReady("n1", "n2", "n3")
	if err := r.step(context.Background(), meta.st, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(meta.moved) != 0 || !strings.Contains(r.Status().Waiting, "n4") {
		t.Fatalf("with n4 up and not ready: moved %v, waiting %q", meta.moved, r.Status().Waiting)
	}
	// n4 down, and only n1 of the current replicas up: a copy needs a
	// majority of them, and says so.
	r = runner(t, meta, func(n string) bool { return n == "n1" })
	err := r.step(context.Background(), meta.st, time.Now())
	if err == nil || !strings.Contains(err.Error(), "majority") || len(meta.moved) != 0 {
		t.Fatalf("a copy with one replica up: %v, moved %v", err, meta.moved)
	}
}
