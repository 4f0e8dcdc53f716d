package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/server"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// nodeFlags are the settings of one node, shared by "server" and "dev".
type nodeFlags struct {
	configFile        string
	dataDir           string
	nodeID            string
	respAddr          string
	httpAddr          string
	clusterAddr       string
	gossipAddr        string
	join              []string
	bootstrapExpect   int
	partitions        int
	requestTimeout    time.Duration
	gossipProfile     string
	gossipKeyFile     string
	maxKey            int64
	maxValue          int64
	cache             int64
	recordCache       int64
	reapInterval      time.Duration
	hintMaxBytes      int64
	minFreeDisk       int64
	tlsCert           string
	tlsKey            string
	tlsCA             string
	maxDiskUsage      int64
	hintMaxAge        time.Duration
	readRepair        bool
	antiEntropy       bool
	aeInterval        time.Duration
	aeRecords         float64
	aeBytes           int64
	tombstoneGrace    time.Duration
	maxClockOffset    time.Duration
	walSync           time.Duration
	shutdownTimeout   time.Duration
	logLevel          string
	logFormat         string
	pprof             bool
	requireAuth       bool
	metricsAuth       bool
	adminUser         string
	adminPasswordFile string
	debugClock        bool
	debugDiskFaults   bool
}

func (n *nodeFlags) register(fs *pflag.FlagSet, dataDirDefault string) {
	def := server.DefaultConfig()
	fs.StringVar(&n.configFile, "config", "", "YAML file of settings, keyed by flag name (env PANDO_CONFIG)")
	fs.StringVar(&n.dataDir, "data-dir", dataDirDefault, "directory holding the node's data")
	fs.StringVar(&n.respAddr, "resp-addr", def.RESPAddr, "Redis protocol listen address, HOST:PORT")
	fs.StringVar(&n.httpAddr, "http-addr", def.HTTPAddr, "HTTP API listen address, HOST:PORT")
	fs.StringVar(&n.nodeID, "node-id", "", "this node's id (default: the one stored in the data directory, or a new one)")
	fs.StringVar(&n.clusterAddr, "cluster-addr", def.ClusterAddr, "node-to-node RPC listen address, HOST:PORT")
	fs.StringVar(&n.gossipAddr, "gossip-addr", def.GossipAddr, "gossip listen address (UDP and TCP), HOST:PORT")
	fs.StringSliceVar(&n.join, "join", nil, "gossip addresses of nodes to join, comma-separated; may include this node's own")
	fs.IntVar(&n.bootstrapExpect, "bootstrap-expect", 0, "how many nodes form a new cluster (default: 1, or the number of --join addresses)")
	fs.IntVar(&n.partitions, "partitions", def.Partitions, "partitions of a new cluster's ring (a power of two; fixed at creation)")
	fs.DurationVar(&n.requestTimeout, "request-timeout", def.RequestTimeout, "how long a request waits for replicas")
	fs.StringVar(&n.gossipKeyFile, "gossip-key-file", "", "encrypt gossip with the keys in FILE (pando cert create-gossip-key; one base64 key per line, the first encrypting), read again when it changes")
	fs.StringVar(&n.gossipProfile, "gossip-profile", "lan", "failure-detection timings: lan (seconds) or local (sub-second, one machine)")
	fs.Var(newSize(&n.maxKey, int64(def.Limits.MaxKeyBytes)), "max-key-size", "largest key accepted")
	fs.Var(newSize(&n.maxValue, int64(def.Limits.MaxValueBytes)), "max-value-size", "largest value accepted")
	fs.Var(newSize(&n.cache, def.CacheBytes), "cache-size", "storage block cache")
	fs.Var(newSize(&n.recordCache, def.RecordCacheBytes), "record-cache-size", "in-memory cache of recently read records; 0 disables it")
	fs.DurationVar(&n.walSync, "wal-min-sync-interval", def.WALMinSyncInterval, "least time between two fsyncs of the write-ahead log; writes meanwhile share the next one (0: no delay)")
	fs.DurationVar(&n.reapInterval, "reap-interval", def.ReapInterval, "how often expired keys are reclaimed from disk")
	fs.StringVar(&n.tlsCert, "tls-cert", "", "certificate (PEM) of the Redis protocol and HTTP listeners, which then speak TLS only (pando cert create-node)")
	fs.StringVar(&n.tlsKey, "tls-key", "", "its private key (PEM)")
	fs.StringVar(&n.tlsCA, "tls-ca", "", "CA certificate (PEM) that a client certificate, when presented, must be signed by")
	fs.Var(newSize(&n.minFreeDisk, def.MinFreeDisk), "min-free-disk", "free space of the data directory's file system under which data writes are refused (-NOSPACE), so that flushes, compactions, Raft logs and hints keep room")
	fs.Var(newSize(&n.maxDiskUsage, def.MaxDiskUsage), "max-disk-usage", "database size at which data writes are refused (-NOSPACE); 0: no limit")
	fs.Var(newSize(&n.hintMaxBytes, def.HintMaxBytes), "hint-max-bytes", "most bytes of hints kept for replicas that miss writes; past it hints are refused (and counted)")
	fs.DurationVar(&n.hintMaxAge, "hint-max-age", def.HintMaxAge, "how long a hint waits for its replica before it is dropped (and counted)")
	fs.BoolVar(&n.readRepair, "read-repair", true, "reads repair the replicas they find stale (false: only hints repair them)")
	fs.BoolVar(&n.antiEntropy, "anti-entropy", true, "compare hash trees with the other replicas on a schedule and repair what differs")
	fs.DurationVar(&n.aeInterval, "anti-entropy-interval", def.AntiEntropyInterval, "pause between two rounds of anti-entropy exchanges")
	fs.Float64Var(&n.aeRecords, "anti-entropy-records", 0, "most records anti-entropy moves per second (0: no bound; PUT /v1/antientropy changes it at run time)")
	fs.DurationVar(&n.tombstoneGrace, "tombstone-grace", 0, "least time a deleted or expired key's tombstone stays on disk once every replica holds it (0: --hint-max-age plus 10m; never less than --hint-max-age or --request-timeout; a replicated record older than this is refused)")
	fs.DurationVar(&n.maxClockOffset, "max-clock-offset", def.MaxClockOffset, "how far apart the nodes' clocks are trusted to be; tombstones wait twice this past --tombstone-grace")
	fs.Var(newSize(&n.aeBytes, 0), "anti-entropy-bytes", "most bytes anti-entropy moves per second (0: no bound; PUT /v1/antientropy changes it at run time)")
	fs.DurationVar(&n.shutdownTimeout, "shutdown-timeout", def.ShutdownTimeout, "how long a stop waits for in-flight requests")
	fs.BoolVar(&n.pprof, "enable-pprof", false, "serve Go's profiler on the HTTP API under /debug/pprof/")
	fs.BoolVar(&n.requireAuth, "require-auth", false, "clients must authenticate as a user of the cluster (RESP AUTH, HTTP Basic auth; see pando user) and may do only what their role allows")
	fs.StringVar(&n.adminUser, "admin-user", "admin", "with --admin-password-file: the first admin's name")
	fs.StringVar(&n.adminPasswordFile, "admin-password-file", "", "with --require-auth: make --admin-user an admin with the password in this file when the cluster has no user yet")
	fs.BoolVar(&n.metricsAuth, "metrics-auth", false, "with --require-auth, /metrics needs a login too (it is open by default, like /healthz and /readyz)")
	fs.BoolVar(&n.debugClock, "debug-clock", false, "run on a clock that POST /v1/debug/clock can move (pando verify only)")
	fs.BoolVar(&n.debugDiskFaults, "debug-disk-faults", false, "let POST /v1/debug/disk inject disk faults into this node's storage (pando verify only)")
	_ = fs.MarkHidden("debug-clock")
	fs.StringVar(&n.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&n.logFormat, "log-format", "text", "text or json")
}

func (n *nodeFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(n.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", n.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(n.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", n.logFormat)
}

func (n *nodeFlags) config() (server.Config, error) {
	log, err := n.logger()
	if err != nil {
		return server.Config{}, err
	}
	if n.gossipProfile != "lan" && n.gossipProfile != "local" {
		return server.Config{}, fmt.Errorf("--gossip-profile %q: want lan or local", n.gossipProfile)
	}
	const maxInt = int64(^uint(0) >> 1)
	if n.maxKey > maxInt || n.maxValue > maxInt {
		return server.Config{}, fmt.Errorf("size limits too large")
	}
	return server.Config{
		DataDir:             n.dataDir,
		NodeID:              n.nodeID,
		RESPAddr:            n.respAddr,
		HTTPAddr:            n.httpAddr,
		ClusterAddr:         n.clusterAddr,
		GossipAddr:          n.gossipAddr,
		GossipKeyFile:       n.gossipKeyFile,
		Join:                n.join,
		BootstrapExpect:     n.bootstrapExpect,
		Partitions:          n.partitions,
		RequestTimeout:      n.requestTimeout,
		FastGossip:          n.gossipProfile == "local",
		Limits:              api.Limits{MaxKeyBytes: int(n.maxKey), MaxValueBytes: int(n.maxValue)},
		CacheBytes:          n.cache,
		RecordCacheBytes:    n.recordCache,
		ReapInterval:        n.reapInterval,
		HintMaxBytes:        n.hintMaxBytes,
		MinFreeDisk:         n.minFreeDisk,
		TLSCert:             n.tlsCert,
		TLSKey:              n.tlsKey,
		TLSCA:               n.tlsCA,
		MaxDiskUsage:        n.maxDiskUsage,
		HintMaxAge:          n.hintMaxAge,
		DisableReadRepair:   !n.readRepair,
		DisableAntiEntropy:  !n.antiEntropy,
		AntiEntropyInterval: n.aeInterval,
		AntiEntropyRecords:  n.aeRecords,
		AntiEntropyBytes:    float64(n.aeBytes),
		TombstoneGrace:      n.tombstoneGrace,
		MaxClockOffset:      n.maxClockOffset,
		WALMinSyncInterval:  n.walSync,
		ShutdownTimeout:     n.shutdownTimeout,
		Pprof:               n.pprof,
		RequireAuth:         n.requireAuth,
		MetricsAuth:         n.metricsAuth,
		AdminUser:           n.adminUser,
		AdminPasswordFile:   n.adminPasswordFile,
		DebugClock:          n.debugClock,
		DebugDiskFaults:     n.debugDiskFaults,
		Version:             pandoVersion(),
		Logger:              log,
	}, nil
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func newServerCmd() *cobra.Command {
	var nf nodeFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Pando node",
		Long: `Run a Pando node until SIGINT or SIGTERM.

Every flag can also be set by a PANDO_ environment variable (--resp-addr is
PANDO_RESP_ADDR) or in the YAML file given by --config, keyed by flag name.
A flag on the command line wins over the environment, which wins over the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applySettings(cmd); err != nil {
				return err
			}
			cfg, err := nf.config()
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			// SIGHUP: read the certificates and gossip keys again now.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						if err := server.Reload(); err != nil {
							cfg.Logger.Error("SIGHUP: a certificate did not load; the one in use is kept", "err", err)
						} else {
							cfg.Logger.Info("SIGHUP: certificates and gossip keys read again")
						}
					}
				}
			}()
			return server.Supervise(ctx, cfg)
		},
	}
	nf.register(cmd.Flags(), server.DefaultConfig().DataDir)
	return cmd
}
