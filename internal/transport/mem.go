package transport

import (
	"context"
	"fmt"
	"sync"

	"github.com/pandodb/pando/internal/transport/nodepb"
	"google.golang.org/protobuf/proto"
)

// MemNetwork connects in-process nodes. Calls run the target's handler
// directly on the caller's goroutine, with requests and responses cloned so
// that neither side can alias the other's memory, as over a socket.
type MemNetwork struct {
	mu    sync.RWMutex
	nodes map[string]Peer
}

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork { return &MemNetwork{nodes: map[string]Peer{}} }

// Register attaches node id's handler; a nil handler detaches it (the node
// is gone: calls fail with ErrUnreachable).
func (n *MemNetwork) Register(id string, h Peer) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h == nil {
		delete(n.nodes, id)
		return
	}
	n.nodes[id] = h
}

// Transport returns a Transport for calls on this network.
func (n *MemNetwork) Transport() Transport { return memTransport{n} }

type memTransport struct{ n *MemNetwork }

func (t memTransport) Peer(id string) Peer { return memPeer{n: t.n, id: id} }
func (t memTransport) Close() error        { return nil }

type memPeer struct {
	n  *MemNetwork
	id string
}

func (p memPeer) handler() (Peer, error) {
	p.n.mu.RLock()
	defer p.n.mu.RUnlock()
	h, ok := p.n.nodes[p.id]
	if !ok {
		return nil, fmt.Errorf("%w: %s is not on the network", ErrUnreachable, p.id)
	}
	return h, nil
}

// call runs fn against the target with cloned messages.
func call[Req, Resp proto.Message](ctx context.Context, p memPeer, req Req, fn func(Peer, context.Context, Req) (Resp, error)) (Resp, error) {
	var zero Resp
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	h, err := p.handler()
	if err != nil {
		return zero, err
	}
	resp, err := fn(h, ctx, proto.Clone(req).(Req))
	if err != nil {
		return zero, err
	}
	return proto.Clone(resp).(Resp), nil
}

func (p memPeer) Write(ctx context.Context, r *nodepb.WriteRequest) (*nodepb.WriteResponse, error) {
	return call(ctx, p, r, Peer.Write)
}

func (p memPeer) Replicate(ctx context.Context, r *nodepb.ReplicateRequest) (*nodepb.ReplicateResponse, error) {
	return call(ctx, p, r, Peer.Replicate)
}

func (p memPeer) ReplicateBatch(ctx context.Context, r *nodepb.ReplicateBatchRequest) (*nodepb.ReplicateBatchResponse, error) {
	return call(ctx, p, r, Peer.ReplicateBatch)
}

func (p memPeer) Read(ctx context.Context, r *nodepb.ReadRequest) (*nodepb.ReadResponse, error) {
	return call(ctx, p, r, Peer.Read)
}

func (p memPeer) ReadBatch(ctx context.Context, r *nodepb.ReadBatchRequest) (*nodepb.ReadBatchResponse, error) {
	return call(ctx, p, r, Peer.ReadBatch)
}

func (p memPeer) Scan(ctx context.Context, r *nodepb.ScanRequest) (*nodepb.ScanResponse, error) {
	return call(ctx, p, r, Peer.Scan)
}

func (p memPeer) TreeCompare(ctx context.Context, r *nodepb.TreeRequest) (*nodepb.TreeResponse, error) {
	return call(ctx, p, r, Peer.TreeCompare)
}

func (p memPeer) Settle(ctx context.Context, r *nodepb.SettleRequest) (*nodepb.SettleResponse, error) {
	return call(ctx, p, r, Peer.Settle)
}

func (p memPeer) TreeBuckets(ctx context.Context, r *nodepb.BucketsRequest) (*nodepb.BucketsResponse, error) {
	return call(ctx, p, r, Peer.TreeBuckets)
}

func (p memPeer) Raft(ctx context.Context, r *nodepb.RaftRequest) (*nodepb.RaftResponse, error) {
	return call(ctx, p, r, Peer.Raft)
}

func (p memPeer) Strong(ctx context.Context, r *nodepb.StrongRequest) (*nodepb.StrongResponse, error) {
	return call(ctx, p, r, Peer.Strong)
}
