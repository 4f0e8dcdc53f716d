package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/redis/go-redis/v9"
)

var ctx = context.Background()

// TestEveryRedisCommand drives each command of the Redis front end once
// through go-redis against the real binary.
func TestEveryRedisCommand(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := n.client(t)
	type step struct {
		args []any
		want any // expected reply; error replies are strings starting "ERR:"
	}
	ms := func(s string) any { return "ERR:" + s }
	steps := []step{
		{[]any{"ping"}, "PONG"},
		{[]any{"echo", "hi"}, "hi"},
		{[]any{"hello", "2"}, []any{"server", "pando"}},
		{[]any{"select", "0"}, "OK"},
		{[]any{"set", "k", "v"}, "OK"},
		{[]any{"get", "k"}, "v"},
		{[]any{"set", "k", "v2", "xx", "get"}, "v"},
		{[]any{"set", "n", "1", "nx", "px", "60000"}, "OK"},
		{[]any{"ttl", "n"}, int64(60)}, // seconds round to nearest: robust to the real clock
		{[]any{"setnx", "k", "x"}, int64(0)},
		{[]any{"getdel", "k"}, "v2"},
		{[]any{"mset", "a", "1", "b", "2"}, "OK"},
		{[]any{"mget", "a", "zz", "b"}, []any{"1", nil, "2"}},
		{[]any{"exists", "a", "b", "zz"}, int64(2)},
		{[]any{"type", "a"}, "string"},
		{[]any{"expire", "a", "100"}, int64(1)},
		{[]any{"ttl", "a"}, int64(100)},
		{[]any{"pexpire", "a", "5000"}, int64(1)},
		{[]any{"persist", "a"}, int64(1)},
		{[]any{"ttl", "a"}, int64(-1)},
		{[]any{"del", "a", "b", "zz"}, int64(2)},
		{[]any{"dbsize"}, int64(1)},
		{[]any{"scan", "0", "match", "n*", "count", "100"}, []any{"0", []any{"n"}}},
		{[]any{"config", "get", "appendfsync"}, []any{"appendfsync", "always"}},
		{[]any{"client", "setname", "e2e"}, "OK"},
		{[]any{"client", "getname"}, "e2e"},
		{[]any{"client", "setinfo", "lib-ver", "1"}, "OK"},
		{[]any{"nosuchcommand", "x"}, ms("ERR unknown command 'nosuchcommand', with args beginning with: 'x' ")},
		{[]any{"get"}, ms("ERR wrong number of arguments for 'get' command")},
		{[]any{"set", "k", "v", "ex", "-1"}, ms("ERR invalid expire time in 'set' command")},
	}
	for _, s := range steps {
		got, err := c.Do(ctx, s.args...).Result()
		if err != nil && err != redis.Nil {
			got = "ERR:" + err.Error()
		}
		if want, ok := s.want.([]any); ok && len(want) == 2 && want[0] == "server" {
			// HELLO: check the head of the reply only.
			g, _ := got.([]any)
			if len(g) < 2 || g[0] != "server" || g[1] != "pando" {
				t.Fatalf("%v: %v", s.args, got)
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Fatalf("%v: got %#v, want %#v", s.args, got, s.want)
		}
	}
	for _, sub := range [][]any{{"command", "count"}, {"command", "docs", "get"}, {"info"}, {"info", "keyspace"}} {
		if _, err := c.Do(ctx, sub...).Result(); err != nil {
			t.Fatalf("%v: %v", sub, err)
		}
	}
	if _, err := c.Do(ctx, "quit").Result(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
}

func TestHTTPAPI(t *testing.T) {
	n := startNode(t, t.TempDir(), "--max-value-size", "1KiB")
	base := "http://" + n.http
	req := func(method, path string, body []byte) (int, string) {
		t.Helper()
		r, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, readAll(t, resp.Body)
	}
	if code, _ := req("PUT", "/v1/kv/greeting", []byte("hello")); code != 204 {
		t.Fatalf("PUT: %d", code)
	}
	if code, body := req("GET", "/v1/kv/greeting", nil); code != 200 || body != "hello" {
		t.Fatalf("GET: %d %q", code, body)
	}
	// Written over HTTP, read over the Redis protocol.
	if v, err := n.client(t).Get(ctx, "greeting").Result(); err != nil || v != "hello" {
		t.Fatalf("GET over RESP: %q %v", v, err)
	}
	code, body := req("PUT", "/v1/kv/big", bytes.Repeat([]byte("x"), 2000))
	if code != 413 || !strings.Contains(body, `"code": "value_too_large"`) {
		t.Fatalf("oversized PUT: %d %s", code, body)
	}
	if code, body := req("GET", "/v1/kv?prefix=gr", nil); code != 200 || !strings.Contains(body, `"greeting"`) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, _ := req("DELETE", "/v1/kv/greeting", nil); code != 204 {
		t.Fatalf("DELETE: %d", code)
	}
	if code, body := req("GET", "/v1/kv/greeting", nil); code != 404 || !strings.Contains(body, `"not_found"`) {
		t.Fatalf("GET after DELETE: %d %s", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := req("GET", p, nil); code != 200 {
			t.Fatalf("%s: %d", p, code)
		}
	}
	_, metrics := req("GET", "/metrics", nil)
	for _, want := range []string{"pando_requests_total", "pando_storage_sync_seconds", "pando_storage_wal_fsync_seconds", "pando_build_info"} {
		contains(t, metrics, want)
	}
}

func TestLimitsOverRESP(t *testing.T) {
	n := startNode(t, t.TempDir(), "--max-key-size", "100", "--max-value-size", "1KiB")
	c := redis.NewClient(&redis.Options{Addr: n.resp, PoolSize: 1, MaxRetries: -1})
	defer c.Close()
	err := c.Set(ctx, "k", strings.Repeat("v", 4<<20), 0).Err()
	if err == nil || err.Error() != "ERR value too large: 4194304 bytes, the limit is 1024" {
		t.Fatalf("4 MiB value: %v", err)
	}
	err = c.Set(ctx, strings.Repeat("k", 101), "v", 0).Err()
	if err == nil || err.Error() != "ERR key too large: 101 bytes, the limit is 100" {
		t.Fatalf("101-byte key: %v", err)
	}
	if err := c.Set(ctx, "k", "fits", 0).Err(); err != nil {
		t.Fatalf("the same connection after refusals: %v", err)
	}
}

// TestSettingsPrecedence checks flag over environment over config file, with
// the value limit as the witness (CONFIG GET proto-max-bulk-len reports it).
func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pando.yaml")
	if err := os.WriteFile(cfg, []byte("max-value-size: 1KiB\nreap-interval: 2s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	limit := func(n *node) string {
		t.Helper()
		v, err := n.client(t).ConfigGet(ctx, "proto-max-bulk-len").Result()
		if err != nil {
			t.Fatal(err)
		}
		return v["proto-max-bulk-len"]
	}
	n := startNode(t, filepath.Join(dir, "a"), "--config", cfg)
	if got := limit(n); got != "1024" {
		t.Fatalf("from file: %s", got)
	}
	n.stop()
	n.start([]string{"PANDO_MAX_VALUE_SIZE=2KiB"})
	if got := limit(n); got != "2048" {
		t.Fatalf("env over file: %s", got)
	}
	n.stop()
	n2 := startNode(t, filepath.Join(dir, "b"), "--config", cfg, "--max-value-size", "3KiB")
	if got := limit(n2); got != "3072" {
		t.Fatalf("flag over file: %s", got)
	}
	n2.stop()

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("max-valu-size: 1KiB\n"), 0o644)
	out, err := run(t, nil, "server", "--config", bad, "--data-dir", filepath.Join(dir, "c"))
	if err == nil || !strings.Contains(out, `unknown setting "max-valu-size"`) {
		t.Fatalf("misspelt setting: %v\n%s", err, out)
	}
	out, err = run(t, []string{"PANDO_MAX_KEY_SIZE=lots"}, "server", "--data-dir", filepath.Join(dir, "c"))
	if err == nil || !strings.Contains(out, "PANDO_MAX_KEY_SIZE") || !strings.Contains(out, "not a size") {
		t.Fatalf("bad environment value: %v\n%s", err, out)
	}
	out, err = run(t, nil, "server", "--data-dir", filepath.Join(dir, "c"), "--resp-addr", "nonsense")
	if err == nil || !strings.Contains(out, `resp addr "nonsense"`) {
		t.Fatalf("bad address: %v\n%s", err, out)
	}
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	c := n.client(t)
	if err := c.Set(ctx, "kept", "yes", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	n.stop()
	n.restart()
	c = n.client(t)
	if v, err := c.Get(ctx, "kept").Result(); err != nil || v != "yes" {
		t.Fatalf("after restart: %q %v", v, err)
	}
	if ttl, _ := c.TTL(ctx, "kept").Result(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL after restart: %v", ttl)
	}
}

// TestCrashLosesNoAcknowledgedWrite writes from several clients (single
// SETs, pipelined SETs and MSETs), records every acknowledged write, kills
// the server with SIGKILL in mid-stream, restarts it and checks that every
// acknowledged key holds its value. Three rounds, on the same directory.
func TestCrashLosesNoAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	acked := sync.Map{} // key -> value
	var total atomic.Int64
	for round := range 3 {
		c := redis.NewClient(&redis.Options{Addr: n.resp, PoolSize: 16, MaxRetries: -1})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					key := func(j int) string { return fmt.Sprintf("r%d-w%d-%d-%d", round, w, i, j) }
					val := func(j int) string { return fmt.Sprintf("value-%d-%d-%d-%d", round, w, i, j) }
					switch w % 3 {
					case 0:
						if c.Set(ctx, key(0), val(0), 0).Err() == nil {
							acked.Store(key(0), val(0))
							total.Add(1)
						}
					case 1:
						pipe := c.Pipeline()
						cmds := make([]*redis.StatusCmd, 8)
						for j := range cmds {
							cmds[j] = pipe.Set(ctx, key(j), val(j), 0)
						}
						_, _ = pipe.Exec(ctx)
						for j, cmd := range cmds {
							if cmd.Err() == nil {
								acked.Store(key(j), val(j))
								total.Add(1)
							}
						}
					case 2:
						if c.MSet(ctx, key(0), val(0), key(1), val(1)).Err() == nil {
							acked.Store(key(0), val(0))
							acked.Store(key(1), val(1))
							total.Add(2)
						}
					}
				}
			}()
		}
		// Kill once this round has had writes acknowledged, mid-stream.
		target := total.Load() + 1500
		deadline := time.Now().Add(30 * time.Second)
		for total.Load() < target && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond) // polling a counter; the kill itself is the event under test
		}
		n.kill()
		close(stop)
		wg.Wait()
		c.Close()
		n.restart()
	}
	c := n.client(t)
	missing, checked := 0, 0
	acked.Range(func(k, v any) bool {
		got, err := c.Get(ctx, k.(string)).Result()
		checked++
		if err != nil || got != v.(string) {
			missing++
			if missing < 10 {
				t.Errorf("acknowledged %s=%s, after crash: %q %v", k, v, got, err)
			}
		}
		return true
	})
	t.Logf("%d acknowledged writes over 3 SIGKILLs, %d missing", checked, missing)
	if checked < 4500 {
		t.Fatalf("only %d writes acknowledged; the test did not exercise the crash", checked)
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, checked)
	}
}

func TestNewerFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	n.stop()
	eng, err := storage.Open(storage.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b := eng.NewBatch()
	b.Set(storage.MetaKey("format"), []byte{storage.FormatVersion + 1})
	if err := eng.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	eng.Close()
	out, err := run(t, nil, "server", "--data-dir", dir, "--resp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	if err == nil {
		t.Fatal("pando started on a directory of a newer format")
	}
	contains(t, out, "newer than this binary supports")
	contains(t, out, fmt.Sprintf("has format %d, this binary reads up to %d", storage.FormatVersion+1, storage.FormatVersion))
}

// devRun is a `pando dev` process started by startDev, serving.
type devRun struct {
	cmd            *exec.Cmd
	ports          []int // four runs of three: dev gives node i base+i
	stdout, stderr testutil.Buffer
	exited         chan error
}

func (d *devRun) base(k int) string { return fmt.Sprint(d.ports[3*k]) }

// startDev runs `pando dev` with extra flags on free ports under a
// temporary directory and waits for its banner.
func startDev(t *testing.T, extra ...string) *devRun {
	t.Helper()
	d := &devRun{ports: freePorts(t, 12), exited: make(chan error, 1)}
	args := append([]string{"dev", "--data-dir", filepath.Join(t.TempDir(), "dev"),
		"--resp-port", d.base(0), "--http-port", d.base(1), "--cluster-port", d.base(2), "--gossip-port", d.base(3)}, extra...)
	d.cmd = exec.Command(pandoBin, args...)
	d.cmd.Stdout, d.cmd.Stderr = &d.stdout, &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() { _ = d.cmd.Process.Kill() })
	deadline := time.After(60 * time.Second)
	for !strings.Contains(d.stdout.String(), "Press Ctrl-C to stop.") {
		select {
		case err := <-d.exited:
			t.Fatalf("dev exited early (%v): %s %s", err, d.stdout.String(), d.stderr.String())
		case <-deadline:
			t.Fatalf("no banner within 60s: %s %s", d.stdout.String(), d.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return d
}

// stop stops dev with Ctrl-C, as a user does, and requires a clean exit
// (it stops its nodes, which run in process groups of their own).
func (d *devRun) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("dev did not exit cleanly on Ctrl-C: %v\n%s", err, d.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop within 30s of Ctrl-C")
	}
}

func TestDevCommand(t *testing.T) {
	d := startDev(t)
	ports, base, stdout := d.ports, d.base, &d.stdout
	text := stdout.String()
	contains(t, text, "a local cluster of 3 nodes")
	n1 := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + base(0)})
	defer n1.Close()
	n3 := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", ports[2])})
	defer n3.Close()
	if err := n1.Set(ctx, "hello", "world", 0).Err(); err != nil {
		t.Fatalf("write through n1: %v", err)
	}
	if v, err := n3.Get(ctx, "hello").Result(); err != nil || v != "world" {
		t.Fatalf("read through n3: %q %v", v, err)
	}
	d.stop(t)
	contains(t, stdout.String(), "Stopped cleanly.")
}

// freePorts finds n free TCP ports on 127.0.0.1 in runs of three
// consecutive ports (as dev's per-node ports need), in 20000-28500: below
// the kernel's ephemeral ports and apart from the verifier's fixed ones.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for start := 20000 + (os.Getpid()%800)*10; len(out) < n && start < 28500; start += 3 {
		ok := true
		for p := start; p < start+3; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			out = append(out, start, start+1, start+2)
		}
	}
	if len(out) < n {
		t.Fatal("no free ports")
	}
	return out
}

func TestVersionCommand(t *testing.T) {
	out, err := run(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "pando ") {
		t.Fatalf("version: %v %q", err, out)
	}
}

// TestRecordCacheServesReads checks the record cache is wired in by default
// and that --record-cache-size 0 turns it off.
func TestRecordCacheServesReads(t *testing.T) {
	lookups := func(n *node) string {
		t.Helper()
		return n.metric(t, `pando_record_cache_lookups_total{result="hit"}`)
	}
	for _, tc := range []struct {
		args     []string
		wantHits string
	}{{nil, "10"}, {[]string{"--record-cache-size", "0"}, "0"}} {
		n := startNode(t, t.TempDir(), tc.args...)
		c := n.client(t)
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
				t.Fatalf("GET: %q %v", v, err)
			}
		}
		if got := lookups(n); got != tc.wantHits {
			t.Fatalf("%v: %s cache hits after 10 GETs of a written key, want %s", tc.args, got, tc.wantHits)
		}
	}
}
