package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pandodb/pando/internal/testutil"
)

// pandoBin is the binary built for this test run.
var pandoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pando-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pandoBin = filepath.Join(dir, "pando")
	if err := testutil.BuildPando(pandoBin, ""); err != nil {
		fmt.Fprintln(os.Stderr, "building pando:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one pando process.
type node struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	args    []string
	resp    string // Redis protocol address
	http    string // HTTP address
	done    chan struct{}
	mu      sync.Mutex
	log     bytes.Buffer
	exitErr error
}

// startNode runs "pando server" on dataDir with kernel-chosen ports and waits
// until it serves.
func startNode(t *testing.T, dataDir string, extra ...string) *node {
	t.Helper()
	n := &node{t: t, dataDir: dataDir, args: extra}
	n.start(nil)
	return n
}

func (n *node) start(env []string) {
	n.t.Helper()
	args := append([]string{"server", "--data-dir", n.dataDir,
		"--resp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--cluster-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--log-format", "json"}, n.args...)
	n.cmd = exec.Command(pandoBin, args...)
	n.cmd.Env = append(os.Environ(), env...)
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.done = make(chan struct{})
	serving := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			n.mu.Lock()
			n.log.Write(line)
			n.log.WriteByte('\n')
			n.mu.Unlock()
			var rec struct{ Msg, Resp, HTTP string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "node serving" {
				select { // once more after a reopen: the same addresses
				case serving <- [2]string{rec.Resp, rec.HTTP}:
				default:
				}
			}
		}
	}()
	go func() {
		err := n.cmd.Wait()
		n.mu.Lock()
		n.exitErr = err
		n.mu.Unlock()
		close(n.done)
	}()
	n.t.Cleanup(func() { n.kill() })
	select {
	case addrs := <-serving:
		n.resp, n.http = addrs[0], addrs[1]
	case <-n.done:
		n.t.Fatalf("pando exited before serving: %v\n%s", n.exitErr, n.logs())
	case <-time.After(30 * time.Second):
		n.t.Fatalf("pando did not start serving within 30s\n%s", n.logs())
	}
}

func (n *node) logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// kill sends SIGKILL and waits for the process to go.
func (n *node) kill() {
	if n.cmd.Process == nil {
		return
	}
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// stop sends SIGTERM and requires a clean exit.
func (n *node) stop() {
	n.t.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		n.t.Fatalf("pando did not stop within 30s of SIGTERM\n%s", n.logs())
	}
	if n.exitErr != nil {
		n.t.Fatalf("pando exited with %v after SIGTERM\n%s", n.exitErr, n.logs())
	}
}

// restart starts the node again on the same data directory.
func (n *node) restart() {
	n.t.Helper()
	n.mu.Lock()
	n.log.Reset()
	n.mu.Unlock()
	n.start(nil)
}

func (n *node) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: n.resp, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// nsClient is client whose connections use namespace ns.
func (n *node) nsClient(t *testing.T, ns string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: n.resp, MaxRetries: -1, OnConnect: func(ctx context.Context, cn *redis.Conn) error {
		return cn.Do(ctx, "NAMESPACE", ns).Err()
	}})
	t.Cleanup(func() { c.Close() })
	return c
}

// run executes the pando binary with args and returns its combined output
// and exit error.
func run(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pandoBin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// needTool skips the test when an external client is not installed.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (.ci/run installs it: apt-get install -y redis-tools)", name)
	}
	return p
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(t *testing.T, s, want string) {
	t.Helper()
	if !strings.Contains(s, want) {
		t.Fatalf("output lacks %q:\n%s", want, s)
	}
}

// metric returns the value of the sample named exactly sample (with its
// labels, if any) on n's /metrics page, or "" if there is none.
func (n *node) metric(t *testing.T, sample string) string {
	t.Helper()
	for _, l := range n.metrics(t) {
		if name, value, ok := strings.Cut(l, " "); ok && name == sample {
			return value
		}
	}
	return ""
}

// metricSum adds up every sample of the metric called name, whatever its
// labels.
func (n *node) metricSum(t *testing.T, name string) float64 {
	t.Helper()
	sum := 0.0
	for _, l := range n.metrics(t) {
		sample, value, ok := strings.Cut(l, " ")
		if !ok || (sample != name && !strings.HasPrefix(sample, name+"{")) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric %s: %v", sample, err)
		}
		sum += v
	}
	return sum
}

// metrics returns the lines of n's /metrics page.
func (n *node) metrics(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get("http://" + n.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return strings.Split(readAll(t, resp.Body), "\n")
}
