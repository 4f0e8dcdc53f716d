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

// TestForwardedCommandRefusedAtTheDeadlineStaysRefused: a node that is
// not a replica forwards a write; the replica waits out the request's time
// for a leader and answers that nothing was done. The client hears that,
// not "unknown": the forwarder asks no other replica once the time is up
// (the call would fail unsent, and look like a command lost in flight).
func TestForwardedCommandRefusedAtTheDeadlineStaysRefused(t *testing.T) {
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
	defer eng.Close()
	store, err := replica.New(replica.Config{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
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
