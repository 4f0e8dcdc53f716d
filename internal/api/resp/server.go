package resp

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/clock"
	"github.com/tidwall/redcon"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("resp: server closed")

// Config configures a Server.
type Config struct {
	// KV serves the data commands.
	KV api.KV
	// Limits bound keys and values.
	Limits api.Limits
	// Clock turns relative expiries (EX, EXPIRE) into absolute ones.
	Clock clock.Clock
	// Metrics, if set, counts and times commands.
	Metrics *api.Metrics
	Logger  *slog.Logger
	// Version is reported by INFO and HELLO.
	Version string
	// NodeID is reported by INFO.
	NodeID string
	// Catalog, if set, checks NAMESPACE and maps SELECT numbers.
	Catalog Catalog
	// Topology, if set, answers CLUSTER; without it the node presents
	// itself as a cluster of one owning every slot.
	Topology Topology
	// Flusher, if set, serves FLUSHDB and FLUSHALL.
	Flusher Flusher
	// Auth, if set, requires every connection to authenticate and checks
	// each command's permission (auth.go).
	Auth Authenticator
}

// Flusher empties namespaces, through the cluster's metadata.
type Flusher interface {
	// Truncate empties the namespace name: its records are hidden at once
	// and purged in the background.
	Truncate(ctx context.Context, name string) error
	// Namespaces lists every namespace.
	Namespaces() []string
}

// Server serves the Redis protocol.
type Server struct {
	cfg      Config
	log      *slog.Logger
	commands map[string]*command
	unknown  *api.CommandMetrics
	started  time.Time
	ctx      context.Context
	cancel   context.CancelFunc

	mu       sync.Mutex
	ln       []net.Listener
	conns    map[*conn]struct{}
	closing  bool
	wg       sync.WaitGroup
	nextID   atomic.Int64
	accepted atomic.Int64
	executed atomic.Int64
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.KV == nil {
		return nil, errors.New("resp: no KV")
	}
	if err := cfg.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("resp: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		m, err := api.NewMetrics(nil)
		if err != nil {
			return nil, err
		}
		cfg.Metrics = m
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger.With("subsystem", "resp"),
		started: time.Now(),
		ctx:     ctx,
		cancel:  cancel,
		conns:   map[*conn]struct{}{},
		unknown: cfg.Metrics.For("resp", "unknown"),
	}
	s.commands = commandTable(cfg.Metrics)
	return s, nil
}

// Serve accepts connections on ln until Shutdown. It returns ErrServerClosed
// after Shutdown, or the accept error that stopped it.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.ln = append(s.ln, ln)
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !s.track(nc) {
			nc.Close()
			return ErrServerClosed
		}
	}
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.accepted.Add(1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	return true
}

// Shutdown stops accepting, lets each connection finish the command it is
// running and flush its replies, then closes it. If ctx ends first, the
// remaining connections are closed at once and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for _, ln := range s.ln {
		ln.Close()
	}
	for c := range s.conns {
		c.stop()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// connections is the number of open client connections.
func (s *Server) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// conn is one client connection.
type conn struct {
	s   *Server
	nc  net.Conn
	id  int64
	br  *bufio.Reader
	rd  *Reader
	w   *redcon.Writer
	cmd Command
	// name, ns and lib are written only by the connection's goroutine, under
	// infoMu, so that CLIENT LIST on another connection can read them.
	infoMu  sync.Mutex
	name    string
	ns      string
	lib     [2]string // CLIENT SETINFO lib-name, lib-ver
	created time.Time
	ro      api.ReadOptions
	wo      api.WriteOptions
	closing bool
	stopped atomic.Bool
	// user is the authenticated user's name; "" before a login.
	user string
	// multi is the transaction in progress, if any.
	multi multiState
	// sets are pipelined plain SETs waiting to commit as one batch.
	sets    []pendingSet
	setsBuf []byte
}

const (
	readBufferSize = maxInlineSize
	flushThreshold = 64 << 10
	// maxReplyDelay bounds how long a reply waits in the buffer for the
	// replies of the pipelined commands after it: a client that streams
	// slow commands (redis-cli --pipe, DEL at QUORUM) hears back as it
	// goes, as from Redis, which answers what each read brought in.
	maxReplyDelay = 5 * time.Millisecond
)

func newConn(s *Server, nc net.Conn) *conn {
	br := bufio.NewReaderSize(nc, readBufferSize)
	lim := s.cfg.Limits
	maxArg := max(lim.MaxKeyBytes, lim.MaxValueBytes)
	return &conn{
		s:       s,
		nc:      nc,
		id:      s.nextID.Add(1),
		br:      br,
		rd:      newReader(br, readerLimits{maxArg: maxArg, maxCommand: 4*maxArg + 1<<20}),
		w:       redcon.NewWriter(nc),
		ns:      "default",
		created: time.Now(),
	}
}

// stop asks the connection to close once its current command has answered:
// a read blocked waiting for the next command returns at once.
func (c *conn) stop() {
	c.stopped.Store(true)
	_ = c.nc.SetReadDeadline(time.Now())
}

func (c *conn) serve() {
	defer c.nc.Close()
	var last time.Time // when the previous command finished
	var held time.Time // when the oldest reply not yet flushed began
	for {
		pipelined := c.br.Buffered() > 0
		err := c.rd.ReadCommand(&c.cmd)
		if err != nil {
			var pe *ProtocolError
			if errors.As(err, &pe) {
				c.w.WriteError("ERR " + pe.Error())
				_ = c.w.Flush()
				c.s.log.Debug("closing connection on protocol error", "remote", c.nc.RemoteAddr(), "err", err)
			}
			return
		}
		// A command that was already buffered started when the previous one
		// finished; reading the clock once per command is measurably cheaper.
		start := last
		if !pipelined || start.IsZero() {
			start = time.Now()
		}
		c.s.executed.Add(1)
		if !c.multi.active && c.coalesce(&c.cmd) {
			// Held for the batch; answered once no further pipelined command
			// is buffered, or the batch is full.
			if c.br.Buffered() == 0 || c.setsFull() {
				c.flushSets()
			}
			last = start
		} else {
			c.flushSets()
			last = c.dispatch(&c.cmd, start)
		}
		if c.closing {
			_ = c.w.Flush()
			return
		}
		if held.IsZero() && len(c.w.Buffer()) > 0 {
			held = start
		}
		if c.br.Buffered() == 0 || len(c.w.Buffer()) > flushThreshold || !held.IsZero() && last.Sub(held) > maxReplyDelay {
			if err := c.w.Flush(); err != nil {
				return
			}
			held = time.Time{}
		}
		if c.stopped.Load() && c.br.Buffered() == 0 {
			return
		}
	}
}

func (c *conn) setNamespace(ns string) {
	c.infoMu.Lock()
	c.ns = ns
	c.infoMu.Unlock()
}

func (c *conn) setName(name string) {
	c.infoMu.Lock()
	c.name = name
	c.infoMu.Unlock()
}

// describe is the connection's line of CLIENT LIST and CLIENT INFO, in
// Redis's key=value form (the fields Pando has; ns is its own).
func (c *conn) describe() string {
	c.infoMu.Lock()
	name, ns, lib := c.name, c.ns, c.lib
	c.infoMu.Unlock()
	db := 0
	if c.s.cfg.Catalog != nil {
		info, _ := c.s.cfg.Catalog.Namespace(ns)
		db = info.DB
	}
	return fmt.Sprintf("id=%d addr=%s laddr=%s name=%s age=%d db=%d ns=%s lib-name=%s lib-ver=%s",
		c.id, c.nc.RemoteAddr(), c.nc.LocalAddr(), name, int(time.Since(c.created).Seconds()), db, ns, lib[0], lib[1])
}

// clientList is CLIENT LIST: a line per open connection, by id.
func (s *Server) clientList() string {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	slices.SortFunc(conns, func(a, b *conn) int { return cmp.Compare(a.id, b.id) })
	var b strings.Builder
	for _, c := range conns {
		b.WriteString(c.describe())
		b.WriteByte('\n')
	}
	return b.String()
}
