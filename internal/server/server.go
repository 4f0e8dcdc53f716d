package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/api/httpapi"
	"github.com/pandodb/pando/internal/api/resp"
	"github.com/pandodb/pando/internal/auth"
	"github.com/pandodb/pando/internal/certs"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/coordinator"
	"github.com/pandodb/pando/internal/membership"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/ring"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
)

// Config is a node's configuration. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// DataDir holds the node's data.
	DataDir string
	// NodeID names the node; empty means the one stored in DataDir, or a
	// new one on first start.
	NodeID string
	// RESPAddr is the Redis protocol listen address.
	RESPAddr string
	// HTTPAddr is the HTTP API listen address.
	HTTPAddr string
	// ClusterAddr is the node-to-node RPC listen address.
	ClusterAddr string
	// GossipAddr is the gossip listen address (UDP and TCP).
	GossipAddr string
	// Join lists gossip addresses of nodes to join; this node's own may be
	// among them.
	Join []string
	// BootstrapExpect is how many nodes form a new cluster; 0 means 1
	// without Join and the number of Join addresses with it.
	BootstrapExpect int
	// Partitions is the ring size of a new cluster.
	Partitions int
	// FastGossip tunes failure detection for one machine (dev clusters).
	FastGossip bool
	// RequestTimeout bounds a request's wait for replicas.
	RequestTimeout time.Duration
	// Limits bound keys and values.
	Limits api.Limits
	// CacheBytes is the storage block cache size in bytes.
	CacheBytes int64
	// RecordCacheBytes bounds the cache of recently read records; 0 disables
	// it.
	RecordCacheBytes int64
	// WALMinSyncInterval is the least time between two fsyncs of the
	// write-ahead log; writes arriving meanwhile share the next one.
	WALMinSyncInterval time.Duration
	// ReapInterval is how often expired records are reclaimed from disk.
	ReapInterval time.Duration
	// TLSCert, TLSKey and TLSCA, if set, put every TCP listener behind
	// TLS (1.2 at least; no plaintext on them then): the Redis protocol
	// and HTTP ones (a client certificate, if one is presented, must be
	// signed by TLSCA), and the cluster one with mutual TLS, where a peer
	// must present a node certificate signed by TLSCA. The files are read
	// again when they change.
	TLSCert, TLSKey, TLSCA string
	// GossipKeyFile, if set, encrypts gossip with the keys it holds (one
	// base64 key per line, the first encrypting; membership.ParseKeys),
	// read again whenever it changes: the way keys are rotated.
	GossipKeyFile string
	// MinFreeDisk is the free space of the data directory's file system
	// under which the node refuses data writes (-NOSPACE), keeping room
	// for flushes, compactions, Raft logs and hints; MaxDiskUsage, if set,
	// refuses them once the database takes that much.
	MinFreeDisk  int64
	MaxDiskUsage int64
	// HintMaxBytes bounds the hints this node keeps for replicas that miss
	// writes; HintMaxAge is how long a hint waits for its replica.
	HintMaxBytes int64
	HintMaxAge   time.Duration
	// DisableReadRepair stops reads from repairing the stale replicas they
	// find (for tests of hinted handoff alone).
	DisableReadRepair bool
	// AntiEntropyInterval is the pause between two rounds of anti-entropy
	// exchanges with the other replicas; AntiEntropyRecords and
	// AntiEntropyBytes bound what they move per second (0: no bound;
	// changeable at run time through PUT /v1/antientropy).
	// DisableAntiEntropy runs no rounds (peers still compare with this
	// node).
	AntiEntropyInterval                  time.Duration
	AntiEntropyRecords, AntiEntropyBytes float64
	DisableAntiEntropy                   bool
	// TombstoneGrace is how long after its stamp a tombstone stays on disk
	// at least, once every replica is known to hold it (0: HintMaxAge plus
	// 10 minutes; never less than HintMaxAge).
	TombstoneGrace time.Duration
	// MaxClockOffset is how far apart the nodes' clocks are trusted to be
	// (default 500ms): tombstones wait twice this past their grace.
	MaxClockOffset time.Duration
	// ShutdownTimeout bounds how long Shutdown waits for in-flight requests.
	ShutdownTimeout time.Duration
	// Pprof serves Go's profiler on the HTTP API under /debug/pprof/.
	Pprof bool
	// RequireAuth makes every client authenticate as a user of the
	// cluster (RESP AUTH, HTTP Basic auth) and checks each command's and
	// route's permission; MetricsAuth puts /metrics behind a login too.
	RequireAuth, MetricsAuth bool
	// AdminPasswordFile, with RequireAuth, makes user AdminUser (default
	// "admin") an admin with the password in the file's first line when
	// the cluster has no user yet: the first admin of a cluster started by
	// automation.
	AdminUser, AdminPasswordFile string
	// DebugClock runs the node on an adjustable clock, moved through POST
	// /v1/debug/clock: for the verifier's clock nemesis. Never in
	// production.
	DebugClock bool
	// DebugDiskFaults lets POST /v1/debug/disk inject faults into the
	// node's storage (storage.Faults): for the verifier's disk nemeses.
	// Never in production. The fault outlives a reopen by Supervise.
	DebugDiskFaults bool
	// diskFaults is the faults injected, kept across reopens.
	diskFaults *storage.Faults
	// Version is reported by INFO and /metrics.
	Version string
	// Clock is the node's clock (default: the real one).
	Clock  clock.Clock
	Logger *slog.Logger
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		DataDir:             "pando-data",
		RESPAddr:            "127.0.0.1:6379",
		HTTPAddr:            "127.0.0.1:8080",
		ClusterAddr:         "127.0.0.1:7000",
		GossipAddr:          "127.0.0.1:7946",
		Partitions:          64,
		RequestTimeout:      5 * time.Second,
		Limits:              api.DefaultLimits(),
		CacheBytes:          64 << 20,
		RecordCacheBytes:    32 << 20,
		ReapInterval:        time.Second,
		HintMaxBytes:        512 << 20,
		MinFreeDisk:         storage.DefaultMinFreeBytes,
		HintMaxAge:          3 * time.Hour,
		AntiEntropyInterval: 10 * time.Second,
		MaxClockOffset:      500 * time.Millisecond,
		ShutdownTimeout:     10 * time.Second,
		Version:             "dev",
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir: must be set"))
	}
	for _, a := range []struct{ name, addr string }{
		{"resp addr", c.RESPAddr}, {"http addr", c.HTTPAddr}, {"cluster addr", c.ClusterAddr}, {"gossip addr", c.GossipAddr},
	} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want HOST:PORT", a.name, a.addr))
		}
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			errs = append(errs, fmt.Errorf("join address %q: want HOST:PORT", j))
		}
	}
	if p := c.Partitions; p < 1 || p > ring.Slots || p&(p-1) != 0 {
		errs = append(errs, fmt.Errorf("partitions must be a power of two from 1 to 16384 (one per hash slot at most), got %d", p))
	}
	if c.BootstrapExpect < 0 {
		errs = append(errs, fmt.Errorf("bootstrap expect must not be negative, got %d", c.BootstrapExpect))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ReapInterval <= 0 || c.ShutdownTimeout <= 0 || c.RequestTimeout <= 0 {
		errs = append(errs, errors.New("reap interval, request timeout and shutdown timeout must be positive"))
	}
	if c.MinFreeDisk < 0 || c.MaxDiskUsage < 0 {
		errs = append(errs, errors.New("--min-free-disk and --max-disk-usage must not be negative"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if (c.TLSCA == "") != (c.TLSCert == "") {
		errs = append(errs, errors.New("--tls-cert, --tls-key and --tls-ca go together: nodes check each other against the cluster CA"))
	}
	if c.HintMaxBytes < 0 || c.HintMaxAge < 0 {
		errs = append(errs, errors.New("hint max bytes and hint max age must not be negative"))
	}
	if c.AntiEntropyInterval < 0 || c.AntiEntropyRecords < 0 || c.AntiEntropyBytes < 0 {
		errs = append(errs, errors.New("anti-entropy interval, records and bytes per second must not be negative"))
	}
	if c.TombstoneGrace != 0 && c.TombstoneGrace < max(c.HintMaxAge, 0) {
		errs = append(errs, fmt.Errorf("tombstone grace %v must be at least the hint max age %v: a hint delivered late could bring a deleted value back", c.TombstoneGrace, c.HintMaxAge))
	}
	if c.MaxClockOffset < 0 {
		errs = append(errs, errors.New("max clock offset must not be negative"))
	}
	if c.TombstoneGrace != 0 && c.TombstoneGrace < c.RequestTimeout {
		errs = append(errs, fmt.Errorf("tombstone grace %v must be at least the request timeout %v: a read that found a replica before the delete reached it could bring the deleted value back", c.TombstoneGrace, c.RequestTimeout))
	}
	return errors.Join(errs...)
}

// Server is a running node with its listeners.
type Server struct {
	cfg     Config
	log     *slog.Logger
	node    *Node
	gossip  *membership.Membership
	keys    *gossipKeys // nil: plaintext gossip
	peerTLS *tls.Config // nodes' TLS to each other; nil without TLS
	// gossipRefused counts what gossip refused (gossipkeys.go).
	gossipRefused prometheus.Counter
	grpcT         *transport.GRPC
	grpcSrv       *grpc.Server
	resp          *resp.Server
	http          *httpapi.Server
	respLn        net.Listener
	httpLn        net.Listener
	rpcLn         net.Listener
	ready         atomic.Bool
	shutOnce      sync.Once
}

// New binds every listener, opens storage and joins gossip.
func New(cfg Config) (s *Server, err error) {
	def := DefaultConfig()
	if cfg.Limits == (api.Limits{}) {
		cfg.Limits = def.Limits
	}
	for _, f := range []struct {
		v *time.Duration
		d time.Duration
	}{{&cfg.ReapInterval, def.ReapInterval}, {&cfg.ShutdownTimeout, def.ShutdownTimeout}, {&cfg.RequestTimeout, def.RequestTimeout}} {
		if *f.v == 0 {
			*f.v = f.d
		}
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = def.CacheBytes
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = def.Partitions
	}
	if cfg.Version == "" {
		cfg.Version = def.Version
	}
	var debugClock *clock.Offset
	if cfg.DebugClock {
		debugClock = clock.NewOffset(0)
		cfg.Clock = debugClock
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.DebugDiskFaults && cfg.diskFaults == nil {
		cfg.diskFaults = new(storage.Faults)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BootstrapExpect == 0 {
		cfg.BootstrapExpect = max(1, distinct(cfg.Join))
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s = &Server{cfg: cfg, log: cfg.Logger}
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	listen := func(what, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s listener: %w", what, err)
		}
		closers = append(closers, func() { ln.Close() })
		return ln, nil
	}
	if s.respLn, err = listen("redis protocol", cfg.RESPAddr); err != nil {
		return nil, err
	}
	if s.httpLn, err = listen("http", cfg.HTTPAddr); err != nil {
		return nil, err
	}
	if s.rpcLn, err = listen("cluster", cfg.ClusterAddr); err != nil {
		return nil, err
	}
	if cfg.TLSCert != "" {
		tcfg, err := certs.ServerConfig(cfg.TLSCert, cfg.TLSKey, cfg.TLSCA)
		if err != nil {
			return nil, err
		}
		s.respLn, s.httpLn = tls.NewListener(s.respLn, tcfg), tls.NewListener(s.httpLn, tcfg)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "pando_build_info",
		Help:        "Always 1; the version label says which Pando runs.",
		ConstLabels: prometheus.Labels{"version": cfg.Version},
	}, func() float64 { return 1 }))

	if s.keys, err = loadGossipKeys(cfg.GossipKeyFile); err != nil {
		return nil, err
	}
	s.gossipRefused = newGossipRefused(reg)
	var nodeClientTLS, nodeServerTLS *tls.Config
	if cfg.TLSCert != "" {
		if nodeClientTLS, err = certs.NodeClientConfig(cfg.TLSCert, cfg.TLSKey, cfg.TLSCA); err != nil {
			return nil, err
		}
		refusals := prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_cluster_peers_refused_total",
			Help: "Calls on the cluster listener refused because the caller's certificate is not a node certificate of the cluster's CA.",
		})
		reg.MustRegister(refusals)
		var lastLogged atomic.Int64
		if nodeServerTLS, err = certs.NodeServerConfig(cfg.TLSCert, cfg.TLSKey, cfg.TLSCA, func(reason string) {
			refusals.Inc()
			if now := time.Now().UnixNano(); now-lastLogged.Load() >= int64(10*time.Second) {
				lastLogged.Store(now)
				cfg.Logger.Warn("refused a caller on the cluster listener (at most one line per 10s; pando_cluster_peers_refused_total counts them all)", "reason", reason)
			}
		}); err != nil {
			return nil, err
		}
	}
	s.peerTLS = nodeClientTLS
	grpcT := transport.NewGRPC(transport.GRPCConfig{Resolve: s.resolve, TLS: nodeClientTLS, Logger: cfg.Logger})
	s.grpcT = grpcT
	closers = append(closers, func() { grpcT.Close() })
	s.node, err = OpenNode(NodeConfig{
		ID: cfg.NodeID, DataDir: cfg.DataDir,
		ClusterAddr: s.rpcLn.Addr().String(), RESPAddr: s.respLn.Addr().String(), HTTPAddr: s.httpLn.Addr().String(),
		Transport: s.grpcT, NewGossip: s.startGossip,
		BootstrapExpect: cfg.BootstrapExpect, Partitions: cfg.Partitions, RequestTimeout: cfg.RequestTimeout,
		CacheBytes: cfg.CacheBytes, RecordCacheBytes: cfg.RecordCacheBytes, WALMinSync: cfg.WALMinSyncInterval,
		ReapInterval: cfg.ReapInterval, HintMaxBytes: cfg.HintMaxBytes, HintMaxAge: cfg.HintMaxAge,
		MinFreeDisk: cfg.MinFreeDisk, MaxDiskUsage: cfg.MaxDiskUsage, DiskFaults: cfg.diskFaults,
		DisableReadRepair: cfg.DisableReadRepair, Clock: cfg.Clock, Logger: cfg.Logger, Registerer: reg,
		AntiEntropyInterval: cfg.AntiEntropyInterval, AntiEntropyRecords: cfg.AntiEntropyRecords,
		AntiEntropyBytes: cfg.AntiEntropyBytes, DisableAntiEntropy: cfg.DisableAntiEntropy, TombstoneGrace: cfg.TombstoneGrace, MaxClockOffset: cfg.MaxClockOffset,
	})
	if err != nil {
		if g := s.gossip; g != nil {
			_ = g.Shutdown(time.Second)
		}
		return nil, err
	}
	node, gossip := s.node, s.gossip
	closers = append(closers, func() { node.eng.Close(); _ = gossip.Shutdown(time.Second) })
	s.log = cfg.Logger.With("node", s.node.ID)
	metrics, err := api.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	kv := s.node.KV()
	var respAuth resp.Authenticator
	var httpAuth httpapi.Authenticator
	if cfg.RequireAuth {
		a := newAuthenticator(s.node.Meta())
		respAuth, httpAuth = a, a
	}
	s.resp, err = resp.New(resp.Config{
		KV: kv, Catalog: coordinator.Catalog{Meta: s.node.Meta()}, Topology: topology{s}, Flusher: flusher{s}, Limits: cfg.Limits, Clock: cfg.Clock,
		Metrics: metrics, Logger: cfg.Logger, Version: cfg.Version, NodeID: s.node.ID, Auth: respAuth,
	})
	if err != nil {
		return nil, err
	}
	s.http, err = httpapi.New(httpapi.Config{
		KV: kv, Limits: cfg.Limits, Clock: cfg.Clock, Metrics: metrics, Gatherer: reg, Logger: cfg.Logger,
		Ready: s.readyErr, Pprof: cfg.Pprof, Cluster: clusterView{s}, Moves: clusterView{s}, DebugClock: debugClock, DebugDisk: debugDisk(cfg.diskFaults), Catalog: coordinator.Catalog{Meta: s.node.Meta()},
		Auth: httpAuth, MetricsAuth: cfg.MetricsAuth,
	})
	if err != nil {
		return nil, err
	}
	s.grpcSrv = transport.NewServer(s.node.Handler(), nodeServerTLS)
	return s, nil
}

func distinct(addrs []string) int {
	seen := map[string]bool{}
	for _, a := range addrs {
		if a = strings.TrimSpace(a); a != "" {
			seen[a] = true
		}
	}
	return len(seen)
}

func (s *Server) startGossip(id string) (Gossip, error) {
	var keys [][]byte
	var refused func(string)
	if s.keys != nil || s.peerTLS != nil {
		refused = func(string) { s.gossipRefused.Inc() }
	}
	if s.keys != nil {
		keys = s.keys.keys
	}
	var verify func(membership.Member) error
	if s.peerTLS != nil {
		// A node counts only once its cluster address presents a node
		// certificate of the cluster's CA.
		verify = func(m membership.Member) error { return certs.ProbeNode(m.ClusterAddr, s.peerTLS) }
	}
	g, err := membership.New(membership.Config{
		NodeID: id, BindAddr: s.cfg.GossipAddr, Join: s.cfg.Join, Fast: s.cfg.FastGossip, Logger: s.cfg.Logger,
		Keys: keys, OnRefused: refused, Verify: verify,
		Meta: membership.Meta{ClusterAddr: s.rpcLn.Addr().String(), RESPAddr: s.respLn.Addr().String(), HTTPAddr: s.httpLn.Addr().String()},
	})
	if err != nil {
		return nil, err
	}
	s.gossip = g
	return g, nil
}

// resolve maps a node id to its cluster address: gossip knows the latest,
// the metadata the last recorded.
func (s *Server) resolve(id string) (string, bool) {
	if s.gossip != nil {
		if m, ok := s.gossip.Member(id); ok && m.ClusterAddr != "" {
			return m.ClusterAddr, true
		}
	}
	if s.node != nil {
		if m, ok := s.node.Meta().State().Members[id]; ok && m.ClusterAddr != "" {
			return m.ClusterAddr, true
		}
	}
	return "", false
}

func (s *Server) readyErr() error {
	if !s.ready.Load() {
		return fmt.Errorf("node is starting, joining the cluster, or stopping (a node started with --join against a running cluster is a candidate until an operator admits it: pando cluster join %s)", s.node.ID)
	}
	if err := s.node.eng.WriteRefusal(); err != nil {
		return fmt.Errorf("data writes refused, reads served: %w", err)
	}
	if s.cfg.RequireAuth && len(s.node.Meta().State().Users) == 0 {
		return errors.New("clients must log in and the cluster has no user yet: add the first admin on a node's machine (pando user add NAME --role admin --password-file FILE), or start the nodes with --admin-password-file")
	}
	return nil
}

// NodeID is the node's id.
func (s *Server) NodeID() string { return s.node.ID }

// RESPAddr is the bound Redis protocol address.
func (s *Server) RESPAddr() net.Addr { return s.respLn.Addr() }

// HTTPAddr is the bound HTTP address.
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// ClusterAddr is the bound node-to-node address.
func (s *Server) ClusterAddr() net.Addr { return s.rpcLn.Addr() }

// GossipAddr is the gossip address peers use.
func (s *Server) GossipAddr() string { return s.gossip.LocalAddr() }

// Run serves until ctx ends, then shuts down. It returns the first error that
// stopped a part, or nil after a requested shutdown.
func (s *Server) Run(ctx context.Context) error {
	nodeCtx, stopNode := context.WithCancel(context.Background())
	defer stopNode()
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	serve := func(what string, fn func() error, ignore ...error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil && !errors.Is(err, ignore[0]) {
				errc <- fmt.Errorf("%s: %w", what, err)
			}
		}()
	}
	serve("cluster rpc", func() error { return s.grpcSrv.Serve(s.rpcLn) }, grpc.ErrServerStopped)
	if s.keys != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.keys.watch(nodeCtx, s.gossip, time.Second, s.log) }()
	}
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- s.node.Run(nodeCtx) }()
	if err := s.gossip.Join(ctx); err != nil {
		errc <- err
	}
	serve("redis protocol server", func() error { return s.resp.Serve(s.respLn) }, resp.ErrServerClosed)
	serve("http server", func() error { return s.http.Serve(s.httpLn) }, http.ErrServerClosed)
	go func() {
		if err := s.node.Meta().WaitReady(ctx); err == nil {
			s.ready.Store(true)
			s.log.Info("node serving", "resp", s.RESPAddr().String(), "http", s.HTTPAddr().String(),
				"cluster", s.ClusterAddr().String(), "gossip", s.GossipAddr(), "data", s.cfg.DataDir,
				"cluster_id", s.node.Meta().State().ClusterID)
			if s.cfg.RequireAuth && len(s.node.Meta().State().Users) == 0 {
				if err := s.firstAdmin(ctx); err != nil {
					s.log.Warn("clients must authenticate and the cluster has no user yet: add the first admin on a node's machine, with pando user add NAME --role admin --password-file FILE", "admin_password_file", err)
				}
			}
		}
	}()
	s.log.Info("node starting", "resp", s.RESPAddr().String(), "http", s.HTTPAddr().String(),
		"cluster", s.ClusterAddr().String(), "gossip", s.GossipAddr(), "bootstrap_expect", s.cfg.BootstrapExpect)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	case runErr = <-nodeDone:
		nodeDone <- runErr
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	s.shutOnce.Do(func() {
		s.ready.Store(false)
		s.log.Info("node stopping")
		if err := s.http.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
		if err := s.resp.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("redis protocol shutdown: %w", err))
		}
		stopNode()
		if err := <-nodeDone; err != nil {
			errs = append(errs, err)
		}
		s.grpcSrv.Stop()
		if err := s.gossip.Shutdown(time.Second); err != nil {
			s.log.Debug("leaving gossip", "err", err)
		}
		s.grpcT.Close()
		wg.Wait()
		s.log.Info("node stopped")
	})
	return errors.Join(append([]error{runErr}, errs...)...)
}

// clusterView serves the HTTP admin endpoints.
type clusterView struct{ s *Server }

func (v clusterView) State() *metadata.State { return v.s.node.Meta().State() }

func (v clusterView) CreateNamespace(ctx context.Context, ns metadata.Namespace) error {
	return metadataError(v.s.node.Meta().CreateNamespace(ctx, ns))
}

func (v clusterView) TruncateNamespace(ctx context.Context, name string) error {
	return metadataError(v.s.node.Meta().TruncateNamespace(ctx, name))
}

func (v clusterView) SetAntiEntropyBudget(records, bytes float64) error {
	ae := v.s.node.AntiEntropy()
	if ae == nil {
		return errors.New("anti-entropy is off on this node")
	}
	return ae.SetBudget(records, bytes)
}

func (v clusterView) Admit(ctx context.Context, node string) error {
	return metadataError(v.s.node.Meta().Admit(ctx, node))
}

func (v clusterView) Remove(ctx context.Context, node string) error {
	return metadataError(v.s.node.Meta().Remove(ctx, node))
}

func (v clusterView) DropNamespace(ctx context.Context, name string) error {
	return metadataError(v.s.node.Meta().DropNamespace(ctx, name))
}

// metadataError maps the metadata's errors to the ones clients see.
func (v clusterView) PutUser(ctx context.Context, u auth.User, create bool) error {
	return metadataError(v.s.node.Meta().PutUser(ctx, u, create))
}

func (v clusterView) DeleteUser(ctx context.Context, name string) error {
	return metadataError(v.s.node.Meta().DeleteUser(ctx, name))
}

func (v clusterView) PutToken(ctx context.Context, t auth.Token) error {
	return metadataError(v.s.node.Meta().PutToken(ctx, t))
}

func (v clusterView) DeleteToken(ctx context.Context, id string) error {
	return metadataError(v.s.node.Meta().DeleteToken(ctx, id))
}

func metadataError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, metadata.ErrExists):
		return fmt.Errorf("%w: %s", api.ErrExists, strings.TrimPrefix(err.Error(), "already exists: "))
	case errors.Is(err, metadata.ErrUnsupported):
		return fmt.Errorf("%w: %s", api.ErrUnsupported, strings.TrimPrefix(err.Error(), "not supported: "))
	case errors.Is(err, metadata.ErrInvalid):
		return fmt.Errorf("%w: %s", api.ErrInvalidArgument, strings.TrimPrefix(err.Error(), "invalid: "))
	case errors.Is(err, metadata.ErrNotInitialized):
		return fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	case errors.Is(err, metadata.ErrNoQuorum):
		return fmt.Errorf("%w: %s", api.ErrUnavailable, strings.TrimPrefix(err.Error(), "no quorum: "))
	case errors.Is(err, metadata.ErrNoNamespace):
		return fmt.Errorf("%w: %s", api.ErrNoNamespace, strings.TrimPrefix(err.Error(), "no such namespace: "))
	}
	return fmt.Errorf("%w: changing the metadata: %v", api.ErrUnavailable, err)
}

func (v clusterView) Status(ctx context.Context) httpapi.Status {
	st := v.s.node.Meta().State()
	raft := v.s.node.Meta().RaftStatus()
	disk := v.s.node.eng.Disk()
	out := httpapi.Status{ClusterID: st.ClusterID, Node: v.s.node.ID, Partitions: st.Partitions, Disk: &disk}
	if h := v.s.node.Hints(); h != nil {
		out.HintsPending = h.Pending()
	}
	if ae := v.s.node.AntiEntropy(); ae != nil {
		st := ae.Status()
		out.AntiEntropy = &st
	}
	if m, ok := st.MemberByRaftID(raft.Leader); ok {
		out.Leader = m.ID
	}
	voters := map[uint64]bool{}
	for _, id := range raft.Voters {
		voters[id] = true
	}
	nodes := map[string]*httpapi.NodeStatus{}
	for id, m := range st.Members {
		ns := &httpapi.NodeStatus{ID: id, State: "unknown", Member: true, Voter: voters[m.RaftID],
			ClusterAddr: m.ClusterAddr, RESPAddr: m.RESPAddr, HTTPAddr: m.HTTPAddr}
		if st.Ring != nil {
			ns.Partitions = len(st.Ring.PartitionsOf(id))
		}
		nodes[id] = ns
	}
	for _, g := range v.s.gossip.Members() {
		ns, ok := nodes[g.ID]
		if !ok {
			_, removed := st.Removed[g.ID]
			ns = &httpapi.NodeStatus{ID: g.ID, Removed: removed, ClusterAddr: g.ClusterAddr, RESPAddr: g.RESPAddr, HTTPAddr: g.HTTPAddr}
			nodes[g.ID] = ns
		}
		switch g.State {
		case membership.Alive, membership.Suspect:
			ns.State = "up"
		case membership.Dead:
			ns.State = "down"
		case membership.Left:
			ns.State = "stopped" // shut down cleanly; still a member
		}
	}
	for _, id := range slices.Sorted(maps.Keys(nodes)) {
		out.Nodes = append(out.Nodes, *nodes[id])
	}
	for _, name := range st.NamespaceNames() {
		out.Namespaces = append(out.Namespaces, st.Namespaces[name])
	}
	out.Staged = st.Staged
	if st.Move != nil {
		m := v.MoveStatus(ctx)
		out.Move = &m
	}
	return out
}
