package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/pandodb/pando/verify"
	"github.com/spf13/cobra"
)

func newVerifyCmd() *cobra.Command {
	var cfg verify.Config
	var nemeses string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Run a cluster under faults and check that Pando keeps its promises",
		Long: `Start a cluster of pando processes (data in --out), drive it with client
workers, inject faults on a schedule drawn from --seed, heal, wait for recovery,
and check the history of operations. Exits non-zero on any violation.

Workloads: set (no acknowledged element lost or under-replicated),
durability (writes at ALL survive kill -9 on every replica), register
(linearizability, checked with porcupine), convergence (replicas agree after
healing), session (read-your-writes at R + W > N through any node), delete
(a DEL deletes, and deleted keys never return), ttl (expiry never brings back
an older value), bank and counter (for later releases).

Nemeses (comma-separated): partition (needs root: network namespaces and
iptables), kill, pause, clock, disk (needs root: a tmpfs per node), fsync.

Example:
  pando verify --workload set --nemesis partition,kill --time 60s --out verify-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, n := range strings.Split(nemeses, ",") {
				if n = strings.TrimSpace(n); n != "" {
					cfg.Nemeses = append(cfg.Nemeses, n)
				}
			}
			if cfg.Out == "" {
				cfg.Out = "verify-" + time.Now().UTC().Format("20060102-150405")
			}
			cfg.Log = cmd.OutOrStdout()
			// Ctrl-C ends the run early; the nodes are stopped and any
			// network namespaces removed on the way out.
			ctx, stop := signalContext()
			defer stop()
			sum, err := verify.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if !sum.Passed() {
				return fmt.Errorf("verification failed: %d violations (%s)", len(sum.Violations), sum.Dir)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 3, "cluster size")
	f.StringVar(&cfg.Workload, "workload", "set", "set, durability, register, convergence, session, delete, ttl, bank or counter")
	f.StringVar(&nemeses, "nemesis", "", "faults to inject: partition, kill, pause, clock, disk, fsync, membership (comma-separated)")
	f.DurationVar(&cfg.Time, "time", 60*time.Second, "how long the workload runs")
	f.IntVar(&cfg.Rate, "rate", 200, "operations per second, all workers together")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of the fault schedule and of the workers")
	f.StringVar(&cfg.Out, "out", "", "directory for the run (default verify-<time>)")
	f.IntVar(&cfg.Concurrency, "concurrency", 2, "client workers per node")
	f.IntVar(&cfg.BasePort, "base-port", 30000, "first port of the nodes on loopback (4 per node)")
	f.BoolVar(&cfg.Secure, "secure", false, "run the nodes as in production: TLS on every listener (mutual between nodes), encrypted gossip, logins required; workers connect over TLS as an admin")
	return cmd
}
