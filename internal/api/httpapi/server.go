package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/quorum"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures a Server.
type Config struct {
	KV     api.KV
	Limits api.Limits
	Clock  clock.Clock
	// Metrics, if set, counts and times requests.
	Metrics *api.Metrics
	// Gatherer serves /metrics; nil serves the default registry.
	Gatherer prometheus.Gatherer
	// Ready reports whether the node serves requests (/readyz); nil means
	// always.
	Ready func() error
	// Pprof serves Go's profiler under /debug/pprof/.
	Pprof bool
	// Catalog, if set, tells which namespaces are strong: their reads
	// answer with versions (ETag) and their writes take If-Match.
	Catalog Catalog
	// Cluster, if set, serves the admin endpoints (/v1/status, /v1/ring,
	// /v1/ns).
	Cluster Cluster
	// Moves serves the ownership routes (/v1/cluster/staged, plan,
	// commit, move, throttle); nil leaves them out.
	Moves Moves
	// DebugClock, if set, serves POST /v1/debug/clock, which moves the
	// node's clock: for the verifier's clock nemesis only.
	DebugClock *clock.Offset
	// DebugDisk, if set, serves POST /v1/debug/disk, which injects a disk
	// fault into every operation it applies to ({"fault": "fsync"}), into
	// the next n ({"fault": "fsync", "ops": n}), or clears it
	// ({"fault": ""}): for the verifier's disk nemeses and tests only.
	DebugDisk DiskFaults
	// Auth, if set, requires HTTP Basic authentication on every route but
	// /healthz, /readyz and (unless MetricsAuth) /metrics, and checks each
	// route's permission (auth.go).
	Auth        Authenticator
	MetricsAuth bool
	Logger      *slog.Logger
}

// DiskFaults sets the disk fault a node injects into its own storage.
type DiskFaults interface {
	Set(fault string, ops int) error
	Mode() string
}

// Server serves the HTTP API.
type Server struct {
	cfg    Config
	logins logins
	log    *slog.Logger
	http   *http.Server
	m      struct{ get, put, del, incr, update, list *api.CommandMetrics }
}

// Listing bounds.
const (
	defaultListLimit = 100
	maxListLimit     = 10000
	// maxListExamined bounds the records one listing request reads, so a
	// rare prefix costs several requests instead of one unbounded one.
	maxListExamined = 100000
)

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.KV == nil {
		return nil, errors.New("httpapi: no KV")
	}
	if err := cfg.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	if cfg.Metrics == nil {
		m, err := api.NewMetrics(nil)
		if err != nil {
			return nil, err
		}
		cfg.Metrics = m
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("subsystem", "http")}
	s.m.get = cfg.Metrics.For("http", "get")
	s.m.put = cfg.Metrics.For("http", "put")
	s.m.del = cfg.Metrics.For("http", "delete")
	s.m.incr = cfg.Metrics.For("http", "incr")
	s.m.update = cfg.Metrics.For("http", "update")
	s.m.list = cfg.Metrics.For("http", "list")
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// route is one endpoint: its pattern, what it needs (auth.go) and its
// handler.
type route struct {
	pattern string
	need    need
	fn      http.HandlerFunc
}

// routes are the API's endpoints.
func (s *Server) routes() []route {
	var rs []route
	add := func(pattern string, need need, fn http.HandlerFunc) {
		rs = append(rs, route{pattern, need, fn})
	}
	add("/v1/kv/{key...}", needData, s.handleKey)
	add("/v1/kv", needData, s.handleList)
	add("/v1/ns/{ns}/kv/{key...}", needData, s.handleKey)
	add("/v1/ns/{ns}/kv", needData, s.handleList)
	if s.cfg.Cluster != nil {
		add("GET /v1/status", needLogin, s.handleStatus)
		add("GET /v1/ring", needLogin, s.handleRing)
		add("GET /v1/ns", needLogin, s.handleNamespaces)
		add("POST /v1/ns", needAdmin, s.handleCreateNamespace)
		add("DELETE /v1/ns/{ns}", needAdmin, s.handleDropNamespace)
		add("POST /v1/ns/{ns}/truncate", needAdmin, s.handleTruncateNamespace)
		add("PUT /v1/antientropy", needAdmin, s.handleAntiEntropy)
		add("POST /v1/cluster/members", needAdmin, s.handleAdmit)
		add("DELETE /v1/cluster/members/{node}", needAdmin, s.handleRemove)
	}
	if s.cfg.Moves != nil {
		add("POST /v1/cluster/staged", needAdmin, s.handleStage)
		add("DELETE /v1/cluster/staged", needAdmin, s.handleClearStaged)
		add("GET /v1/cluster/plan", needLogin, s.handlePlan)
		add("POST /v1/cluster/commit", needAdmin, s.handleCommit)
		add("GET /v1/cluster/move", needLogin, s.handleMove)
		add("PUT /v1/cluster/throttle", needAdmin, s.handleThrottle)
	}
	if s.cfg.Cluster != nil {
		add("GET /v1/users", needAdmin, s.handleUsers)
		add("POST /v1/users", needFirstUser, s.handleAddUser)
		add("PUT /v1/users/{name}", needAdmin, s.handleChangeUser)
		add("DELETE /v1/users/{name}", needAdmin, s.handleDeleteUser)
		add("POST /v1/tokens", needLogin, s.handleCreateToken)
		add("GET /v1/tokens", needLogin, s.handleTokens)
		add("DELETE /v1/tokens/{id}", needLogin, s.handleRevokeToken)
	}
	add("GET /healthz", needNothing, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	add("GET /readyz", needNothing, s.handleReady)
	metrics := needNothing
	if s.cfg.MetricsAuth {
		metrics = needLogin
	}
	add("GET /metrics", metrics, promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP)
	if s.cfg.DebugClock != nil {
		add("POST /v1/debug/clock", needAdmin, s.handleDebugClock)
	}
	if s.cfg.DebugDisk != nil {
		add("POST /v1/debug/disk", needAdmin, s.handleDebugDisk)
	}
	if s.cfg.Pprof {
		add("GET /debug/pprof/", needAdmin, pprof.Index)
		add("GET /debug/pprof/cmdline", needAdmin, pprof.Cmdline)
		add("GET /debug/pprof/profile", needAdmin, pprof.Profile)
		add("GET /debug/pprof/symbol", needAdmin, pprof.Symbol)
		add("GET /debug/pprof/trace", needAdmin, pprof.Trace)
	}
	return rs
}

// Handler returns the API's handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// The permission check runs once a route is matched, so that it knows
	// the namespace.
	for _, r := range s.routes() {
		mux.Handle(r.pattern, s.guard(r.need, r.fn))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no_route", "no such endpoint: "+r.URL.Path)
	})
	// The mux would answer a path that is not in clean form (an empty, "."
	// or ".." segment) with an HTML redirect to the cleaned one, which for a
	// key is another key: refuse it, in JSON like every other error.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != "" && p != "/" && path.Clean(p) != strings.TrimSuffix(p, "/") {
			writeError(w, http.StatusBadRequest, "invalid_argument",
				fmt.Sprintf("path %q has an empty, '.' or '..' segment; a key cannot contain '//', '/./' or '/../'", p))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Serve serves on ln until Shutdown; it returns http.ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error { return s.http.Serve(ln) }

// Shutdown stops accepting and waits for in-flight requests, up to ctx.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			writeError(w, http.StatusServiceUnavailable, "not_ready", err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// namespace is the request's namespace: from /v1/ns/{ns}/..., or default.
func namespace(r *http.Request) string {
	if ns := r.PathValue("ns"); ns != "" {
		return ns
	}
	return "default"
}

// ContextHeader carries a key's causal context: returned by reads, accepted
// by writes (base64url, as returned).
const ContextHeader = "X-Pando-Context"

func readOptions(r *http.Request) (api.ReadOptions, error) {
	l, err := quorum.Parse(r.URL.Query().Get("r"))
	if err != nil {
		return api.ReadOptions{}, fmt.Errorf("%w: r: %v", api.ErrInvalidArgument, err)
	}
	return api.ReadOptions{R: l}, nil
}

func writeOptions(r *http.Request) (api.WriteOptions, error) {
	l, err := quorum.Parse(r.URL.Query().Get("w"))
	if err != nil {
		return api.WriteOptions{}, fmt.Errorf("%w: w: %v", api.ErrInvalidArgument, err)
	}
	ro, err := readOptions(r)
	if err != nil {
		return api.WriteOptions{}, err
	}
	// A write reads at ?r= first (api.WriteOptions.R).
	o := api.WriteOptions{W: l, R: ro.R, RequestID: cmp.Or(r.Header.Get("Idempotency-Key"), r.Header.Get("X-Pando-Request-Id"))}
	if h, ok := r.Header[http.CanonicalHeaderKey(ContextHeader)]; ok && len(h) > 0 {
		o.Context, o.HasContext = h[0], true
	}
	return o, nil
}

func (s *Server) handleKey(w http.ResponseWriter, r *http.Request) {
	key := []byte(r.PathValue("key"))
	start := time.Now()
	var m *api.CommandMetrics
	var err error
	incr, isIncr := strings.CutSuffix(string(key), incrSuffix)
	updKey, suffix, isUpdate := updateOf(string(key))
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		m, err = s.m.get, s.get(w, r, key)
	case r.Method == http.MethodPut:
		m, err = s.m.put, s.put(w, r, key)
	case r.Method == http.MethodDelete:
		m, err = s.m.del, s.del(w, r, key)
	case r.Method == http.MethodPost && isIncr:
		m, err = s.m.incr, s.incr(w, r, []byte(incr))
	case r.Method == http.MethodPost && isUpdate:
		m, err = s.m.update, s.update(w, r, []byte(updKey), suffix)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE, POST")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on a key; POST is, on .../kv/{key}/incr, /add, /remove and /fields")
		return
	}
	if err != nil {
		fail(w, err)
	}
	// A missing key, a failed condition or a refused debit is an answer,
	// not a failure of the request.
	m.Observe(start, err != nil && !isRefusal(err))
}

// sibling is one value in a ?siblings=all answer.
type sibling struct {
	Value     []byte `json:"value"` // base64 in JSON
	ExpiresAt string `json:"expires_at,omitempty"`
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, key []byte) error {
	if err := s.cfg.Limits.CheckKey(key); err != nil {
		return err
	}
	ro, err := readOptions(r)
	if err != nil {
		return err
	}
	if t, _, ok := s.typed(namespace(r)); ok {
		return s.getTyped(w, r, t, key)
	}
	if sk, ok := s.strong(namespace(r)); ok && r.URL.Query().Get("siblings") == "" {
		return s.getStrong(w, r, sk, key)
	}
	vs, err := s.cfg.KV.GetVersions(r.Context(), namespace(r), key, ro)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set(ContextHeader, vs.Context)
	h.Set("X-Pando-Siblings", strconv.Itoa(len(vs.Values)))
	if r.URL.Query().Get("siblings") == "all" {
		out := struct {
			Context string    `json:"context"`
			Values  []sibling `json:"values"`
		}{Context: vs.Context, Values: []sibling{}}
		for _, v := range vs.Values {
			out.Values = append(out.Values, sibling{Value: v.Value, ExpiresAt: expiry(v.ExpireAt)})
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	if len(vs.Values) == 0 {
		return fmt.Errorf("key %q: %w", key, api.ErrNotFound)
	}
	e := vs.Values[vs.Picked]
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(e.Value)))
	if e.ExpireAt != 0 {
		h.Set("X-Pando-Expires-At", expiry(e.ExpireAt))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.Value)
	}
	return nil
}

func expiry(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, key []byte) error {
	if err := s.cfg.Limits.CheckKey(key); err != nil {
		return err
	}
	lim := s.cfg.Limits.MaxValueBytes
	if r.ContentLength > int64(lim) {
		return s.cfg.Limits.CheckValue(int(min(r.ContentLength, 1<<62)))
	}
	wo, err := writeOptions(r)
	if err != nil {
		return err
	}
	sk, strong := s.strong(namespace(r))
	pre, err := parsePrecondition(r, strong)
	if err != nil {
		return err
	}
	opts := api.PutOptions{Write: wo, Cond: pre.cond}
	if ttl := r.URL.Query().Get("ttl"); ttl != "" {
		d, err := time.ParseDuration(ttl)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: ttl %q is not a positive duration such as 30s or 1h", api.ErrInvalidArgument, ttl)
		}
		opts.ExpireAt = s.cfg.Clock.Now().Add(d).UnixMilli()
	}
	value, err := io.ReadAll(io.LimitReader(r.Body, int64(lim)+1))
	if err != nil {
		return fmt.Errorf("%w: reading the body: %v", api.ErrInvalidArgument, err)
	}
	if len(value) > lim {
		return fmt.Errorf("%w: more than %d bytes, the limit is %d", api.ErrValueTooLarge, lim, lim)
	}
	if pre.byVer {
		err = s.writeAtVersion(r, sk, key, value, pre)
	} else {
		var res api.PutResult
		res, err = s.cfg.KV.Put(r.Context(), namespace(r), key, value, opts)
		if err == nil && !res.Applied {
			err = conditionFailed(key, pre)
		}
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) del(w http.ResponseWriter, r *http.Request, key []byte) error {
	if err := s.cfg.Limits.CheckKey(key); err != nil {
		return err
	}
	wo, err := writeOptions(r)
	if err != nil {
		return err
	}
	sk, strong := s.strong(namespace(r))
	pre, err := parsePrecondition(r, strong)
	if err != nil {
		return err
	}
	switch {
	case pre.byVer:
		err = s.writeAtVersion(r, sk, key, nil, pre)
	case pre.cond == api.IfAbsent:
		err = fmt.Errorf("%w: If-None-Match on a DELETE", api.ErrInvalidArgument)
	default:
		var found bool
		_, found, err = s.cfg.KV.Delete(r.Context(), namespace(r), key, wo)
		if err == nil && !found && pre.cond == api.IfPresent {
			err = conditionFailed(key, pre)
		}
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listPage is the JSON answer of a listing.
type listPage struct {
	Keys []string `json:"keys"`
	// Cursor continues the listing; empty when it is complete.
	Cursor string `json:"cursor"`
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on /v1/kv")
		return
	}
	start := time.Now()
	page, err := s.list(r)
	s.m.list.Observe(start, err != nil)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) list(r *http.Request) (*listPage, error) {
	q := r.URL.Query()
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return nil, fmt.Errorf("%w: limit must be a number from 1 to %d", api.ErrInvalidArgument, maxListLimit)
		}
		limit = n
	}
	var cursor uint64
	if v := q.Get("cursor"); v != "" {
		c, err := strconv.ParseUint(v, 10, 64)
		if err != nil || c == 0 {
			return nil, fmt.Errorf("%w: cursor %q is not one this API returned", api.ErrInvalidArgument, v)
		}
		cursor = c
	}
	b64 := false
	switch q.Get("encoding") {
	case "", "utf-8":
	case "base64":
		b64 = true
	default:
		return nil, fmt.Errorf("%w: encoding must be utf-8 or base64", api.ErrInvalidArgument)
	}
	var match func([]byte) bool
	if p := []byte(q.Get("prefix")); len(p) > 0 {
		match = func(k []byte) bool { return bytes.HasPrefix(k, p) }
	}
	page := &listPage{Keys: []string{}}
	examined := 0
	for {
		// Asking for at most the keys still wanted never overshoots the
		// limit, so the cursor needs no position inside a page.
		want := limit - len(page.Keys)
		p, err := s.cfg.KV.Scan(r.Context(), namespace(r), cursor, want, match)
		if err != nil {
			return nil, err
		}
		for _, k := range p.Keys {
			if b64 {
				page.Keys = append(page.Keys, base64.StdEncoding.EncodeToString(k))
			} else {
				page.Keys = append(page.Keys, string(k))
			}
		}
		examined += want
		cursor = p.Next
		if cursor == 0 || len(page.Keys) >= limit || examined >= maxListExamined {
			break
		}
	}
	if cursor != 0 {
		page.Cursor = strconv.FormatUint(cursor, 10)
	}
	return page, nil
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func fail(w http.ResponseWriter, err error) {
	d := api.Describe(err)
	writeError(w, d.Status, d.Code, d.Message)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// handleDebugDisk sets the disk fault injected: {"fault": "fsync", "ops": n}.
func (s *Server) handleDebugDisk(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Fault *string `json:"fault"`
		Ops   int     `json:"ops"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1024)).Decode(&req); err != nil || req.Fault == nil {
		writeError(w, http.StatusBadRequest, "invalid_argument", `want {"fault": "fsync"|"wal-full"|"", "ops": N}`)
		return
	}
	if err := s.cfg.DebugDisk.Set(*req.Fault, req.Ops); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_argument", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"fault": s.cfg.DebugDisk.Mode()})
}

// handleDebugClock sets the node's clock offset: {"offset_ms": n}.
func (s *Server) handleDebugClock(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OffsetMs *int64 `json:"offset_ms"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1024)).Decode(&req); err != nil || req.OffsetMs == nil {
		writeError(w, http.StatusBadRequest, "invalid_argument", `want {"offset_ms": N}`)
		return
	}
	s.cfg.DebugClock.Set(time.Duration(*req.OffsetMs) * time.Millisecond)
	writeJSON(w, http.StatusOK, map[string]int64{"offset_ms": *req.OffsetMs})
}
