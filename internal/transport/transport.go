package transport

import (
	"context"
	"errors"

	"github.com/pandodb/pando/internal/transport/nodepb"
)

// ErrUnreachable means a call did not get an answer from its peer: the peer
// is down, partitioned away, unknown, or the answer was lost.
var ErrUnreachable = errors.New("transport: peer unreachable")

// Peer is one node's service as its peers call it. Its methods mirror
// nodepb.NodeServer.
type Peer interface {
	Write(context.Context, *nodepb.WriteRequest) (*nodepb.WriteResponse, error)
	Replicate(context.Context, *nodepb.ReplicateRequest) (*nodepb.ReplicateResponse, error)
	ReplicateBatch(context.Context, *nodepb.ReplicateBatchRequest) (*nodepb.ReplicateBatchResponse, error)
	Read(context.Context, *nodepb.ReadRequest) (*nodepb.ReadResponse, error)
	ReadBatch(context.Context, *nodepb.ReadBatchRequest) (*nodepb.ReadBatchResponse, error)
	Scan(context.Context, *nodepb.ScanRequest) (*nodepb.ScanResponse, error)
	TreeCompare(context.Context, *nodepb.TreeRequest) (*nodepb.TreeResponse, error)
	TreeBuckets(context.Context, *nodepb.BucketsRequest) (*nodepb.BucketsResponse, error)
	Settle(context.Context, *nodepb.SettleRequest) (*nodepb.SettleResponse, error)
	Raft(context.Context, *nodepb.RaftRequest) (*nodepb.RaftResponse, error)
	Strong(context.Context, *nodepb.StrongRequest) (*nodepb.StrongResponse, error)
}

// Readiness is implemented by a transport that knows when a call to a
// peer would not be sent now: its connection is being made, or failed and
// waits to be tried again. A caller for which "not sent" and "sent, no
// answer" differ (a command that is not idempotent) asks before calling.
type Readiness interface {
	Unready(id string) bool
}

// Transport reaches peers by node id.
type Transport interface {
	// Peer returns the peer with the given id. It never fails: calls to an
	// unknown or unreachable peer return ErrUnreachable.
	Peer(id string) Peer
	// Close releases connections.
	Close() error
}
