// Command etcdload is a closed-loop load generator for etcd, the
// counterpart of `pando bench` for scripts/bench-strong.sh: --clients
// concurrent requesters, spread over --conns etcd clients (each its own
// gRPC connections, as etcd's own benchmark tool spreads its clients), each
// sending Get or Put of random keys among --keys, in the proportion
// --reads, for --duration after --warmup. Gets are linearizable (etcd's
// default). It prints throughput and latency percentiles in the format of
// `pando bench`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

type config struct {
	endpoints []string
	clients   int
	conns     int
	keys      int
	valueSize int
	reads     float64
	duration  time.Duration
	warmup    time.Duration
	preload   bool
	timeout   time.Duration
	seed      uint64
}

func main() {
	var c config
	var endpoints string
	flag.StringVar(&endpoints, "endpoints", "127.0.0.1:2379", "etcd client endpoints, comma-separated")
	flag.IntVar(&c.clients, "clients", 50, "concurrent requesters")
	flag.IntVar(&c.conns, "conns", 8, "etcd clients (gRPC connections) the requesters are spread over, at most --clients")
	flag.IntVar(&c.keys, "keys", 100000, "number of distinct keys")
	flag.IntVar(&c.valueSize, "value-size", 100, "bytes per value")
	flag.Float64Var(&c.reads, "reads", 0.5, "fraction of operations that are reads (0 to 1)")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long to measure (0 with --preload: preload only)")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "load before measuring")
	flag.BoolVar(&c.preload, "preload", false, "first put every key once (not measured), so that reads find values")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.Uint64Var(&c.seed, "seed", 1, "random seed of the key choice")
	flag.Parse()
	for _, e := range strings.Split(endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.endpoints = append(c.endpoints, e)
		}
	}
	c.conns = min(c.conns, c.clients)
	if c.clients < 1 || c.keys < 1 || c.valueSize < 0 || c.reads < 0 || c.reads > 1 || c.duration < 0 || (c.duration == 0 && !c.preload) || c.conns < 1 || len(c.endpoints) == 0 {
		fmt.Fprintln(os.Stderr, "etcdload: --clients, --keys, --duration and --endpoints must be set and positive, --reads between 0 and 1")
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "etcdload:", err)
		os.Exit(1)
	}
}

func key(i int) string { return "key:" + strconv.Itoa(i) }

func run(c config) error {
	ctx := context.Background()
	clis := make([]*clientv3.Client, c.conns)
	for i := range clis {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:   c.endpoints,
			DialTimeout: 5 * time.Second,
			Logger:      zap.NewNop(),
		})
		if err != nil {
			return err
		}
		defer cli.Close()
		clis[i] = cli
	}
	value := strings.Repeat("x", c.valueSize)

	if c.preload {
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		errc := make(chan error, c.clients)
		for i := range c.clients {
			cli := clis[i%len(clis)]
			wg.Go(func() {
				for {
					k := int(next.Add(1) - 1)
					if k >= c.keys {
						return
					}
					rctx, cancel := context.WithTimeout(ctx, c.timeout)
					_, err := cli.Put(rctx, key(k), value)
					cancel()
					if err != nil {
						errc <- fmt.Errorf("preload: put %s: %w", key(k), err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		if err := <-errc; err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "etcdload: preloaded %d keys in %s\n", c.keys, time.Since(start).Round(time.Millisecond))
		if c.duration == 0 {
			return nil
		}
	}

	type worker struct {
		reads, writes []uint32
		errs          map[string]int
	}
	var measuring, stopping atomic.Bool
	workers := make([]*worker, c.clients)
	var wg sync.WaitGroup
	for i := range c.clients {
		w := &worker{errs: map[string]int{}}
		workers[i] = w
		cli := clis[i%len(clis)]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(c.seed, uint64(i)))
			for !stopping.Load() {
				k := key(rng.IntN(c.keys))
				isRead := rng.Float64() < c.reads
				start := time.Now()
				rctx, cancel := context.WithTimeout(ctx, c.timeout)
				var err error
				if isRead {
					_, err = cli.Get(rctx, k)
				} else {
					_, err = cli.Put(rctx, k, value)
				}
				cancel()
				if !measuring.Load() {
					continue
				}
				us := uint32(min(time.Since(start).Microseconds(), 1<<31))
				switch {
				case err != nil:
					msg := err.Error()
					if len(msg) > 60 {
						msg = msg[:60]
					}
					w.errs[msg]++
				case isRead:
					w.reads = append(w.reads, us)
				default:
					w.writes = append(w.writes, us)
				}
			}
		})
	}
	time.Sleep(c.warmup)
	measuring.Store(true)
	start := time.Now()
	time.Sleep(c.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	stopping.Store(true)
	wg.Wait()

	var reads, writes []uint32
	errs := map[string]int{}
	nerr := 0
	for _, w := range workers {
		reads = append(reads, w.reads...)
		writes = append(writes, w.writes...)
		for m, n := range w.errs {
			errs[m] += n
			nerr += n
		}
	}
	secs := elapsed.Seconds()
	fmt.Printf("etcdload: %d clients over %d connections to %s, %d keys, %d-byte values, %.0f%% reads, linearizable, %s\n",
		c.clients, len(clis), strings.Join(c.endpoints, ","), c.keys, c.valueSize, c.reads*100, elapsed.Round(time.Millisecond))
	fmt.Printf("%-6s %12s %10s %10s %10s\n", "op", "ops/s", "p50", "p99", "p99.9")
	for _, row := range []struct {
		name string
		lat  []uint32
	}{{"all", append(slices.Clone(reads), writes...)}, {"get", reads}, {"set", writes}} {
		slices.Sort(row.lat)
		fmt.Printf("%-6s %12.0f %10s %10s %10s\n", row.name, float64(len(row.lat))/secs, percentile(row.lat, .5), percentile(row.lat, .99), percentile(row.lat, .999))
	}
	total := len(reads) + len(writes)
	fmt.Printf("errors: %d of %d", nerr, total+nerr)
	if nerr > 0 {
		fmt.Println(":")
		for m, n := range errs {
			fmt.Printf("  %6d  %s\n", n, m)
		}
	} else {
		fmt.Println()
	}
	if total == 0 {
		return errors.New("no request succeeded")
	}
	return nil
}

func percentile(sorted []uint32, p float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := int(float64(len(sorted)-1) * p)
	return (time.Duration(sorted[i]) * time.Microsecond).String()
}
