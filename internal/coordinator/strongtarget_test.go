package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// leaderless is a replica whose member of every strong group waits for a
// leader until the request's time is up, then says none came.
type leaderless struct {
	transport.Peer // nil: only Strong is called
	calls          *atomic.Int64
}

func (l leaderless) Strong(ctx context.Context, _ *nodepb.StrongRequest) (*nodepb.StrongResponse, error) {
	l.calls.Add(1)
	<-ctx.Done()
	return &nodepb.StrongResponse{Status: nodepb.StrongStatus_STRONG_NO_QUORUM, Error: "no leader"}, nil
}

// strongOffN1 is a cluster with strong namespace bank (N = 2), a key of it
// that n1 does not replicate, and a store for n1.
func strongOffN1(t *testing.T) (*metadata.State, []byte, *replica.Store) {
	t.Helper()
	ns := metadata.Namespace{Name: "bank", N: 2, Model: metadata.Strong, Type: metadata.Bytes, Generation: 1}
	st := metadata.FixedCluster(ids, 8, ns)
	def, _ := st.Namespace("bank")
	var key []byte
	for i := 0; key == nil; i++ {
		k := fmt.Appendf(nil, "k%d", i)
		if pref := st.Ring.Preference(st.Ring.Partition(storage.Hash(def.StorageName(), k)), 2); !slices.Contains(pref, "n1") {
			key = k
		}
	}
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	store, err := replica.New(replica.Config{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	return st, key, store
}

// TestForwardedCommandRefusedAtTheDeadlineStaysRefused: a node that is
// not a replica forwards a write; the replica waits out the request's time
// for a leader and answers that nothing was done. The client hears that,
// not "unknown": the forwarder asks no other replica once the time is up
// (the call would fail unsent, and look like a command lost in flight).
func TestForwardedCommandRefusedAtTheDeadlineStaysRefused(t *testing.T) {
	st, key, store := strongOffN1(t)
	net := transport.NewMemNetwork()
	var calls atomic.Int64
	net.Register("n2", leaderless{calls: &calls})
	net.Register("n3", leaderless{calls: &calls})
	c, err := New(Config{Self: "n1", Store: store, Meta: metadata.Fixed{S: st}, Transport: net.Transport(), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Put(bg, "bank", key, []byte("v"), api.PutOptions{})
	if !errors.Is(err, api.ErrUnavailable) || errors.Is(err, api.ErrOutcomeUnknown) {
		t.Fatalf("a write no replica could order: %v, want unavailable (nothing was done)", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d replicas asked, want 1: the time was up after the first", n)
	}
}

// unreadyTo is a transport whose connections to some nodes are known not
// to be up (transport.Readiness).
type unreadyTo struct {
	transport.Transport
	down map[string]bool
}

func (u unreadyTo) Unready(id string) bool { return u.down[id] }

// TestForwardSkipsAReplicaNotConnected: a command is never sent to a
// replica whose connection is known not to be up (it would wait on the
// connection and come back "unknown"): the forwarder goes on to the next
// replica, and when none takes it the client hears that nothing was done.
func TestForwardSkipsAReplicaNotConnected(t *testing.T) {
	st, key, store := strongOffN1(t)
	net := transport.NewMemNetwork()
	calls := map[string]*atomic.Int64{"n2": {}, "n3": {}}
	for id, n := range calls {
		net.Register(id, leaderless{calls: n})
	}
	for _, down := range [][]string{{"n2"}, {"n3"}, {"n2", "n3"}} {
		tr := unreadyTo{Transport: net.Transport(), down: map[string]bool{}}
		for _, id := range down {
			tr.down[id] = true
		}
		c, err := New(Config{Self: "n1", Store: store, Meta: metadata.Fixed{S: st}, Transport: tr, Timeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		before := map[string]int64{"n2": calls["n2"].Load(), "n3": calls["n3"].Load()}
		_, err = c.Put(bg, "bank", key, []byte("v"), api.PutOptions{})
		if !errors.Is(err, api.ErrUnavailable) || errors.Is(err, api.ErrOutcomeUnknown) {
			t.Fatalf("with %v not connected: %v, want unavailable (nothing was done)", down, err)
		}
		for id := range calls {
			sent := calls[id].Load() - before[id]
			if tr.down[id] && sent != 0 {
				t.Fatalf("with %v not connected: %d calls sent to %s", down, sent, id)
			}
			if !tr.down[id] && sent != 1 {
				t.Fatalf("with %v not connected: %d calls sent to %s, which is connected; want 1", down, sent, id)
			}
		}
	}
}
