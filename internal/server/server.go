package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/api/httpapi"
	"github.com/pandodb/pando/internal/api/resp"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Config is a node's configuration. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// DataDir holds the node's data.
	DataDir string
	// RESPAddr is the Redis protocol listen address.
	RESPAddr string
	// HTTPAddr is the HTTP API listen address.
	HTTPAddr string
	// Limits bound keys and values.
	Limits api.Limits
	// CacheBytes is the storage block cache size in bytes.
	CacheBytes int64
	// WALMinSyncInterval is the least time between two fsyncs of the
	// write-ahead log; writes arriving meanwhile share the next one.
	WALMinSyncInterval time.Duration
	// RecordCacheBytes bounds the cache of recently read records; 0 disables
	// it.
	RecordCacheBytes int64
	// ReapInterval is how often expired records are reclaimed from disk.
	ReapInterval time.Duration
	// ShutdownTimeout bounds how long Shutdown waits for in-flight requests.
	ShutdownTimeout time.Duration
	// Pprof serves Go's profiler on the HTTP API under /debug/pprof/.
	Pprof bool
	// Version is reported by INFO and /metrics.
	Version string
	// Clock is the node's clock (default: the real one).
	Clock  clock.Clock
	Logger *slog.Logger
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		DataDir:          "pando-data",
		RESPAddr:         "127.0.0.1:6379",
		HTTPAddr:         "127.0.0.1:8080",
		Limits:           api.DefaultLimits(),
		CacheBytes:       64 << 20,
		RecordCacheBytes: 32 << 20,
		ReapInterval:     time.Second,
		ShutdownTimeout:  10 * time.Second,
		Version:          "dev",
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir: must be set"))
	}
	for name, addr := range map[string]string{"resp addr": c.RESPAddr, "http addr": c.HTTPAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want HOST:PORT", name, addr))
		}
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ReapInterval <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("reap interval and shutdown timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Server is a running node.
type Server struct {
	cfg      Config
	log      *slog.Logger
	eng      *storage.Engine
	store    *replica.Store
	resp     *resp.Server
	http     *httpapi.Server
	respLn   net.Listener
	httpLn   net.Listener
	ready    atomic.Bool
	shutOnce sync.Once
	shutErr  error
}

// New opens the node's storage and binds its listeners.
func New(cfg Config) (s *Server, err error) {
	def := DefaultConfig()
	if cfg.Limits == (api.Limits{}) {
		cfg.Limits = def.Limits
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = def.CacheBytes
	}
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = def.ReapInterval
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = def.ShutdownTimeout
	}
	if cfg.Version == "" {
		cfg.Version = def.Version
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
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

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "pando_build_info",
		Help:        "Always 1; the version label says which Pando runs.",
		ConstLabels: prometheus.Labels{"version": cfg.Version},
	}, func() float64 { return 1 }))

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s.eng, err = storage.Open(storage.Config{
		Dir: cfg.DataDir, CacheBytes: cfg.CacheBytes, WALMinSyncInterval: cfg.WALMinSyncInterval, Logger: cfg.Logger, Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { s.eng.Close() })
	s.store, err = replica.New(replica.Config{
		Engine: s.eng, Clock: cfg.Clock, ReapInterval: cfg.ReapInterval, Logger: cfg.Logger, Registerer: reg,
		CacheBytes: recordCache(cfg.RecordCacheBytes),
	})
	if err != nil {
		return nil, err
	}
	metrics, err := api.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	s.resp, err = resp.New(resp.Config{
		KV: s.store, Limits: cfg.Limits, Clock: cfg.Clock, Metrics: metrics, Logger: cfg.Logger, Version: cfg.Version,
	})
	if err != nil {
		return nil, err
	}
	s.http, err = httpapi.New(httpapi.Config{
		KV: s.store, Limits: cfg.Limits, Clock: cfg.Clock, Metrics: metrics, Gatherer: reg, Logger: cfg.Logger,
		Ready: s.readyErr, Pprof: cfg.Pprof,
	})
	if err != nil {
		return nil, err
	}
	if s.respLn, err = net.Listen("tcp", cfg.RESPAddr); err != nil {
		return nil, fmt.Errorf("redis protocol listener: %w", err)
	}
	closers = append(closers, func() { s.respLn.Close() })
	if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("http listener: %w", err)
	}
	return s, nil
}

// recordCache maps the node setting (0 disables) to the replica's (negative
// disables).
func recordCache(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

func (s *Server) readyErr() error {
	if !s.ready.Load() {
		return errors.New("node is starting or stopping")
	}
	return nil
}

// RESPAddr is the bound Redis protocol address.
func (s *Server) RESPAddr() net.Addr { return s.respLn.Addr() }

// HTTPAddr is the bound HTTP address.
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// Run serves until ctx ends, then shuts down. It returns the first error that
// stopped a front end, or nil after a requested shutdown.
func (s *Server) Run(ctx context.Context) error {
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := s.resp.Serve(s.respLn); err != nil && !errors.Is(err, resp.ErrServerClosed) {
			errc <- fmt.Errorf("redis protocol server: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.http.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		_ = s.store.Run(bg)
	}()
	s.ready.Store(true)
	s.log.Info("node serving", "resp", s.RESPAddr().String(), "http", s.HTTPAddr().String(), "data", s.cfg.DataDir)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.shutdown(sctx, stopBG, &wg)
	return errors.Join(runErr, err)
}

func (s *Server) shutdown(ctx context.Context, stopBG func(), wg *sync.WaitGroup) error {
	s.shutOnce.Do(func() {
		s.ready.Store(false)
		s.log.Info("node stopping")
		var errs []error
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
		if err := s.resp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("redis protocol shutdown: %w", err))
		}
		stopBG()
		wg.Wait()
		if err := s.eng.Close(); err != nil {
			errs = append(errs, err)
		}
		s.shutErr = errors.Join(errs...)
		s.log.Info("node stopped")
	})
	return s.shutErr
}
