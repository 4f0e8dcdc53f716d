package transport

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pandodb/pando/internal/transport/nodepb"
	"google.golang.org/protobuf/proto"
)

// Faults is the fault schedule shared by the Faulty transports of a set of
// nodes. Its random choices come from one seeded source, so a test that
// drives calls in a fixed order sees the same faults on every run.
type Faults struct {
	mu       sync.Mutex
	rng      *rand.Rand
	group    map[string]int         // partition group of each listed node
	blocked  map[[2]string]struct{} // directed links cut on their own
	dropReq  float64                // probability a request is lost
	dropResp float64                // probability an answer is lost after the call ran
	dup      float64                // probability a request is delivered twice
	delayMin time.Duration
	delayMax time.Duration
}

// NewFaults returns a schedule with no faults, seeded with seed.
func NewFaults(seed uint64) *Faults {
	return &Faults{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), group: map[string]int{}, blocked: map[[2]string]struct{}{}}
}

// Partition splits the listed nodes into groups that cannot reach each
// other, in either direction. Nodes not listed reach everyone. It replaces
// the previous partition; directed cuts made with Cut stay.
func (f *Faults) Partition(groups ...[]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.group = map[string]int{}
	for i, g := range groups {
		for _, id := range g {
			f.group[id] = i + 1
		}
	}
}

// Cut stops calls from one node to another (one direction only).
func (f *Faults) Cut(from, to string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked[[2]string{from, to}] = struct{}{}
}

// Heal removes every partition and cut. Lossy settings stay.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.group = map[string]int{}
	f.blocked = map[[2]string]struct{}{}
}

// SetLossy sets the probabilities of losing a request, losing an answer
// after the call ran, and delivering a request twice.
func (f *Faults) SetLossy(dropRequest, dropAnswer, duplicate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropReq, f.dropResp, f.dup = dropRequest, dropAnswer, duplicate
}

// SetDelay delays every call by a random time in [min, max]; concurrent
// calls are therefore reordered.
func (f *Faults) SetDelay(min, max time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delayMin, f.delayMax = min, max
}

// Reachable reports whether from can call to under the current partition.
func (f *Faults) Reachable(from, to string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reachable(from, to)
}

func (f *Faults) reachable(from, to string) bool {
	if _, cut := f.blocked[[2]string{from, to}]; cut {
		return false
	}
	gf, okf := f.group[from]
	gt, okt := f.group[to]
	return !okf || !okt || gf == gt
}

type fate struct {
	cut, dropReq, dropResp, dup bool
	delay                       time.Duration
}

func (f *Faults) decide(from, to string) fate {
	f.mu.Lock()
	defer f.mu.Unlock()
	ft := fate{cut: !f.reachable(from, to)}
	ft.dropReq = f.dropReq > 0 && f.rng.Float64() < f.dropReq
	ft.dropResp = f.dropResp > 0 && f.rng.Float64() < f.dropResp
	ft.dup = f.dup > 0 && f.rng.Float64() < f.dup
	if f.delayMax > 0 {
		ft.delay = f.delayMin + time.Duration(f.rng.Int64N(int64(f.delayMax-f.delayMin)+1))
	}
	return ft
}

// Wrap returns a Transport for node from whose calls suffer f's faults.
func (f *Faults) Wrap(from string, t Transport) Transport {
	return faultyTransport{f: f, from: from, t: t}
}

type faultyTransport struct {
	f    *Faults
	from string
	t    Transport
}

func (t faultyTransport) Peer(id string) Peer {
	return faultyPeer{f: t.f, from: t.from, to: id, p: t.t.Peer(id)}
}

func (t faultyTransport) Close() error { return t.t.Close() }

type faultyPeer struct {
	f        *Faults
	from, to string
	p        Peer
}

func faulty[Req, Resp proto.Message](ctx context.Context, fp faultyPeer, req Req, fn func(Peer, context.Context, Req) (Resp, error)) (Resp, error) {
	var zero Resp
	ft := fp.f.decide(fp.from, fp.to)
	if ft.delay > 0 {
		t := time.NewTimer(ft.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, ctx.Err()
		case <-t.C:
		}
	}
	if ft.cut {
		return zero, fmt.Errorf("%w: %s cannot reach %s (partition)", ErrUnreachable, fp.from, fp.to)
	}
	if ft.dropReq {
		return zero, fmt.Errorf("%w: request from %s to %s lost", ErrUnreachable, fp.from, fp.to)
	}
	resp, err := fn(fp.p, ctx, req)
	if ft.dup {
		_, _ = fn(fp.p, ctx, proto.Clone(req).(Req))
	}
	if ft.dropResp {
		return zero, fmt.Errorf("%w: answer from %s to %s lost", ErrUnreachable, fp.to, fp.from)
	}
	return resp, err
}

func (p faultyPeer) Write(ctx context.Context, r *nodepb.WriteRequest) (*nodepb.WriteResponse, error) {
	return faulty(ctx, p, r, Peer.Write)
}

func (p faultyPeer) Replicate(ctx context.Context, r *nodepb.ReplicateRequest) (*nodepb.ReplicateResponse, error) {
	return faulty(ctx, p, r, Peer.Replicate)
}

func (p faultyPeer) ReplicateBatch(ctx context.Context, r *nodepb.ReplicateBatchRequest) (*nodepb.ReplicateBatchResponse, error) {
	return faulty(ctx, p, r, Peer.ReplicateBatch)
}

func (p faultyPeer) Read(ctx context.Context, r *nodepb.ReadRequest) (*nodepb.ReadResponse, error) {
	return faulty(ctx, p, r, Peer.Read)
}

func (p faultyPeer) ReadBatch(ctx context.Context, r *nodepb.ReadBatchRequest) (*nodepb.ReadBatchResponse, error) {
	return faulty(ctx, p, r, Peer.ReadBatch)
}

func (p faultyPeer) Scan(ctx context.Context, r *nodepb.ScanRequest) (*nodepb.ScanResponse, error) {
	return faulty(ctx, p, r, Peer.Scan)
}

func (p faultyPeer) TreeCompare(ctx context.Context, r *nodepb.TreeRequest) (*nodepb.TreeResponse, error) {
	return faulty(ctx, p, r, Peer.TreeCompare)
}

func (p faultyPeer) Settle(ctx context.Context, r *nodepb.SettleRequest) (*nodepb.SettleResponse, error) {
	return faulty(ctx, p, r, Peer.Settle)
}

func (p faultyPeer) TreeBuckets(ctx context.Context, r *nodepb.BucketsRequest) (*nodepb.BucketsResponse, error) {
	return faulty(ctx, p, r, Peer.TreeBuckets)
}

func (p faultyPeer) Raft(ctx context.Context, r *nodepb.RaftRequest) (*nodepb.RaftResponse, error) {
	return faulty(ctx, p, r, Peer.Raft)
}

func (p faultyPeer) Strong(ctx context.Context, r *nodepb.StrongRequest) (*nodepb.StrongResponse, error) {
	return faulty(ctx, p, r, Peer.Strong)
}
