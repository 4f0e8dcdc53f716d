package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pandodb/pando/internal/transport/nodepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// MaxMessageBytes bounds one node-to-node message: a record with siblings of
// large values must fit.
const MaxMessageBytes = 256 << 20

// Remote errors: a handler's error crosses the wire as a registered code and
// its message, and comes out on the caller's side wrapping the same
// sentinel, so errors.Is works across nodes.
var (
	remoteMu     sync.RWMutex
	remoteErrors = map[string]error{}
)

// RegisterError makes err travel between nodes under code.
func RegisterError(code string, err error) {
	remoteMu.Lock()
	defer remoteMu.Unlock()
	remoteErrors[code] = err
}

func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, err.Error())
	}
	remoteMu.RLock()
	defer remoteMu.RUnlock()
	for code, sentinel := range remoteErrors {
		if errors.Is(err, sentinel) {
			return status.Error(codes.Aborted, code+"\x00"+err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

func fromStatus(peer string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Aborted:
		code, msg, _ := strings.Cut(st.Message(), "\x00")
		remoteMu.RLock()
		sentinel, known := remoteErrors[code]
		remoteMu.RUnlock()
		if known {
			return remoteError{sentinel: sentinel, msg: msg}
		}
		return errors.New(msg)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", peer, context.DeadlineExceeded)
	case codes.Canceled:
		return fmt.Errorf("%s: %w", peer, context.Canceled)
	case codes.Internal, codes.Unknown:
		return fmt.Errorf("%s: %s", peer, st.Message())
	}
	return fmt.Errorf("%w: %s: %s", ErrUnreachable, peer, st.Message())
}

// remoteError is a sentinel error from another node, with its message.
type remoteError struct {
	sentinel error
	msg      string
}

func (e remoteError) Error() string { return e.msg }
func (e remoteError) Unwrap() error { return e.sentinel }

// GRPCConfig configures the gRPC transport.
type GRPCConfig struct {
	// Resolve maps a node id to its cluster address (HOST:PORT).
	Resolve func(id string) (addr string, ok bool)
	// TLS, if set, is the client side of mutual TLS between nodes: this
	// node's certificate, and the CA a peer's must chain to.
	TLS    *tls.Config
	Logger *slog.Logger
}

// GRPC is the product's Transport: one client connection per peer address.
type GRPC struct {
	cfg   GRPCConfig
	mu    sync.Mutex
	conns map[string]*grpcConn // by node id
}

type grpcConn struct {
	addr   string
	cc     *grpc.ClientConn
	client nodepb.NodeClient
}

var _ Transport = (*GRPC)(nil)

// NewGRPC returns a gRPC transport.
func NewGRPC(cfg GRPCConfig) *GRPC {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &GRPC{cfg: cfg, conns: map[string]*grpcConn{}}
}

func (g *GRPC) client(id string) (nodepb.NodeClient, error) {
	addr, ok := g.cfg.Resolve(id)
	if !ok {
		return nil, fmt.Errorf("%w: no address known for node %s", ErrUnreachable, id)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.conns[id]; ok {
		if c.addr == addr {
			return c.client, nil
		}
		c.cc.Close() // the node moved
	}
	creds := insecure.NewCredentials()
	if g.cfg.TLS != nil {
		creds = credentials.NewTLS(g.cfg.TLS)
	}
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %s at %s: %v", ErrUnreachable, id, addr, err)
	}
	c := &grpcConn{addr: addr, cc: cc, client: nodepb.NewNodeClient(cc)}
	g.conns[id] = c
	return c.client, nil
}

// Peer implements Transport.
func (g *GRPC) Peer(id string) Peer { return grpcPeer{g: g, id: id} }

// Unready implements Readiness: the connection to node id exists and is
// connecting, or failed and waits to retry (a call made now would wait
// for it, or fail, before anything is sent). It asks the connection to
// try again at once. A node never called, or one whose connection is up
// or idle, is not known unready.
func (g *GRPC) Unready(id string) bool {
	g.mu.Lock()
	c, ok := g.conns[id]
	g.mu.Unlock()
	if !ok {
		return false
	}
	switch c.cc.GetState() {
	case connectivity.Connecting, connectivity.TransientFailure:
		c.cc.Connect()
		return true
	}
	return false
}

// Close closes every connection.
func (g *GRPC) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, c := range g.conns {
		c.cc.Close()
		delete(g.conns, id)
	}
	return nil
}

type grpcPeer struct {
	g  *GRPC
	id string
}

func viaGRPC[Req, Resp any](ctx context.Context, p grpcPeer, req Req, fn func(nodepb.NodeClient, context.Context, Req, ...grpc.CallOption) (Resp, error)) (Resp, error) {
	var zero Resp
	c, err := p.g.client(p.id)
	if err != nil {
		return zero, err
	}
	resp, err := fn(c, ctx, req)
	if err != nil {
		return zero, fromStatus(p.id, err)
	}
	return resp, nil
}

func (p grpcPeer) Write(ctx context.Context, r *nodepb.WriteRequest) (*nodepb.WriteResponse, error) {
	return viaGRPC(ctx, p, r, nodepb.NodeClient.Write)
}

func (p grpcPeer) Replicate(ctx context.Context, r *nodepb.ReplicateRequest) (*nodepb.ReplicateResponse, error) {
	return viaGRPC(ctx, p, r, nodepb.NodeClient.Replicate)
}

func (p grpcPeer) ReplicateBatch(ctx context.Context, r *nodepb.ReplicateBatchRequest) (*nodepb.ReplicateBatchResponse, error) {
	return viaGRPC(ctx, p, r, nodepb.NodeClient.ReplicateBatch)
}

func (p grpcPeer) Read(ctx context.Context, r *nodepb.ReadRequest) (*nodepb.ReadResponse, error) {
	return viaGRPC(ctx, p, r, nodepb.NodeClient.Read)
}

func (p grpcPeer) ReadBatch(ctx context.Context, r *nodepb.ReadBatchRequest) (*nodepb.ReadBatchResponse, error) {
	return viaGRPC(ctx, p, r, nodepb.NodeClient.ReadBatch)
}

func (p grpcPeer) Scan(ctx context.Context, r *nodepb.ScanRequest) (*nodepb.ScanResponse, error) {
	return viaGRPC(ctx, p, r, nodepb.NodeClient.Scan)
}

func (p grpcPeer) TreeCompare(ctx context.Context, r *nodepb.TreeRequest) (*nodepb.TreeResponse, error) {
	return viaGRPC(ctx, p, r, nodepb.NodeClient.TreeCompare)
}

func (p grpcPeer) Settle(ctx context.Context, r *nodepb.SettleRequest) (*nodepb.SettleResponse, error) {
	return viaGRPC(ctx, p, r, nodepb.NodeClient.Settle)
}

func (p grpcPeer) TreeBuckets(ctx context.Context, r *nodepb.BucketsRequest) (*nodepb.BucketsResponse, error) {
	return viaGRPC(ctx, p, r, nodepb.NodeClient.TreeBuckets)
}

func (p grpcPeer) Raft(ctx context.Context, r *nodepb.RaftRequest) (*nodepb.RaftResponse, error) {
	return viaGRPC(ctx, p, r, nodepb.NodeClient.Raft)
}

func (p grpcPeer) Strong(ctx context.Context, r *nodepb.StrongRequest) (*nodepb.StrongResponse, error) {
	return viaGRPC(ctx, p, r, nodepb.NodeClient.Strong)
}

// NewServer returns a gRPC server that serves h to peers. Serve it on the
// cluster listener; GracefulStop it on shutdown. With tlsCfg, peers must
// present a certificate it accepts (mutual TLS).
func NewServer(h Peer, tlsCfg *tls.Config) *grpc.Server {
	opts := []grpc.ServerOption{}
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	srv := grpc.NewServer(append(opts,
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)...)
	nodepb.RegisterNodeServer(srv, server{h: h})
	return srv
}

type server struct {
	nodepb.UnimplementedNodeServer
	h Peer
}

func (s server) Write(ctx context.Context, r *nodepb.WriteRequest) (*nodepb.WriteResponse, error) {
	resp, err := s.h.Write(ctx, r)
	return resp, toStatus(err)
}

func (s server) Replicate(ctx context.Context, r *nodepb.ReplicateRequest) (*nodepb.ReplicateResponse, error) {
	resp, err := s.h.Replicate(ctx, r)
	return resp, toStatus(err)
}

func (s server) ReplicateBatch(ctx context.Context, r *nodepb.ReplicateBatchRequest) (*nodepb.ReplicateBatchResponse, error) {
	resp, err := s.h.ReplicateBatch(ctx, r)
	return resp, toStatus(err)
}

func (s server) Read(ctx context.Context, r *nodepb.ReadRequest) (*nodepb.ReadResponse, error) {
	resp, err := s.h.Read(ctx, r)
	return resp, toStatus(err)
}

func (s server) ReadBatch(ctx context.Context, r *nodepb.ReadBatchRequest) (*nodepb.ReadBatchResponse, error) {
	resp, err := s.h.ReadBatch(ctx, r)
	return resp, toStatus(err)
}

func (s server) Scan(ctx context.Context, r *nodepb.ScanRequest) (*nodepb.ScanResponse, error) {
	resp, err := s.h.Scan(ctx, r)
	return resp, toStatus(err)
}

func (s server) TreeCompare(ctx context.Context, r *nodepb.TreeRequest) (*nodepb.TreeResponse, error) {
	resp, err := s.h.TreeCompare(ctx, r)
	return resp, toStatus(err)
}

func (s server) TreeBuckets(ctx context.Context, r *nodepb.BucketsRequest) (*nodepb.BucketsResponse, error) {
	resp, err := s.h.TreeBuckets(ctx, r)
	return resp, toStatus(err)
}

func (s server) Settle(ctx context.Context, r *nodepb.SettleRequest) (*nodepb.SettleResponse, error) {
	resp, err := s.h.Settle(ctx, r)
	return resp, toStatus(err)
}

func (s server) Raft(ctx context.Context, r *nodepb.RaftRequest) (*nodepb.RaftResponse, error) {
	resp, err := s.h.Raft(ctx, r)
	return resp, toStatus(err)
}

func (s server) Strong(ctx context.Context, r *nodepb.StrongRequest) (*nodepb.StrongResponse, error) {
	resp, err := s.h.Strong(ctx, r)
	return resp, toStatus(err)
}
