package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

var errTooMany = errors.New("too many siblings")

func init() { RegisterError("too_many_siblings", errTooMany) }

// recorder is a handler that counts calls and echoes the key back.
type recorder struct {
	calls atomic.Int64
	fail  error
}

func (r *recorder) Write(ctx context.Context, req *nodepb.WriteRequest) (*nodepb.WriteResponse, error) {
	r.calls.Add(1)
	if r.fail != nil {
		return nil, r.fail
	}
	req.Key = append(req.Key, '!') // mutating our copy must not reach the caller's
	return &nodepb.WriteResponse{Applied: true, OldValue: req.Key}, nil
}
func (r *recorder) Replicate(context.Context, *nodepb.ReplicateRequest) (*nodepb.ReplicateResponse, error) {
	r.calls.Add(1)
	return &nodepb.ReplicateResponse{}, nil
}
func (r *recorder) ReplicateBatch(context.Context, *nodepb.ReplicateBatchRequest) (*nodepb.ReplicateBatchResponse, error) {
	r.calls.Add(1)
	return &nodepb.ReplicateBatchResponse{}, nil
}
func (r *recorder) Read(_ context.Context, q *nodepb.ReadRequest) (*nodepb.ReadResponse, error) {
	r.calls.Add(1)
	return &nodepb.ReadResponse{Found: true, Record: q.Key}, nil
}
func (r *recorder) ReadBatch(context.Context, *nodepb.ReadBatchRequest) (*nodepb.ReadBatchResponse, error) {
	r.calls.Add(1)
	return &nodepb.ReadBatchResponse{}, nil
}
func (r *recorder) Scan(context.Context, *nodepb.ScanRequest) (*nodepb.ScanResponse, error) {
	return &nodepb.ScanResponse{Done: true}, nil
}
func (r *recorder) TreeCompare(context.Context, *nodepb.TreeRequest) (*nodepb.TreeResponse, error) {
	return &nodepb.TreeResponse{}, nil
}
func (r *recorder) TreeBuckets(context.Context, *nodepb.BucketsRequest) (*nodepb.BucketsResponse, error) {
	return &nodepb.BucketsResponse{}, nil
}
func (r *recorder) Settle(context.Context, *nodepb.SettleRequest) (*nodepb.SettleResponse, error) {
	return &nodepb.SettleResponse{}, nil
}
func (r *recorder) Raft(context.Context, *nodepb.RaftRequest) (*nodepb.RaftResponse, error) {
	return &nodepb.RaftResponse{}, nil
}
func (r *recorder) Strong(context.Context, *nodepb.StrongRequest) (*nodepb.StrongResponse, error) {
	return &nodepb.StrongResponse{Version: 7}, nil
}

var ctx = context.Background()

func TestMemNetwork(t *testing.T) {
	net := NewMemNetwork()
	h := &recorder{}
	net.Register("b", h)
	tr := net.Transport()
	req := &nodepb.WriteRequest{Key: []byte("k")}
	resp, err := tr.Peer("b").Write(ctx, req)
	if err != nil || string(resp.OldValue) != "k!" {
		t.Fatalf("write: %v %v", resp, err)
	}
	if string(req.Key) != "k" {
		t.Fatalf("handler's change leaked into the caller's request: %q", req.Key)
	}
	if _, err := tr.Peer("c").Read(ctx, &nodepb.ReadRequest{}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("unknown peer: %v", err)
	}
	net.Register("b", nil)
	if _, err := tr.Peer("b").Read(ctx, &nodepb.ReadRequest{}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("detached peer: %v", err)
	}
}

func TestFaultyPartitionAndHeal(t *testing.T) {
	net := NewMemNetwork()
	for _, id := range []string{"a", "b", "c"} {
		net.Register(id, &recorder{})
	}
	f := NewFaults(1)
	ta, tc := f.Wrap("a", net.Transport()), f.Wrap("c", net.Transport())
	reach := func(tr Transport, to string) bool {
		_, err := tr.Peer(to).Read(ctx, &nodepb.ReadRequest{})
		if err != nil && !errors.Is(err, ErrUnreachable) {
			t.Fatalf("unexpected error: %v", err)
		}
		return err == nil
	}
	f.Partition([]string{"a", "b"}, []string{"c"})
	if !reach(ta, "b") || reach(ta, "c") || reach(tc, "a") {
		t.Fatal("partition {a,b} | {c} not enforced both ways")
	}
	f.Heal()
	f.Cut("a", "c")
	if reach(ta, "c") || !reach(tc, "a") {
		t.Fatal("one-way cut a->c not enforced, or enforced both ways")
	}
	f.Heal()
	if !reach(ta, "c") {
		t.Fatal("heal did not restore the link")
	}
}

// TestFaultyLostAnswerRanTheCall: a lost answer means the call happened,
// which is why callers must treat such a write as possibly applied.
func TestFaultyLostAnswerRanTheCall(t *testing.T) {
	net := NewMemNetwork()
	h := &recorder{}
	net.Register("b", h)
	f := NewFaults(7)
	f.SetLossy(0, 1, 0)
	_, err := f.Wrap("a", net.Transport()).Peer("b").Write(ctx, &nodepb.WriteRequest{})
	if !errors.Is(err, ErrUnreachable) || h.calls.Load() != 1 {
		t.Fatalf("lost answer: err=%v calls=%d", err, h.calls.Load())
	}
	f.SetLossy(1, 0, 0)
	_, err = f.Wrap("a", net.Transport()).Peer("b").Write(ctx, &nodepb.WriteRequest{})
	if !errors.Is(err, ErrUnreachable) || h.calls.Load() != 1 {
		t.Fatalf("lost request: err=%v calls=%d", err, h.calls.Load())
	}
	f.SetLossy(0, 0, 1)
	if _, err := f.Wrap("a", net.Transport()).Peer("b").Write(ctx, &nodepb.WriteRequest{}); err != nil || h.calls.Load() != 3 {
		t.Fatalf("duplicate: err=%v calls=%d", err, h.calls.Load())
	}
}

func TestFaultyIsReproducible(t *testing.T) {
	run := func() string {
		net := NewMemNetwork()
		net.Register("b", &recorder{})
		f := NewFaults(42)
		f.SetLossy(0.3, 0.3, 0)
		tr := f.Wrap("a", net.Transport())
		out := ""
		for range 40 {
			_, err := tr.Peer("b").Read(ctx, &nodepb.ReadRequest{})
			out += fmt.Sprint(err == nil)
		}
		return out
	}
	if a, b := run(), run(); a != b {
		t.Fatalf("same seed, different faults:\n%s\n%s", a, b)
	}
}

func TestFaultyDelayHonoursDeadline(t *testing.T) {
	net := NewMemNetwork()
	net.Register("b", &recorder{})
	f := NewFaults(1)
	f.SetDelay(time.Hour, time.Hour)
	c, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := f.Wrap("a", net.Transport()).Peer("b").Read(c, &nodepb.ReadRequest{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed call past its deadline: %v", err)
	}
}

func TestGRPCRoundTripAndErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &recorder{}
	srv := NewServer(h, nil)
	go srv.Serve(ln)
	defer srv.Stop()
	addrs := map[string]string{"b": ln.Addr().String(), "gone": "127.0.0.1:1"}
	g := NewGRPC(GRPCConfig{Resolve: func(id string) (string, bool) { a, ok := addrs[id]; return a, ok }})
	defer g.Close()
	resp, err := g.Peer("b").Write(ctx, &nodepb.WriteRequest{Key: []byte("k")})
	if err != nil || !resp.Applied || string(resp.OldValue) != "k!" {
		t.Fatalf("write over gRPC: %v %v", resp, err)
	}
	if r, err := g.Peer("b").Strong(ctx, &nodepb.StrongRequest{}); err != nil || r.Version != 7 {
		t.Fatalf("strong: %v %v", r, err)
	}
	h.fail = fmt.Errorf("%w: 9 siblings, the limit is 8", errTooMany)
	_, err = g.Peer("b").Write(ctx, &nodepb.WriteRequest{})
	if !errors.Is(err, errTooMany) || err.Error() != "too many siblings: 9 siblings, the limit is 8" {
		t.Fatalf("remote sentinel error: %v", err)
	}
	h.fail = errors.New("disk on fire")
	if _, err = g.Peer("b").Write(ctx, &nodepb.WriteRequest{}); err == nil || errors.Is(err, ErrUnreachable) {
		t.Fatalf("remote internal error: %v", err)
	}
	if _, err := g.Peer("nobody").Read(ctx, &nodepb.ReadRequest{}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("unresolvable peer: %v", err)
	}
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := g.Peer("gone").Read(c, &nodepb.ReadRequest{}); !errors.Is(err, ErrUnreachable) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("peer with nothing listening: %v", err)
	}
}

// TestGRPCUnready: a peer whose connection failed is known unready (a call
// now would not be sent); once it listens again the connection comes back
// and it is not.
func TestGRPCUnready(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there yet
	g := NewGRPC(GRPCConfig{Resolve: func(string) (string, bool) { return addr, true }})
	defer g.Close()
	if g.Unready("late") {
		t.Fatal("a peer never called is not known unready")
	}
	c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := g.Peer("late").Read(c, &nodepb.ReadRequest{}); err == nil {
		t.Fatal("a call to a peer with nothing listening succeeded")
	}
	testutil.Eventually(t, "the connection known down", func() bool { return g.Unready("late") })
	if ln, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	srv := NewServer(&recorder{}, nil)
	go srv.Serve(ln)
	defer srv.Stop()
	testutil.Eventually(t, "the connection back up", func() bool { return !g.Unready("late") })
}
