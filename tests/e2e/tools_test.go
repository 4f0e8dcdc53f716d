package e2e

import (
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func redisCLI(t *testing.T, n *node, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(n.resp, ":")
	all := append([]string{"-h", host, "-p", port}, args...)
	out, err := exec.Command(needTool(t, "redis-cli"), all...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestRedisCLI(t *testing.T) {
	needTool(t, "redis-cli")
	n := startNode(t, t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ping"}, "PONG"},
		{[]string{"set", "hello", "world"}, "OK"},
		{[]string{"get", "hello"}, "world"},
		{[]string{"set", "t", "x", "ex", "100"}, "OK"},
		{[]string{"ttl", "t"}, "100"},
		{[]string{"get", "missing"}, ""},
		{[]string{"dbsize"}, "2"},
		{[]string{"frobnicate"}, "ERR unknown command 'frobnicate', with args beginning with:"},
	} {
		if got := redisCLI(t, n, tc.args...); got != tc.want {
			t.Errorf("redis-cli %v: got %q, want %q", tc.args, got, tc.want)
		}
	}
	// --scan walks SCAN cursors to the end.
	for i := range 50 {
		redisCLI(t, n, "set", "scan:"+strconv.Itoa(i), "v")
	}
	keys := strings.Fields(redisCLI(t, n, "--scan", "--pattern", "scan:*"))
	sort.Strings(keys)
	if len(keys) != 50 || keys[0] != "scan:0" {
		t.Fatalf("redis-cli --scan found %d keys: %v", len(keys), keys)
	}
	// Piped commands, as in "cat commands.txt | redis-cli".
	cmd := exec.Command(needTool(t, "redis-cli"), "-p", strings.Split(n.resp, ":")[1])
	cmd.Stdin = strings.NewReader("SET piped 1\nGET piped\n")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "OK\n1" {
		t.Fatalf("piped redis-cli: %v %q", err, out)
	}
}

func TestRedisBenchmarkRuns(t *testing.T) {
	bench := needTool(t, "redis-benchmark")
	n := startNode(t, t.TempDir())
	host, port, _ := strings.Cut(n.resp, ":")
	for _, extra := range [][]string{nil, {"-P", "16"}} {
		args := append([]string{"-h", host, "-p", port, "-t", "set,get", "-n", "5000", "-c", "8", "-r", "1000", "-q"}, extra...)
		out, err := exec.Command(bench, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-benchmark %v: %v\n%s", extra, err, out)
		}
		text := strings.ReplaceAll(string(out), "\r", "\n")
		for _, op := range []string{"SET", "GET"} {
			if !regexp.MustCompile(`(?m)^` + op + `: [0-9.]+ requests per second`).MatchString(text) {
				t.Fatalf("redis-benchmark %v printed no %s result:\n%s", extra, op, text)
			}
		}
		if strings.Contains(text, "ERR") || strings.Contains(text, "rror") {
			t.Fatalf("redis-benchmark %v reported errors:\n%s", extra, text)
		}
	}
	if got := redisCLI(t, n, "exists", "key:__rand_int__"); got != "0" {
		t.Fatalf("benchmark keys not expanded: %q", got)
	}
}

// redis-benchmark in cluster mode reads CLUSTER NODES and sends each key to
// the master of its slot.
func TestRedisBenchmarkClusterMode(t *testing.T) {
	bench := needTool(t, "redis-benchmark")
	nodes := startCluster(t, 3)
	host, port, _ := strings.Cut(nodes[0].resp, ":")
	out, err := exec.Command(bench, "-h", host, "-p", port, "--cluster", "-t", "set,get", "-n", "3000", "-c", "8", "-r", "1000", "-q").CombinedOutput()
	text := strings.ReplaceAll(string(out), "\r", "\n")
	if err != nil {
		t.Fatalf("redis-benchmark --cluster: %v\n%s", err, text)
	}
	if !strings.Contains(text, "Cluster has 3 master nodes") {
		t.Fatalf("redis-benchmark did not see three masters:\n%s", text)
	}
	for _, op := range []string{"SET", "GET"} {
		if !regexp.MustCompile(`(?m)^ ?` + op + `: [0-9.]+ requests per second`).MatchString(text) {
			t.Fatalf("redis-benchmark --cluster printed no %s result:\n%s", op, text)
		}
	}
}
