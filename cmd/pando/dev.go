package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pandodb/pando/internal/certs"
	"github.com/spf13/cobra"
)

// devNode is one node of a dev cluster, run as a child process.
type devNode struct {
	id                      string
	resp, http, rpc, gossip string
	cmd                     *exec.Cmd
	exited                  chan error
}

// restartCommand is the shell command that starts n again, on its data,
// into the running cluster.
func (n *devNode) restartCommand() string {
	var b strings.Builder
	for i, a := range n.cmd.Args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		b.WriteString(a)
	}
	return b.String()
}

func newDevCmd() *cobra.Command {
	var (
		nodes                                       int
		dataDir, host                               string
		respPort, httpPort, clusterPort, gossipPort int
		logLevel                                    string
		secure                                      bool
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local cluster of nodes for development, with data under the working directory",
		Long: `Run a local Pando cluster for development: --nodes processes (3 by default) on
127.0.0.1, each with its own ports, forming one cluster. Data lives in
./pando-dev (or --data-dir), a directory per node, and survives restarts;
delete it to start afresh.

Each node is a "pando server" process: kill one (its pid is printed) and the
others keep serving. Ctrl-C stops them all cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if nodes < 1 || nodes > 9 {
				return fmt.Errorf("--nodes must be 1 to 9, got %d", nodes)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			dir, _ := filepath.Abs(dataDir)
			port := func(base, i int) string { return net.JoinHostPort(host, strconv.Itoa(base+i)) }
			var ns []*devNode
			var join []string
			for i := range nodes {
				n := &devNode{id: fmt.Sprintf("n%d", i+1), resp: port(respPort, i), http: port(httpPort, i), rpc: port(clusterPort, i), gossip: port(gossipPort, i)}
				ns = append(ns, n)
				join = append(join, n.gossip)
			}
			for _, p := range []int{respPort, httpPort, clusterPort, gossipPort} {
				if p < 1 || p+nodes > 65536 {
					return fmt.Errorf("ports must leave room for %d nodes below 65536, got %d", nodes, p)
				}
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			certDir := ""
			if secure {
				certDir = filepath.Join(dir, "certs")
				if err := devCerts(certDir, host, ns); err != nil {
					return err
				}
			}
			ctx, stop := signalContext()
			defer stop()
			for _, n := range ns {
				args := []string{"server",
					"--node-id", n.id, "--data-dir", filepath.Join(dir, n.id),
					"--resp-addr", n.resp, "--http-addr", n.http, "--cluster-addr", n.rpc, "--gossip-addr", n.gossip,
					"--join", strings.Join(join, ","), "--bootstrap-expect", strconv.Itoa(nodes),
					"--gossip-profile", "local", "--log-level", logLevel, "--log-format", "text"}
				if secure {
					args = append(args, "--tls-cert", filepath.Join(certDir, n.id+".crt"), "--tls-key", filepath.Join(certDir, n.id+".key"),
						"--tls-ca", filepath.Join(certDir, "ca.crt"), "--gossip-key-file", filepath.Join(certDir, "gossip.key"))
				}
				c := exec.Command(self, args...)
				// Its own process group: the terminal's Ctrl-C reaches dev,
				// which then stops the nodes in order.
				c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				c.Env = cleanEnv()
				stderr, _ := c.StderrPipe()
				stdout, _ := c.StdoutPipe()
				if err := c.Start(); err != nil {
					stopAll(ns)
					return fmt.Errorf("starting %s: %w", n.id, err)
				}
				n.cmd, n.exited = c, make(chan error, 1)
				var pipes sync.WaitGroup
				for _, r := range []io.Reader{stderr, stdout} {
					pipes.Add(1)
					go func() { defer pipes.Done(); prefixLines(errOut, "["+n.id+"] ", r) }()
				}
				go func() { pipes.Wait(); n.exited <- c.Wait() }()
			}
			fmt.Fprintf(out, "Starting %d Pando nodes, data in %s ...\n", nodes, dir)
			if err := waitDevReady(ctx, ns, certDir); err != nil {
				stopAll(ns)
				return err
			}
			printDevBanner(out, ns, dir, certDir)
			exited := make(chan string, len(ns))
			for _, n := range ns {
				go func() {
					err := <-n.exited
					n.exited <- err
					exited <- n.id
				}()
			}
			running := len(ns)
			for running > 0 {
				select {
				case <-ctx.Done():
					stopAll(ns)
					fmt.Fprintln(out, "Stopped cleanly.")
					return nil
				case id := <-exited:
					running--
					for _, n := range ns {
						if n.id == id {
							fmt.Fprintf(out, "Node %s stopped; %d still running. To start it again into the cluster, in another terminal:\n  %s\n", id, running, n.restartCommand())
						}
					}
				}
			}
			return fmt.Errorf("every node has stopped")
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "nodes", 3, "how many nodes")
	f.StringVar(&dataDir, "data-dir", "pando-dev", "directory holding one data directory per node")
	f.StringVar(&host, "host", "127.0.0.1", "address the nodes listen on")
	f.IntVar(&respPort, "resp-port", 6379, "Redis protocol port of the first node; node i uses port+i-1")
	f.IntVar(&httpPort, "http-port", 8080, "HTTP port of the first node")
	f.IntVar(&clusterPort, "cluster-port", 7000, "node-to-node RPC port of the first node")
	f.IntVar(&gossipPort, "gossip-port", 7946, "gossip port of the first node")
	f.StringVar(&logLevel, "log-level", "warn", "the nodes' log level")
	f.BoolVar(&secure, "secure", false, "TLS on every listener, mutual between nodes, and encrypted gossip: makes a CA, a certificate per node and a gossip key under DATA-DIR/certs (kept for the next run) and prints how to connect")
	return cmd
}

// cleanEnv drops PANDO_ settings from the environment the nodes inherit: dev
// sets their addresses itself.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PANDO_") {
			env = append(env, kv)
		}
	}
	return env
}

func prefixLines(w io.Writer, prefix string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fmt.Fprintln(w, prefix+sc.Text())
	}
}

// devCerts makes, in dir, the CA, the gossip key and a certificate for
// each node that are not there yet.
func devCerts(dir, host string, ns []*devNode) error {
	if _, err := os.Stat(filepath.Join(dir, "ca.crt")); err != nil {
		if err := certs.CreateCA(dir); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "gossip.key")); err != nil {
		if _, err := createGossipKey(dir); err != nil {
			return err
		}
	}
	hosts := slices.Compact(append([]string{host}, certs.DefaultHosts...))
	for _, n := range ns {
		if _, err := os.Stat(filepath.Join(dir, n.id+".crt")); err == nil {
			continue
		}
		if err := certs.CreateNode(n.id, hosts, dir, dir); err != nil {
			return err
		}
	}
	return nil
}

// waitDevReady waits until every node answers /readyz (over HTTPS, trusting
// certDir's CA, when it is set).
func waitDevReady(ctx context.Context, ns []*devNode, certDir string) error {
	client := http.DefaultClient
	scheme := "http://"
	if certDir != "" {
		cfg, err := certs.ClientConfig(filepath.Join(certDir, "ca.crt"), "", "")
		if err != nil {
			return err
		}
		client, scheme = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, "https://"
	}
	ready := func(httpAddr string) bool {
		resp, err := client.Get(scheme + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, n := range ns {
		for !ready(n.http) {
			select {
			case err := <-n.exited:
				n.exited <- err
				return fmt.Errorf("node %s exited while starting: %v", n.id, err)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s did not become ready within 60s", n.id)
			}
		}
	}
	return nil
}

func printDevBanner(out io.Writer, ns []*devNode, dir, certDir string) {
	fmt.Fprintf(out, "\nPando %s: a local cluster of %d nodes, data in %s\n\n", pandoVersion(), len(ns), dir)
	scheme, tlsCLI, curlCA, pandoCA := "http://", "", "", ""
	if certDir != "" {
		ca := filepath.Join(certDir, "ca.crt")
		scheme, tlsCLI, curlCA, pandoCA = "https://", " --tls --cacert "+ca, " --cacert "+ca, " --tls-ca "+ca
		fmt.Fprintf(out, "TLS on every listener, mutual between nodes; the CA is %s\n\n", ca)
	}
	fmt.Fprintf(out, "  %-4s %-8s %-28s %-28s\n", "node", "pid", "Redis protocol", "HTTP API")
	for _, n := range ns {
		fmt.Fprintf(out, "  %-4s %-8d %-28s %-28s\n", n.id, n.cmd.Process.Pid, n.resp, scheme+n.http)
	}
	first, last := ns[0], ns[len(ns)-1]
	h1, p1, _ := net.SplitHostPort(first.resp)
	hl, pl, _ := net.SplitHostPort(last.resp)
	fmt.Fprintf(out, "\nWrite through %s, read through %s:\n", first.id, last.id)
	fmt.Fprintf(out, "  redis-cli%s -h %s -p %s set hello world\n", tlsCLI, h1, p1)
	fmt.Fprintf(out, "  redis-cli%s -h %s -p %s get hello\n", tlsCLI, hl, pl)
	fmt.Fprintf(out, "  curl%s %s%s/v1/kv/hello\n", curlCA, scheme, last.http)
	fmt.Fprintf(out, "  go run ./cmd/pando status --http %s%s\n", first.http, pandoCA)
	if len(ns) > 1 {
		fmt.Fprintf(out, "\nStop a node with kill %d (%s): the others keep serving.\n", ns[1].cmd.Process.Pid, ns[1].id)
	}
	fmt.Fprintf(out, "Press Ctrl-C to stop.\n")
}

// stopAll sends SIGTERM to every node and waits for them (SIGKILL after
// 15s).
func stopAll(ns []*devNode) {
	for _, n := range ns {
		if n.cmd != nil && n.cmd.Process != nil {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, n := range ns {
		if n.cmd == nil {
			continue
		}
		select {
		case err := <-n.exited:
			n.exited <- err
		case <-time.After(15 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	}
}
