package verify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is one verification run.
type Config struct {
	// Binary is the pando executable to run (default: this one).
	Binary string
	// Nodes is the cluster size (3 or 5).
	Nodes int
	// Workload is set, durability, register, convergence, session, delete,
	// ttl, bank or counter.
	Workload string
	// Nemeses are the fault kinds: partition, kill, pause, clock.
	Nemeses []string
	// Time is how long the workload runs.
	Time time.Duration
	// Rate is the target number of operations per second, all workers
	// together.
	Rate int
	// Seed fixes the fault schedule and the workers' choices.
	Seed uint64
	// Out is the run's directory: node data and logs, history, summary.
	Out string
	// Concurrency is the number of client workers per node (default 2).
	Concurrency int
	// BasePort is the first port of the loopback layout (default 30000).
	BasePort int
	// Recover bounds the wait for every node to be ready after healing
	// (default 60s).
	Recover time.Duration
	// Env adds environment variables to the nodes' (sabotage builds read
	// PANDO_SABOTAGE).
	Env []string
	// Log receives progress lines (default: stdout).
	Log io.Writer
	// Secure runs the nodes with TLS on every listener, encrypted gossip
	// and logins required (secure.go).
	Secure bool
}

// Summary is a run's result, written to summary.json.
type Summary struct {
	Workload   string                    `json:"workload"`
	Nemeses    []string                  `json:"nemeses"`
	Nodes      int                       `json:"nodes"`
	Seed       uint64                    `json:"seed"`
	Time       string                    `json:"time"`
	Ops        map[string]map[string]int `json:"ops"`
	Faults     []fault                   `json:"faults"`
	Violations []string                  `json:"violations"`
	Stats      map[string]any            `json:"stats"`
	// ConvergeMs is how long replicas took to agree after healing, where the
	// workload measures it.
	ConvergeMs int64  `json:"converge_ms,omitempty"`
	Verdict    string `json:"verdict"`
	Dir        string `json:"dir"`
}

// Passed reports whether the run found no violation.
func (s *Summary) Passed() bool { return s.Verdict == "PASS" }

type runner struct {
	cfg     Config
	cluster *cluster
	hist    *history
	wl      workload
	ns      string
	log     io.Writer
	logMu   sync.Mutex
}

func (r *runner) logf(format string, args ...any) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	fmt.Fprintf(r.log, "%7.1fs  %s\n", time.Since(r.hist.start).Seconds(), fmt.Sprintf(format, args...))
}

// Validate checks a configuration before anything starts.
func (c *Config) Validate() error {
	if c.Nodes < 1 || c.Nodes > 9 {
		return fmt.Errorf("--nodes must be 1 to 9, got %d", c.Nodes)
	}
	if _, ok := workloads[c.Workload]; !ok {
		return fmt.Errorf("unknown workload %q: want one of %s", c.Workload, strings.Join(workloadNames(), ", "))
	}
	for _, n := range c.Nemeses {
		if !slices.Contains(nemeses, n) {
			return fmt.Errorf("unknown nemesis %q: want some of %s", n, strings.Join(nemeses, ", "))
		}
	}
	if slices.Contains(c.Nemeses, "partition") {
		if err := netnsAvailable(); err != nil {
			return err
		}
	}
	if slices.Contains(c.Nemeses, "disk") {
		if err := diskAvailable(); err != nil {
			return err
		}
	}
	if c.Time <= 0 || c.Rate <= 0 {
		return errors.New("--time and --rate must be positive")
	}
	if c.Out == "" {
		return errors.New("--out is required: the run's directory")
	}
	return nil
}

// Run performs a verification run. The error is for a run that could not
// be carried out; violations are in the Summary, whose Verdict is FAIL.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	redis.SetLogger(quietLogger{}) // dial failures are recorded in the history instead
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 2
	}
	if cfg.BasePort == 0 {
		cfg.BasePort = 30000
	}
	if cfg.Recover == 0 {
		cfg.Recover = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = os.Stdout
	}
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cfg.Binary = exe
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	wl := workloads[cfg.Workload]()
	if err := wl.accepts(cfg); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	if entries, _ := os.ReadDir(filepath.Join(cfg.Out, "nodes")); len(entries) > 0 {
		return nil, fmt.Errorf("%s already holds a run: use a new --out directory", cfg.Out)
	}
	hist, err := newHistory(filepath.Join(cfg.Out, "history.jsonl"))
	if err != nil {
		return nil, err
	}
	defer hist.close()
	r := &runner{cfg: cfg, hist: hist, wl: wl, ns: "verify_" + cfg.Workload, log: cfg.Log}

	spares := 0
	if slices.Contains(cfg.Nemeses, "membership") {
		spares = 2
	}
	var nn *netnsNet
	if slices.Contains(cfg.Nemeses, "partition") {
		if nn, err = newNetnsNet(cfg.Nodes + spares); err != nil {
			return nil, err
		}
		defer nn.Close()
	}
	var extra []string
	if f, ok := wl.(interface{ serverFlags() []string }); ok {
		extra = f.serverFlags()
	}
	if slices.Contains(cfg.Nemeses, "disk") {
		extra = append(extra, diskFlags()...)
	}
	r.cluster = newCluster(cfg.Binary, cfg.Out, cfg.Nodes, spares, nn, cfg.BasePort, extra, cfg.Env)
	if cfg.Secure {
		var hosts []string
		for _, n := range r.cluster.nodes {
			hosts = append(hosts, n.ip)
		}
		if r.cluster.sec, err = newSecure(filepath.Join(cfg.Out, "certs"), hosts); err != nil {
			return nil, fmt.Errorf("secure run: %w", err)
		}
		r.cluster.extra = append(r.cluster.extra, r.cluster.sec.flags...)
	}
	if slices.Contains(cfg.Nemeses, "disk") {
		unmount, err := r.cluster.mountDisks()
		if err != nil {
			return nil, err
		}
		defer unmount() // after the nodes stop (deferred below)
	}
	defer r.cluster.stopAll()
	r.logf("starting %d nodes (%s), workload %s, nemeses %v, seed %d", cfg.Nodes, layoutName(nn), cfg.Workload, cfg.Nemeses, cfg.Seed)
	founders := r.cluster.nodes[:cfg.Nodes]
	for _, n := range founders {
		if err := r.cluster.start(n); err != nil {
			return nil, err
		}
	}
	if err := r.cluster.waitReady(ctx, founders, 60*time.Second); err != nil {
		return nil, err
	}
	if err := r.cluster.waitLogin(ctx, r.cluster.nodes[0], 30*time.Second); err != nil {
		return nil, err
	}
	if spares > 0 {
		if err := r.cluster.startSpares(ctx, r.cluster.nodes[cfg.Nodes:]); err != nil {
			return nil, err
		}
	}
	if err := wl.setup(ctx, r); err != nil {
		return nil, fmt.Errorf("workload setup: %w", err)
	}

	var maxClock time.Duration
	if b, ok := wl.(interface{ clockBound() time.Duration }); ok {
		maxClock = b.clockBound()
	}
	faults := schedule(cfg.Seed, cfg.Nemeses, cfg.Time, cfg.Nodes, maxClock)
	r.logf("cluster ready; running for %s with %d faults scheduled", cfg.Time, len(faults))
	runCtx, stop := context.WithTimeout(ctx, cfg.Time)
	defer stop()
	var wg sync.WaitGroup
	limiter := newLimiter(runCtx, cfg.Rate)
	for p := range cfg.Nodes * cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := r.cluster.nodes[p%cfg.Nodes]
			wl.worker(runCtx, r, p, n, limiter)
		}()
	}
	nemDone := make(chan struct{})
	go func() { defer close(nemDone); r.runNemesis(runCtx, faults) }()
	<-runCtx.Done()
	wg.Wait()
	<-nemDone
	r.healAll()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted after %s: nothing was checked (history in %s)", time.Since(hist.start).Round(time.Second), cfg.Out)
	}
	r.logf("workload done; healing and waiting for every node (at most %s)", cfg.Recover)
	healStart := time.Now()
	if err := r.cluster.waitReady(ctx, r.cluster.nodes, cfg.Recover); err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	if err := r.cluster.waitConverged(ctx, cfg.Recover); err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	r.logf("every node sees every node up (%s after healing)", time.Since(healStart).Round(time.Millisecond))
	r.logf("checking")
	res := wl.check(ctx, r)
	sum := r.summarize(faults, res)
	if err := writeJSON(filepath.Join(cfg.Out, "summary.json"), sum); err != nil {
		return nil, err
	}
	r.printSummary(sum)
	return sum, nil
}

func layoutName(nn *netnsNet) string {
	if nn == nil {
		return "loopback"
	}
	return "network namespaces " + nn.subnet + ".0/24"
}

// checkResult is what a workload's checker found.
type checkResult struct {
	violations []string
	stats      map[string]any
	converge   time.Duration
}

func (r *runner) summarize(faults []fault, res checkResult) *Summary {
	ops := map[string]map[string]int{}
	for _, e := range r.hist.all() {
		if e.Process < 0 || e.Type == "invoke" {
			continue
		}
		if ops[e.F] == nil {
			ops[e.F] = map[string]int{}
		}
		ops[e.F][e.Type]++
	}
	s := &Summary{
		Workload: r.cfg.Workload, Nemeses: r.cfg.Nemeses, Nodes: r.cfg.Nodes, Seed: r.cfg.Seed,
		Time: r.cfg.Time.String(), Ops: ops, Faults: faults, Violations: res.violations,
		Stats: res.stats, ConvergeMs: res.converge.Milliseconds(), Dir: r.cfg.Out, Verdict: "PASS",
	}
	if s.Faults == nil {
		s.Faults = []fault{}
	}
	if s.Violations == nil {
		s.Violations = []string{}
	}
	if len(res.violations) > 0 {
		s.Verdict = "FAIL"
	}
	return s
}

func (r *runner) printSummary(s *Summary) {
	w := r.log
	fmt.Fprintf(w, "\nworkload %s on %d nodes, nemeses %v, seed %d, %s\n", s.Workload, s.Nodes, s.Nemeses, s.Seed, s.Time)
	fs := make([]string, 0, len(s.Ops))
	for f := range s.Ops {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	for _, f := range fs {
		o := s.Ops[f]
		fmt.Fprintf(w, "  %-8s ok %6d   fail %6d   info %6d\n", f, o["ok"], o["fail"], o["info"])
	}
	fmt.Fprintf(w, "  faults: %d\n", len(s.Faults))
	for _, f := range s.Faults {
		fmt.Fprintf(w, "    %6.1fs-%6.1fs  %-9s %s\n", f.Start.Seconds(), f.End.Seconds(), f.Kind, f.Detail)
	}
	keys := make([]string, 0, len(s.Stats))
	for k := range s.Stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %v\n", k, s.Stats[k])
	}
	if s.ConvergeMs > 0 {
		fmt.Fprintf(w, "  converged in %d ms after healing\n", s.ConvergeMs)
	}
	for i, v := range s.Violations {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more violations (summary.json)\n", len(s.Violations)-20)
			break
		}
		fmt.Fprintf(w, "  VIOLATION: %s\n", v)
	}
	fmt.Fprintf(w, "history: %s\n", filepath.Join(s.Dir, "history.jsonl"))
	if s.Passed() {
		fmt.Fprintf(w, "VERDICT: PASS (%s, %d faults, seed %d)\n", s.Workload, len(s.Faults), s.Seed)
	} else {
		fmt.Fprintf(w, "VERDICT: FAIL (%s: %d violations, seed %d)\n", s.Workload, len(s.Violations), s.Seed)
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// limiter hands out tokens at a fixed rate shared by all workers.
type limiter struct{ c chan struct{} }

func newLimiter(ctx context.Context, perSecond int) *limiter {
	l := &limiter{c: make(chan struct{}, 1)}
	go func() {
		interval := time.Second / time.Duration(perSecond)
		t := time.NewTicker(max(interval, 50*time.Microsecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				close(l.c)
				return
			case <-t.C:
				select {
				case l.c <- struct{}{}:
				default:
				}
			}
		}
	}()
	return l
}

// wait returns false when the run is over.
func (l *limiter) wait() bool {
	_, ok := <-l.c
	return ok
}

// client returns a Redis client on node n in the run's namespace, with the
// given levels, no retries (every outcome is recorded as it happened) and
// short timeouts.
func (r *runner) client(n *node, readLevel, writeLevel string) *redis.Client {
	ns := r.ns
	var tlsCfg *tls.Config
	var user, password string
	if sec := r.cluster.sec; sec != nil {
		tlsCfg, user, password = sec.tls, sec.user, sec.password
	}
	return redis.NewClient(&redis.Options{
		Addr: n.respAddr(), TLSConfig: tlsCfg, Username: user, Password: password,
		PoolSize: 1, MaxRetries: -1, Protocol: 2, ContextTimeoutEnabled: true,
		DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		OnConnect: func(ctx context.Context, cn *redis.Conn) error {
			if err := cn.Do(ctx, "NAMESPACE", ns).Err(); err != nil {
				return err
			}
			return cn.Do(ctx, "CONSISTENCY", readLevel, writeLevel).Err()
		},
	})
}

// clients returns one client per node, in node order, at the given levels.
func (r *runner) clients(readLevel, writeLevel string) []*redis.Client {
	out := make([]*redis.Client, len(r.cluster.nodes))
	for i, n := range r.cluster.nodes {
		out[i] = r.client(n, readLevel, writeLevel)
	}
	return out
}

// readAtAll reads each key, in sorted order, at ALL through every node,
// after healing, and hands judge what each node returned ("" for nothing).
// A read that fails is a violation. It returns how many reads answered.
func (r *runner) readAtAll(ctx context.Context, keys []string, res *checkResult, judge func(key, node, v string)) int {
	all := r.clients("all", "all")
	defer closeAll(all)
	keys = slices.Sorted(slices.Values(keys))
	reads := 0
	for _, key := range keys {
		for i, c := range all {
			node := r.cluster.nodes[i].id
			v, err := get(ctx, c, key)
			if err != nil {
				res.violations = append(res.violations, fmt.Sprintf("%s: read at ALL through %s after healing: %v", key, node, err))
				continue
			}
			reads++
			judge(key, node, v)
		}
	}
	return reads
}

func closeAll(cs []*redis.Client) {
	for _, c := range cs {
		c.Close()
	}
}

// opContext bounds one client operation. It outlives the run's context, so
// that the last operations of a run end with their true outcome.
func opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
