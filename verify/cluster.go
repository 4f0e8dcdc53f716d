package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// node is one pando process of the cluster under test.
type node struct {
	id      string
	ip      string // where it listens (and, in a namespace, its address)
	netns   string // network namespace, or "" on loopback
	ports   nodePorts
	dataDir string
	logPath string

	c *cluster // the run's cluster

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	paused  bool
	running bool
}

type nodePorts struct{ resp, http, cluster, gossip int }

func (n *node) respAddr() string   { return net.JoinHostPort(n.ip, fmt.Sprint(n.ports.resp)) }
func (n *node) httpAddr() string   { return net.JoinHostPort(n.ip, fmt.Sprint(n.ports.http)) }
func (n *node) gossipAddr() string { return net.JoinHostPort(n.ip, fmt.Sprint(n.ports.gossip)) }

// cluster is the set of nodes of a run.
type cluster struct {
	bin   string
	nodes []*node
	net   *netnsNet // nil on loopback
	join  string
	extra []string // extra server flags (and PANDO_ environment)
	env   []string
	sec   *secure // nil: plaintext, no login (secure.go)

	httpOnce sync.Once
	httpc    *http.Client
}

func (c *cluster) node(id string) *node {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// newCluster lays out n nodes under dir, and spares more that are not
// among the founders: on loopback with distinct ports, or in network
// namespaces (one IP each) when netns is set.
func newCluster(bin, dir string, n, spares int, ns *netnsNet, basePort int, extra, env []string) *cluster {
	c := &cluster{bin: bin, net: ns, extra: extra, env: env}
	var join []string
	for i := range n + spares {
		nd := &node{c: c, id: fmt.Sprintf("n%d", i+1), dataDir: filepath.Join(dir, "nodes", fmt.Sprintf("n%d", i+1))}
		if ns != nil {
			nd.ip, nd.netns = ns.ip(i), ns.name(i)
			nd.ports = nodePorts{resp: 6379, http: 8080, cluster: 7000, gossip: 7946}
		} else {
			nd.ip = "127.0.0.1"
			b := basePort + 4*i
			nd.ports = nodePorts{resp: b, http: b + 1, cluster: b + 2, gossip: b + 3}
		}
		nd.logPath = filepath.Join(dir, "nodes", nd.id+".log")
		if i < n { // a spare joins later, as a candidate
			join = append(join, nd.gossipAddr())
		}
		c.nodes = append(c.nodes, nd)
	}
	c.join = strings.Join(join, ",")
	return c
}

func (c *cluster) args(n *node) []string {
	args := []string{"server", "--node-id", n.id, "--data-dir", n.dataDir,
		"--resp-addr", n.respAddr(), "--http-addr", n.httpAddr(),
		"--cluster-addr", net.JoinHostPort(n.ip, fmt.Sprint(n.ports.cluster)), "--gossip-addr", n.gossipAddr(),
		"--join", c.join, "--gossip-profile", "local", "--request-timeout", "2s", "--debug-clock", "--debug-disk-faults",
		"--log-level", "info", "--log-format", "text"}
	return append(args, c.extra...)
}

// start launches a node's process (again, after a kill).
func (c *cluster) start(n *node) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(n.logPath), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var cmd *exec.Cmd
	if n.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", n.netns, c.bin}, c.args(n)...)...)
	} else {
		cmd = exec.Command(c.bin, c.args(n)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), c.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", n.id, err)
	}
	n.cmd, n.running, n.paused = cmd, true, false
	n.exited = make(chan struct{})
	exited := n.exited
	go func() {
		_ = cmd.Wait()
		logf.Close()
		n.mu.Lock()
		if n.cmd == cmd {
			n.running = false
		}
		n.mu.Unlock()
		close(exited)
	}()
	return nil
}

// signal sends sig to the node's process (the ip netns exec wrapper execs
// the binary, so the pid is pando's).
func (n *node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running || n.cmd == nil {
		return errors.New("not running")
	}
	return n.cmd.Process.Signal(sig)
}

// kill sends SIGKILL and waits for the process to go.
func (n *node) kill() error {
	n.mu.Lock()
	if n.paused && n.cmd != nil {
		_ = n.cmd.Process.Signal(syscall.SIGCONT)
		n.paused = false
	}
	exited := n.exited
	n.mu.Unlock()
	if err := n.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if exited != nil {
		<-exited
	}
	return nil
}

func (n *node) pause() error {
	if err := n.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	n.mu.Lock()
	n.paused = true
	n.mu.Unlock()
	return nil
}

func (n *node) resume() error {
	n.mu.Lock()
	wasPaused := n.paused
	n.paused = false
	n.mu.Unlock()
	if !wasPaused {
		return nil
	}
	return n.signal(syscall.SIGCONT)
}

// stop asks for a clean shutdown, then kills after a while.
func (n *node) stop() {
	_ = n.resume()
	n.mu.Lock()
	exited := n.exited
	n.mu.Unlock()
	if err := n.signal(syscall.SIGTERM); err != nil || exited == nil {
		return
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = n.kill()
	}
}

// waitReady polls every node's /readyz until all answer 200.
func (c *cluster) waitReady(ctx context.Context, nodes []*node, within time.Duration) error {
	deadline := time.Now().Add(within)
	for _, n := range nodes {
		for {
			resp, err := c.call(ctx, n, "GET", "/readyz", nil)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s not ready within %s (log: %s)", n.id, within, n.logPath)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// failFsync makes the next fsync of the node's write-ahead log fail (EIO).
func (n *node) failFsync() error {
	return n.debug("disk", `{"fault": "fsync", "ops": 1}`)
}

// debug posts body to the node's debug route /v1/debug/what.
func (n *node) debug(what, body string) error {
	resp, err := n.c.call(context.Background(), n, "POST", "/v1/debug/"+what, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: debug %s: %s", n.id, what, resp.Status)
	}
	return nil
}

// setClock moves a node's clock by offset.
func (n *node) setClock(offset time.Duration) error {
	return n.debug("clock", fmt.Sprintf(`{"offset_ms": %d}`, offset.Milliseconds()))
}

func (c *cluster) stopAll() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.stop() }()
	}
	wg.Wait()
}

// waitConverged polls every node's /v1/status until each sees every node up:
// gossip has healed too, not just the processes.
func (c *cluster) waitConverged(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for _, n := range c.nodes {
		for {
			up, err := n.upCount()
			if err == nil && up == len(c.nodes) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s sees %d of %d nodes up after %s (%v)", n.id, up, len(c.nodes), within, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func (n *node) upCount() (int, error) {
	resp, err := n.c.call(context.Background(), n, "GET", "/v1/status", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Nodes []struct{ State string } `json:"nodes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	up := 0
	for _, nd := range st.Nodes {
		if nd.State == "up" {
			up++
		}
	}
	return up, nil
}
