package e2e

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientsNobodyHereWrote runs redis-py (Debian's python3-redis) and
// ioredis (npm, pinned in tests/compat/package.json) against a three-node
// cluster: strings, expiry, SCAN, a pipeline, a transaction that must be
// refused with nothing applied, and a cluster client that must carry on
// when a node is killed halfway. .ci/run installs both clients.
func TestClientsNobodyHereWrote(t *testing.T) {
	compat, err := filepath.Abs("../compat")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cmd  func(addrs string) *exec.Cmd
		need func() string // why the client is missing, or ""
	}{
		{"redis-py", func(addrs string) *exec.Cmd {
			return exec.Command("/usr/bin/python3", filepath.Join(compat, "compat.py"), addrs)
		}, func() string {
			if exec.Command("/usr/bin/python3", "-c", "import redis").Run() != nil {
				return "redis-py is not installed (.ci/run installs it: apt-get install -y python3-redis)"
			}
			return ""
		}},
		{"ioredis", func(addrs string) *exec.Cmd {
			c := exec.Command("node", "compat.js", addrs)
			c.Dir = compat
			return c
		}, func() string {
			if _, err := exec.LookPath("node"); err != nil {
				return "node is not installed (.ci/run installs it: apt-get install -y nodejs npm)"
			}
			if _, err := os.Stat(filepath.Join(compat, "node_modules", "ioredis")); err != nil {
				return "ioredis is not installed (.ci/run installs it: npm ci in tests/compat)"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if why := tc.need(); why != "" {
				t.Skip(why)
			}
			nodes := startCluster(t, 3)
			var addrs []string
			for _, n := range nodes {
				addrs = append(addrs, n.resp)
			}
			cmd := tc.cmd(strings.Join(addrs, ","))
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = cmd.Stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			lines := make(chan string)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var out []string
			timeout := time.After(3 * time.Minute)
			for done := false; !done; {
				select {
				case l, ok := <-lines:
					if !ok {
						done = true
						break
					}
					out = append(out, l)
					if l == "KILL?" {
						nodes[1].kill()
						_, _ = io.WriteString(stdin, "killed\n")
					}
				case <-timeout:
					t.Fatalf("%s did not finish within 3 minutes:\n%s", tc.name, strings.Join(out, "\n"))
				}
			}
			if err := cmd.Wait(); err != nil || len(out) == 0 || out[len(out)-1] != "OK" {
				t.Fatalf("%s: %v\n%s", tc.name, err, strings.Join(out, "\n"))
			}
		})
	}
}
