package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pandodb/pando/internal/certs"
	"github.com/pandodb/pando/ring"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
)

// benchConfig is a load run.
type benchConfig struct {
	addrs       []string
	clients     int
	keys        int
	valueSize   int
	reads       float64
	duration    time.Duration
	warmup      time.Duration
	consistency string
	ns          string
	pipeline    int
	seed        uint64
	// cluster routes each key to its slot's master, as cluster-aware Redis
	// clients do, from CLUSTER SLOTS asked of the first address.
	cluster bool
	// tls, if set, dials over TLS (the global --tls-ca, --tls-cert,
	// --tls-key); user and password, if set, log in (PANDO_USER and
	// PANDO_PASSWORD).
	tls            *tls.Config
	user, password string
}

func newBenchCmd() *cobra.Command {
	var bc benchConfig
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Generate load over the Redis protocol and report throughput and latency",
		Long: `Run a closed-loop load against Pando (or any Redis-protocol server): --clients
connections spread over --addr, each sending GET and SET of random keys among
--keys, in the proportion --reads, for --duration. Prints operations per
second, latency percentiles (p50, p99, p99.9) and errors.

Each connection first sends CONSISTENCY (Pando's per-connection levels) and
NAMESPACE when asked; a server that does not know them fails the run.

With --cluster, each connection sends every key to the master of its hash
slot, as cluster-aware clients do, from CLUSTER SLOTS asked of the first
--addr (one command in flight per connection).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if bc.clients < 1 || bc.keys < 1 || bc.valueSize < 0 || bc.reads < 0 || bc.reads > 1 || bc.pipeline < 1 || bc.duration <= 0 {
				return errors.New("bench: --clients, --keys, --pipeline and --duration must be positive, --reads between 0 and 1")
			}
			if bc.cluster && bc.pipeline != 1 {
				return errors.New("bench: --cluster sends one command at a time per connection: leave --pipeline at 1")
			}
			if err := loadClientConfig(); err != nil {
				return err
			}
			if tlsFlags.ca != "" || tlsFlags.cert != "" {
				cfg, err := certs.ClientConfig(tlsFlags.ca, tlsFlags.cert, tlsFlags.key)
				if err != nil {
					return err
				}
				bc.tls = cfg
			}
			user, password, token := credentials()
			bc.user, bc.password = user, password
			if token != "" {
				return errors.New("bench: the Redis protocol logs in with a user and password (a token is a user's password there): set PANDO_USER and PANDO_PASSWORD=TOKEN")
			}
			// Ctrl-C (SIGINT) ends the measurement early; what was
			// measured is printed.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			res, err := runBench(ctx, bc)
			if err != nil {
				return err
			}
			res.print(cmd.OutOrStdout(), bc)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&bc.addrs, "addr", []string{"127.0.0.1:6379"}, "Redis protocol addresses; connections are spread over them")
	f.IntVar(&bc.clients, "clients", 50, "concurrent connections")
	f.IntVar(&bc.keys, "keys", 100000, "number of distinct keys")
	f.IntVar(&bc.valueSize, "value-size", 100, "bytes per value")
	f.Float64Var(&bc.reads, "reads", 0.5, "fraction of operations that are reads (0 to 1)")
	f.DurationVar(&bc.duration, "duration", 10*time.Second, "how long to measure")
	f.DurationVar(&bc.warmup, "warmup", time.Second, "load before measuring")
	f.StringVar(&bc.consistency, "consistency", "", "read and write level, one of one, quorum, all or a number (or \"R W\"); empty sends nothing")
	f.StringVar(&bc.ns, "ns", "", "namespace (empty: the connection's default)")
	f.IntVar(&bc.pipeline, "pipeline", 1, "commands in flight per connection")
	f.Uint64Var(&bc.seed, "seed", 1, "random seed of the key choice")
	f.BoolVar(&bc.cluster, "cluster", false, "route each key to its slot's master from CLUSTER SLOTS, as a cluster-aware client does")
	return cmd
}

type benchResult struct {
	elapsed       time.Duration
	reads, writes []uint32 // latencies in microseconds
	errors        map[string]int
}

func runBench(ctx context.Context, bc benchConfig) (*benchResult, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	value := strings.Repeat("x", bc.valueSize)
	var measuring atomic.Bool
	stop := make(chan struct{})
	type worker struct {
		reads, writes []uint32
		errs          map[string]int
		err           error
	}
	workers := make([]*worker, bc.clients)
	var route *[ring.Slots]string
	if bc.cluster {
		var err error
		if route, err = slotMasters(ctx, bc.addrs[0], bc); err != nil {
			return nil, err
		}
	}
	var wg sync.WaitGroup
	var ready sync.WaitGroup
	for i := range bc.clients {
		w := &worker{errs: map[string]int{}}
		workers[i] = w
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			// One connection per node reached; without --cluster, one.
			conns := map[string]*respConn{}
			connTo := func(addr string) (*respConn, error) {
				if c, ok := conns[addr]; ok {
					return c, nil
				}
				c, err := dialRESP(addr, bc.tls)
				if err != nil {
					return nil, err
				}
				for _, setup := range setupCommands(bc) {
					if _, err := c.do(setup...); err != nil {
						c.close()
						return nil, fmt.Errorf("%s: %s: %w", addr, strings.Join(setup, " "), err)
					}
				}
				conns[addr] = c
				return c, nil
			}
			defer func() {
				for _, c := range conns {
					c.close()
				}
			}()
			c, err := connTo(bc.addrs[i%len(bc.addrs)])
			if err != nil {
				w.err = err
				ready.Done()
				return
			}
			ready.Done()
			rng := rand.New(rand.NewPCG(bc.seed, uint64(i)))
			batch := make([]bool, bc.pipeline) // true: read
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				for j := range batch {
					key := "key:" + strconv.Itoa(rng.IntN(bc.keys))
					if route != nil {
						if c, err = connTo(route[ring.Slot([]byte(key))]); err != nil {
							w.err = err
							return
						}
					}
					batch[j] = rng.Float64() < bc.reads
					if batch[j] {
						c.send("GET", key)
					} else {
						c.send("SET", key, value)
					}
				}
				if err := c.flush(); err != nil {
					w.err = err
					return
				}
				for _, isRead := range batch {
					_, err := c.reply()
					var re respError
					if err != nil && !errors.As(err, &re) {
						w.err = err
						return
					}
					if !measuring.Load() {
						continue
					}
					us := uint32(min(time.Since(start).Microseconds(), 1<<31))
					if err != nil {
						msg := err.Error()
						if len(msg) > 60 {
							msg = msg[:60]
						}
						w.errs[msg]++
					} else if isRead {
						w.reads = append(w.reads, us)
					} else {
						w.writes = append(w.writes, us)
					}
				}
			}
		}()
	}
	ready.Wait()
	for _, w := range workers {
		if w.err != nil {
			close(stop)
			wg.Wait()
			return nil, w.err
		}
	}
	sleep := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-ctx.Done():
			return false
		}
	}
	sleep(bc.warmup)
	measuring.Store(true)
	start := time.Now()
	sleep(bc.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	res := &benchResult{elapsed: elapsed, errors: map[string]int{}}
	for _, w := range workers {
		if w.err != nil {
			return nil, w.err
		}
		res.reads = append(res.reads, w.reads...)
		res.writes = append(res.writes, w.writes...)
		for k, v := range w.errs {
			res.errors[k] += v
		}
	}
	return res, nil
}

// slotMasters asks addr for CLUSTER SLOTS and returns each slot's master.
func slotMasters(ctx context.Context, addr string, bc benchConfig) (*[ring.Slots]string, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, TLSConfig: bc.tls, Username: bc.user, Password: bc.password})
	defer c.Close()
	slots, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("bench: CLUSTER SLOTS from %s: %w", addr, err)
	}
	var out [ring.Slots]string
	for _, s := range slots {
		if len(s.Nodes) == 0 || s.Start < 0 || s.End >= ring.Slots {
			continue
		}
		for slot := s.Start; slot <= s.End; slot++ {
			out[slot] = s.Nodes[0].Addr
		}
	}
	for slot, a := range out {
		if a == "" {
			return nil, fmt.Errorf("bench: CLUSTER SLOTS from %s leaves slot %d without a master", addr, slot)
		}
	}
	return &out, nil
}

func setupCommands(bc benchConfig) [][]string {
	var out [][]string
	if bc.user != "" {
		out = append(out, []string{"AUTH", bc.user, bc.password})
	}
	if bc.consistency != "" {
		out = append(out, append([]string{"CONSISTENCY"}, strings.Fields(bc.consistency)...))
	}
	if bc.ns != "" {
		out = append(out, []string{"NAMESPACE", bc.ns})
	}
	return out
}

func percentile(sorted []uint32, p float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := int(float64(len(sorted)-1) * p)
	return (time.Duration(sorted[i]) * time.Microsecond).String()
}

func (r *benchResult) print(w io.Writer, bc benchConfig) {
	total := len(r.reads) + len(r.writes)
	errs := 0
	for _, n := range r.errors {
		errs += n
	}
	secs := r.elapsed.Seconds()
	fmt.Fprintf(w, "pando bench: %d clients over %s, %d keys, %d-byte values, %.0f%% reads, pipeline %d, consistency %q, %s\n",
		bc.clients, strings.Join(bc.addrs, ","), bc.keys, bc.valueSize, bc.reads*100, bc.pipeline, bc.consistency, r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "%-6s %12s %10s %10s %10s\n", "op", "ops/s", "p50", "p99", "p99.9")
	for _, row := range []struct {
		name string
		lat  []uint32
	}{{"all", append(slices.Clone(r.reads), r.writes...)}, {"get", r.reads}, {"set", r.writes}} {
		slices.Sort(row.lat)
		fmt.Fprintf(w, "%-6s %12.0f %10s %10s %10s\n", row.name, float64(len(row.lat))/secs, percentile(row.lat, .5), percentile(row.lat, .99), percentile(row.lat, .999))
	}
	fmt.Fprintf(w, "errors: %d of %d", errs, total+errs)
	if errs > 0 {
		fmt.Fprintln(w, ":")
		for msg, n := range r.errors {
			fmt.Fprintf(w, "  %6d  %s\n", n, msg)
		}
	} else {
		fmt.Fprintln(w)
	}
}

// respConn is a minimal RESP client: enough for the load generator, with no
// allocation per command beyond the reply.
type respConn struct {
	nc net.Conn
	w  *bufio.Writer
	r  *bufio.Reader
}

type respError string

func (e respError) Error() string { return string(e) }

func dialRESP(addr string, tlsCfg *tls.Config) (*respConn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	var nc net.Conn
	var err error
	if tlsCfg != nil {
		nc, err = tls.DialWithDialer(d, "tcp", addr, tlsCfg)
	} else {
		nc, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return &respConn{nc: nc, w: bufio.NewWriterSize(nc, 64<<10), r: bufio.NewReaderSize(nc, 64<<10)}, nil
}

func (c *respConn) close() { c.nc.Close() }

func (c *respConn) send(args ...string) {
	c.w.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		c.w.WriteString("$" + strconv.Itoa(len(a)) + "\r\n")
		c.w.WriteString(a)
		c.w.WriteString("\r\n")
	}
}

func (c *respConn) flush() error { return c.w.Flush() }

func (c *respConn) do(args ...string) (string, error) {
	c.send(args...)
	if err := c.flush(); err != nil {
		return "", err
	}
	return c.reply()
}

// reply reads one reply; an error reply is a respError. Arrays are skipped.
func (c *respConn) reply() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", respError(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		for range n {
			if _, err := c.reply(); err != nil {
				return "", err
			}
		}
		return "", nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
