package resp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/api/resp"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/coordinator"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"github.com/redis/go-redis/v9"
)

var ctx = context.Background()

type testServer struct {
	addr  string
	clock *clock.Manual
	srv   *resp.Server
}

// start runs a RESP server over real Pebble storage in a temporary directory,
// with a manual clock.
func start(t *testing.T, limits api.Limits) *testServer {
	t.Helper()
	return startKV(t, limits, func(store *replica.Store, _ *storage.Engine) *coordinator.Coordinator {
		return coordinator.Local(store, metadata.Namespace{Name: "users", N: 1, Model: metadata.Eventual, Type: metadata.Bytes})
	})
}

// startKV is start with the coordinator newKV builds on the node's store.
func startKV(t *testing.T, limits api.Limits, newKV func(*replica.Store, *storage.Engine) *coordinator.Coordinator) *testServer {
	t.Helper()
	return startWith(t, limits, newKV, nil)
}

// startWith is startKV with the server's configuration changed by set.
func startWith(t *testing.T, limits api.Limits, newKV func(*replica.Store, *storage.Engine) *coordinator.Coordinator, set func(*resp.Config)) *testServer {
	t.Helper()
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	store, err := replica.New(replica.Config{Engine: eng, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	kv := newKV(store, eng)
	cfg := resp.Config{KV: kv, Catalog: coordinator.Catalog{Meta: kv.Meta()}, Limits: limits, Clock: clk, Version: "test"}
	if set != nil {
		set(&cfg)
	}
	srv, err := resp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, resp.ErrServerClosed) {
			t.Errorf("serve returned %v", err)
		}
		eng.Close()
	})
	return &testServer{addr: ln.Addr().String(), clock: clk, srv: srv}
}

func (ts *testServer) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: ts.addr, PoolSize: 1, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// raw opens a plain TCP connection for protocol-level tests.
func (ts *testServer) raw(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return nc, bufio.NewReader(nc)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading reply: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantErr(t *testing.T, err error, prefix string) {
	t.Helper()
	if err == nil || !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("got error %v, want one starting %q", err, prefix)
	}
}

func TestStringCommands(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	c := ts.client(t)
	if got := must[string](t)(c.Set(ctx, "k", "v1", 0).Result()); got != "OK" {
		t.Fatalf("SET: %q", got)
	}
	if got := must[string](t)(c.Get(ctx, "k").Result()); got != "v1" {
		t.Fatalf("GET: %q", got)
	}
	if _, err := c.Get(ctx, "missing").Result(); err != redis.Nil {
		t.Fatalf("GET missing: %v, want nil reply", err)
	}
	if ok := must[bool](t)(c.SetNX(ctx, "k", "other", 0).Result()); ok {
		t.Fatal("SETNX on an existing key succeeded")
	}
	if ok := must[bool](t)(c.SetNX(ctx, "fresh", "x", 0).Result()); !ok {
		t.Fatal("SETNX on a new key failed")
	}
	must[string](t)(c.MSet(ctx, "a", "1", "b", "2", "c", "3").Result())
	vals := must[[]any](t)(c.MGet(ctx, "a", "nope", "c").Result())
	if len(vals) != 3 || vals[0] != "1" || vals[1] != nil || vals[2] != "3" {
		t.Fatalf("MGET: %v", vals)
	}
	if n := must[int64](t)(c.Exists(ctx, "a", "b", "nope", "a").Result()); n != 3 {
		t.Fatalf("EXISTS counted %d, want 3 (duplicates count twice)", n)
	}
	if typ := must[string](t)(c.Type(ctx, "a").Result()); typ != "string" {
		t.Fatalf("TYPE a: %q", typ)
	}
	if typ := must[string](t)(c.Type(ctx, "nope").Result()); typ != "none" {
		t.Fatalf("TYPE nope: %q", typ)
	}
	if v := must[string](t)(c.GetDel(ctx, "a").Result()); v != "1" {
		t.Fatalf("GETDEL: %q", v)
	}
	if _, err := c.GetDel(ctx, "a").Result(); err != redis.Nil {
		t.Fatalf("GETDEL of a deleted key: %v", err)
	}
	if n := must[int64](t)(c.Del(ctx, "b", "c", "nope").Result()); n != 2 {
		t.Fatalf("DEL counted %d, want 2", n)
	}
	// Binary-safe keys and values.
	bin := string([]byte{0, 1, 2, '\r', '\n', 0xff})
	must[string](t)(c.Set(ctx, bin, bin, 0).Result())
	if v := must[string](t)(c.Get(ctx, bin).Result()); v != bin {
		t.Fatalf("binary round trip: %q", v)
	}
}

func TestSetOptions(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	c := ts.client(t)
	now := ts.clock.Now()
	if _, err := c.SetArgs(ctx, "k", "v", redis.SetArgs{Mode: "XX"}).Result(); err != redis.Nil {
		t.Fatalf("SET XX on a missing key: %v, want nil", err)
	}
	must[string](t)(c.SetArgs(ctx, "k", "v1", redis.SetArgs{Mode: "NX"}).Result())
	if _, err := c.SetArgs(ctx, "k", "v2", redis.SetArgs{Mode: "NX"}).Result(); err != redis.Nil {
		t.Fatalf("SET NX on an existing key: %v, want nil", err)
	}
	if old := must[string](t)(c.SetArgs(ctx, "k", "v3", redis.SetArgs{Get: true}).Result()); old != "v1" {
		t.Fatalf("SET GET returned %q, want v1", old)
	}
	if _, err := c.SetArgs(ctx, "new", "x", redis.SetArgs{Get: true}).Result(); err != redis.Nil {
		t.Fatalf("SET GET on a new key: %v, want nil", err)
	}
	must[string](t)(c.SetArgs(ctx, "k", "v4", redis.SetArgs{TTL: 10 * time.Second}).Result())
	if ttl := must[time.Duration](t)(c.PTTL(ctx, "k").Result()); ttl != 10*time.Second {
		t.Fatalf("PTTL after SET EX 10: %v", ttl)
	}
	must[string](t)(c.SetArgs(ctx, "k", "v5", redis.SetArgs{KeepTTL: true}).Result())
	if ttl := must[time.Duration](t)(c.PTTL(ctx, "k").Result()); ttl != 10*time.Second {
		t.Fatalf("KEEPTTL lost the expiry: %v", ttl)
	}
	must[string](t)(c.SetArgs(ctx, "k", "v6", redis.SetArgs{ExpireAt: now.Add(time.Minute)}).Result())
	if ttl := must[time.Duration](t)(c.TTL(ctx, "k").Result()); ttl != time.Minute {
		t.Fatalf("TTL after EXAT now+60: %v", ttl)
	}
	must[string](t)(c.Set(ctx, "k", "v7", 0).Result())
	if ttl := must[time.Duration](t)(c.TTL(ctx, "k").Result()); ttl != -1 {
		t.Fatalf("plain SET kept an expiry: TTL %v", ttl)
	}
	for _, tc := range []struct {
		args []any
		want string
	}{
		{[]any{"set", "k", "v", "nx", "xx"}, "ERR syntax error"},
		{[]any{"set", "k", "v", "ex", "10", "px", "100"}, "ERR syntax error"},
		{[]any{"set", "k", "v", "ex", "0"}, "ERR invalid expire time in 'set' command"},
		{[]any{"set", "k", "v", "px", "-5"}, "ERR invalid expire time in 'set' command"},
		{[]any{"set", "k", "v", "ex", "ten"}, "ERR value is not an integer or out of range"},
		{[]any{"set", "k", "v", "ex"}, "ERR syntax error"},
		{[]any{"set", "k", "v", "ex", "9223372036854775"}, "ERR invalid expire time in 'set' command"},
		{[]any{"set", "k"}, "ERR wrong number of arguments for 'set' command"},
	} {
		_, err := c.Do(ctx, tc.args...).Result()
		wantErr(t, err, tc.want)
	}
	if v := must[string](t)(c.Get(ctx, "k").Result()); v != "v7" {
		t.Fatalf("a refused SET changed the value to %q", v)
	}
}

func TestExpiry(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	c := ts.client(t)
	must[string](t)(c.Set(ctx, "k", "v", 10*time.Second).Result())
	ts.clock.Advance(9500 * time.Millisecond)
	if ttl := must[time.Duration](t)(c.PTTL(ctx, "k").Result()); ttl != 500*time.Millisecond {
		t.Fatalf("PTTL: %v", ttl)
	}
	if ttl := must[time.Duration](t)(c.TTL(ctx, "k").Result()); ttl != time.Second {
		t.Fatalf("TTL rounds to the nearest second: got %v", ttl)
	}
	ts.clock.Advance(500 * time.Millisecond)
	if _, err := c.Get(ctx, "k").Result(); err != redis.Nil {
		t.Fatalf("GET at the expiry instant: %v, want nil", err)
	}
	if ttl := must[time.Duration](t)(c.TTL(ctx, "k").Result()); ttl != -2 {
		t.Fatalf("TTL of an expired key: %v, want -2", ttl)
	}
	if n := must[int64](t)(c.Exists(ctx, "k").Result()); n != 0 {
		t.Fatal("EXISTS counts an expired key")
	}

	must[string](t)(c.Set(ctx, "p", "v", 0).Result())
	if ok := must[bool](t)(c.Persist(ctx, "p").Result()); ok {
		t.Fatal("PERSIST of a key without expiry reported a change")
	}
	if ok := must[bool](t)(c.ExpireXX(ctx, "p", time.Minute).Result()); ok {
		t.Fatal("EXPIRE XX set an expiry on a key without one")
	}
	if ok := must[bool](t)(c.ExpireNX(ctx, "p", time.Minute).Result()); !ok {
		t.Fatal("EXPIRE NX failed on a key without expiry")
	}
	if ok := must[bool](t)(c.ExpireGT(ctx, "p", 30*time.Second).Result()); ok {
		t.Fatal("EXPIRE GT shortened the expiry")
	}
	if ok := must[bool](t)(c.ExpireLT(ctx, "p", 30*time.Second).Result()); !ok {
		t.Fatal("EXPIRE LT did not shorten the expiry")
	}
	if ok := must[bool](t)(c.PExpire(ctx, "p", 1500*time.Millisecond).Result()); !ok {
		t.Fatal("PEXPIRE failed")
	}
	if ttl := must[time.Duration](t)(c.PTTL(ctx, "p").Result()); ttl != 1500*time.Millisecond {
		t.Fatalf("PTTL after PEXPIRE: %v", ttl)
	}
	at := ts.clock.Now().Add(time.Hour)
	if ok := must[bool](t)(c.ExpireAt(ctx, "p", at).Result()); !ok {
		t.Fatal("EXPIREAT failed")
	}
	if ttl := must[time.Duration](t)(c.TTL(ctx, "p").Result()); ttl != time.Hour {
		t.Fatalf("TTL after EXPIREAT now+1h: %v", ttl)
	}
	if ok := must[bool](t)(c.Persist(ctx, "p").Result()); !ok {
		t.Fatal("PERSIST failed")
	}
	if ttl := must[time.Duration](t)(c.TTL(ctx, "p").Result()); ttl != -1 {
		t.Fatalf("TTL after PERSIST: %v", ttl)
	}
	if ok := must[bool](t)(c.Expire(ctx, "missing", time.Minute).Result()); ok {
		t.Fatal("EXPIRE of a missing key reported success")
	}
	// A non-positive timeout deletes the key, as in Redis.
	if ok := must[bool](t)(c.Expire(ctx, "p", -time.Second).Result()); !ok {
		t.Fatal("EXPIRE -1 did not apply")
	}
	if _, err := c.Get(ctx, "p").Result(); err != redis.Nil {
		t.Fatalf("key survived EXPIRE with a negative time: %v", err)
	}
	_, err := c.Do(ctx, "expire", "k", "10", "nx", "gt").Result()
	wantErr(t, err, "ERR NX and XX, GT or LT options at the same time are not compatible")
	_, err = c.Do(ctx, "expire", "k", "10", "sometimes").Result()
	wantErr(t, err, "ERR Unsupported option sometimes")
}

func TestScan(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	c := ts.client(t)
	want := map[string]bool{}
	pipe := c.Pipeline()
	for i := range 500 {
		k := fmt.Sprintf("user:%d", i)
		if i%5 == 0 {
			k = fmt.Sprintf("order:%d", i)
		} else {
			want[k] = true
		}
		pipe.Set(ctx, k, "v", 0)
	}
	must[[]redis.Cmder](t)(pipe.Exec(ctx))
	got := map[string]bool{}
	it := c.Scan(ctx, 0, "user:*", 37).Iterator()
	for it.Next(ctx) {
		if got[it.Val()] {
			t.Fatalf("SCAN returned %q twice", it.Val())
		}
		got[it.Val()] = true
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("SCAN MATCH user:* found %d keys, want %d", len(got), len(want))
	}
	for k := range got {
		if !want[k] {
			t.Fatalf("SCAN returned %q, which does not match", k)
		}
	}
	keys, _, err := c.ScanType(ctx, 0, "*", 1000, "hash").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("SCAN TYPE hash returned %d keys", len(keys))
	}
	_, err = c.Do(ctx, "scan", "notanumber").Result()
	wantErr(t, err, "ERR invalid cursor")
	_, err = c.Do(ctx, "scan", "0", "count", "0").Result()
	wantErr(t, err, "ERR syntax error")
	if n := must[int64](t)(c.DBSize(ctx).Result()); n != 500 {
		t.Fatalf("DBSIZE %d, want 500", n)
	}
	info := must[string](t)(c.Info(ctx, "keyspace").Result())
	if !strings.Contains(info, "db0:keys=500") {
		t.Fatalf("INFO keyspace: %q", info)
	}
}

func TestConnectionCommands(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	// Default go-redis asks for RESP3 with HELLO 3; the NOPROTO answer must
	// make it fall back to RESP2 and work.
	c := ts.client(t)
	if got := must[string](t)(c.Ping(ctx).Result()); got != "PONG" {
		t.Fatalf("PING: %q", got)
	}
	if got := must[any](t)(c.Do(ctx, "ping", "hi").Result()); got != "hi" {
		t.Fatalf("PING hi: %v", got)
	}
	if got := must[string](t)(c.Echo(ctx, "x y").Result()); got != "x y" {
		t.Fatalf("ECHO: %q", got)
	}
	_, err := c.Do(ctx, "hello", "3").Result()
	wantErr(t, err, "NOPROTO")
	hello := must[any](t)(c.Do(ctx, "hello", "2").Result())
	if fields, ok := hello.([]any); !ok || len(fields) != 14 || fields[0] != "server" || fields[1] != "pando" {
		t.Fatalf("HELLO 2: %v", hello)
	}
	must[string](t)(c.Do(ctx, "select", "0").Text())
	_, err = c.Do(ctx, "select", "9").Result()
	wantErr(t, err, "ERR DB index is out of range")
	must[string](t)(c.Do(ctx, "client", "setname", "worker-1").Text())
	if name := must[string](t)(c.ClientGetName(ctx).Result()); name != "worker-1" {
		t.Fatalf("CLIENT GETNAME: %q", name)
	}
	_, err = c.Do(ctx, "client", "setname", "has space").Result()
	wantErr(t, err, "ERR Client names cannot contain spaces")
	if id := must[int64](t)(c.ClientID(ctx).Result()); id < 1 {
		t.Fatalf("CLIENT ID: %d", id)
	}
	must[string](t)(c.Do(ctx, "client", "setinfo", "lib-name", "x").Text())
	_, err = c.Do(ctx, "client", "kill", "x").Result()
	wantErr(t, err, "ERR unknown subcommand 'kill'")

	// A RESP2 client works as well.
	c2 := redis.NewClient(&redis.Options{Addr: ts.addr, Protocol: 2})
	defer c2.Close()
	must[string](t)(c2.Set(ctx, "resp2", "ok", 0).Result())

	nc, r := ts.raw(t)
	fmt.Fprint(nc, "*1\r\n$4\r\nQUIT\r\n")
	if l := readLine(t, r); l != "+OK" {
		t.Fatalf("QUIT: %q", l)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open after QUIT: %v", err)
	}
}

func TestIntrospection(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	c := ts.client(t)
	cfg := must[map[string]string](t)(c.ConfigGet(ctx, "appendonly").Result())
	if cfg["appendonly"] != "yes" {
		t.Fatalf("CONFIG GET appendonly: %v", cfg)
	}
	cfg = must[map[string]string](t)(c.ConfigGet(ctx, "*").Result())
	if _, ok := cfg["save"]; !ok || cfg["appendfsync"] != "always" {
		t.Fatalf("CONFIG GET *: %v", cfg)
	}
	_, err := c.ConfigSet(ctx, "save", "").Result()
	wantErr(t, err, "ERR CONFIG SET is not supported")
	n := must[int64](t)(c.Do(ctx, "command", "count").Int64())
	if n < 25 {
		t.Fatalf("COMMAND COUNT %d", n)
	}
	info := must[map[string]*redis.CommandInfo](t)(c.Command(ctx).Result())
	if g := info["get"]; g == nil || g.Arity != 2 || !slices.Contains(g.Flags, "readonly") || g.FirstKeyPos != 1 {
		t.Fatalf("COMMAND entry for get: %+v", g)
	}
	if len(info) != int(n) {
		t.Fatalf("COMMAND lists %d commands, COMMAND COUNT says %d", len(info), n)
	}
	docs := must[[]any](t)(c.Do(ctx, "command", "docs", "get", "nosuch").Slice())
	if len(docs) != 2 || docs[0] != "get" {
		t.Fatalf("COMMAND DOCS get: %v", docs)
	}
	server := must[string](t)(c.Info(ctx, "server").Result())
	for _, want := range []string{"# Server", "redis_version:", "pando_version:test", "tcp_port:"} {
		if !strings.Contains(server, want) {
			t.Fatalf("INFO server lacks %q:\n%s", want, server)
		}
	}
	if strings.Contains(server, "# Keyspace") {
		t.Fatal("INFO server includes other sections")
	}
	all := must[string](t)(c.Info(ctx).Result())
	for _, want := range []string{"# Server", "# Clients", "# Stats", "# Keyspace"} {
		if !strings.Contains(all, want) {
			t.Fatalf("INFO lacks %q", want)
		}
	}
}

// TestErrorsKeepConnectionUsable sends bad commands on one connection and
// checks each gets its specific error and the connection goes on working.
func TestErrorsKeepConnectionUsable(t *testing.T) {
	ts := start(t, api.Limits{MaxKeyBytes: 16, MaxValueBytes: 64})
	c := ts.client(t)
	for _, tc := range []struct {
		args []any
		want string
	}{
		{[]any{"frobnicate"}, "ERR unknown command 'frobnicate', with args beginning with: "},
		{[]any{"flushall"}, "ERR not supported: this node cannot empty namespaces"},
		{[]any{"lpush", "l", "v"}, "ERR unknown command 'lpush', with args beginning with: 'l' 'v' "},
		{[]any{"hset", "h", "f", "v"}, "WRONGTYPE Operation against a key holding the wrong kind of value: namespace 'default' holds plain values"},
		{[]any{"hset", "h", "f"}, "ERR wrong number of arguments for 'hset' command"},
		{[]any{"get"}, "ERR wrong number of arguments for 'get' command"},
		{[]any{"get", "a", "b"}, "ERR wrong number of arguments for 'get' command"},
		{[]any{"mset", "a", "1", "b"}, "ERR wrong number of arguments for 'mset' command"},
		{[]any{"expire", "k", "soon"}, "ERR value is not an integer or out of range"},
		{[]any{"get", strings.Repeat("k", 17)}, "ERR key too large: 17 bytes, the limit is 16"},
		{[]any{"set", "k", strings.Repeat("v", 65)}, "ERR value too large: 65 bytes, the limit is 64"},
		{[]any{"mset", "a", "1", "b", strings.Repeat("v", 65)}, "ERR value too large"},
		{[]any{"get", ""}, "ERR empty key"},
	} {
		_, err := c.Do(ctx, tc.args...).Result()
		if err == nil || err.Error() != tc.want && !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
		if got := must[string](t)(c.Ping(ctx).Result()); got != "PONG" {
			t.Fatalf("connection unusable after %v", tc.args)
		}
	}
	if n := must[int64](t)(c.DBSize(ctx).Result()); n != 0 {
		t.Fatalf("refused writes stored %d keys", n)
	}
}

// TestOversizedBulkIsSkipped declares a value far above the limit: the server
// answers with the limit error without buffering it, and the same connection
// serves the next command.
func TestOversizedBulkIsSkipped(t *testing.T) {
	ts := start(t, api.Limits{MaxKeyBytes: 64, MaxValueBytes: 1024})
	nc, r := ts.raw(t)
	const size = 8 << 20
	go func() {
		w := bufio.NewWriter(nc)
		fmt.Fprintf(w, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n", size)
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			w.Write(chunk)
		}
		w.WriteString("\r\n*1\r\n$4\r\nPING\r\n")
		w.Flush()
	}()
	if l := readLine(t, r); l != fmt.Sprintf("-ERR value too large: %d bytes, the limit is 1024", size) {
		t.Fatalf("oversized SET: %q", l)
	}
	if l := readLine(t, r); l != "+PONG" {
		t.Fatalf("next command after the skipped bulk: %q", l)
	}
	c := ts.client(t)
	if _, err := c.Get(ctx, "k").Result(); err != redis.Nil {
		t.Fatalf("oversized value was stored: %v", err)
	}
}

func TestProtocolErrorClosesOnlyThatConnection(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	good := ts.client(t)
	must[string](t)(good.Set(ctx, "k", "v", 0).Result())
	for _, bad := range []string{
		"*1\r\n$x\r\n",
		"*2\r\n$3\r\nGET\r\n:1\r\n",
		"*1\r\n$-7\r\n",
		"*99999999\r\n",
		"*1\r\n$4\r\nPINGxx",
		"set k \"unbalanced\r\n",
	} {
		nc, r := ts.raw(t)
		fmt.Fprint(nc, bad)
		if l := readLine(t, r); !strings.HasPrefix(l, "-ERR Protocol error: ") {
			t.Errorf("%q: got %q", bad, l)
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Errorf("%q: connection not closed: %v", bad, err)
		}
		if v := must[string](t)(good.Get(ctx, "k").Result()); v != "v" {
			t.Fatal("other connection broken")
		}
	}
}

func TestInlineCommands(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	nc, r := ts.raw(t)
	fmt.Fprint(nc, "SET greeting \"hello world\"\r\nGET greeting\r\nPING\r\n")
	for _, want := range []string{"+OK", "$11", "hello world", "+PONG"} {
		if l := readLine(t, r); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
}

// TestPipelinedSetsKeepOrder checks that coalesced SETs answer in order,
// that a read in the same pipeline sees the writes before it, and that one
// refused SET does not take its neighbours down.
func TestPipelinedSetsKeepOrder(t *testing.T) {
	ts := start(t, api.Limits{MaxKeyBytes: 64, MaxValueBytes: 8})
	c := ts.client(t)
	pipe := c.Pipeline()
	s1 := pipe.Set(ctx, "a", "1", 0)
	s2 := pipe.Set(ctx, "a", "2", 0)
	g1 := pipe.Get(ctx, "a")
	s3 := pipe.Set(ctx, "b", "toolongvalue", 0)
	s4 := pipe.Set(ctx, "c", "3", 0)
	s5 := pipe.Set(ctx, "a", "4", 0)
	g2 := pipe.MGet(ctx, "a", "b", "c")
	_, _ = pipe.Exec(ctx)
	for i, s := range []*redis.StatusCmd{s1, s2, s4, s5} {
		if s.Val() != "OK" {
			t.Fatalf("pipelined SET %d: %v", i, s.Err())
		}
	}
	if g1.Val() != "2" {
		t.Fatalf("GET inside the pipeline saw %q, want 2", g1.Val())
	}
	wantErr(t, s3.Err(), "ERR value too large")
	if v := g2.Val(); len(v) != 3 || v[0] != "4" || v[1] != nil || v[2] != "3" {
		t.Fatalf("MGET after the pipeline: %v", v)
	}
}

// TestRepliesFlowWhileAPipelineRuns: a client that streams commands
// faster than they run (redis-cli --pipe) hears back as it goes, not only
// once its input pauses or 64 KiB of replies pile up. Each DEL of a key
// that exists commits durably, so the stream takes seconds; the first
// reply must arrive while most of it is still to run.
func TestRepliesFlowWhileAPipelineRuns(t *testing.T) {
	ts := start(t, api.Limits{MaxKeyBytes: 64, MaxValueBytes: 64})
	const n = 3000
	pipe := ts.client(t).Pipeline()
	for i := range n {
		pipe.Set(ctx, fmt.Sprint("k", i), "v", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	info := ts.client(t)
	executed := func() int {
		s := must[string](t)(info.Info(ctx, "stats").Result())
		for _, l := range strings.Split(s, "\r\n") {
			if v, ok := strings.CutPrefix(l, "total_commands_processed:"); ok {
				var x int
				fmt.Sscan(v, &x)
				return x
			}
		}
		t.Fatal("no total_commands_processed in INFO")
		return 0
	}
	before := executed()
	nc, r := ts.raw(t)
	var cmds strings.Builder
	for i := range n {
		fmt.Fprintf(&cmds, "DEL k%d\r\n", i)
	}
	go func() { _, _ = io.WriteString(nc, cmds.String()) }()
	if got := readLine(t, r); got != ":1" {
		t.Fatalf("first reply %q, want :1", got)
	}
	if ran := executed() - before; ran >= n {
		t.Fatalf("the first reply came only after %d commands ran, all %d DELs among them", ran, n)
	} else {
		t.Logf("first reply after %d of %d pipelined DELs", ran, n)
	}
}

func TestShutdownClosesIdleConnections(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	nc, r := ts.raw(t)
	fmt.Fprint(nc, "PING\r\n")
	if l := readLine(t, r); l != "+PONG" {
		t.Fatal(l)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown with an idle connection: %v", err)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection not closed by shutdown: %v", err)
	}
}

func TestNamespacesAndConsistency(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	c := ts.client(t)
	must[string](t)(c.Set(ctx, "k", "in default", 0).Result())
	if ns := must[string](t)(c.Do(ctx, "namespace").Text()); ns != "default" {
		t.Fatalf("NAMESPACE: %q", ns)
	}
	must[string](t)(c.Do(ctx, "namespace", "users").Text())
	if _, err := c.Get(ctx, "k").Result(); err != redis.Nil {
		t.Fatalf("key of default visible in users: %v", err)
	}
	must[string](t)(c.Set(ctx, "k", "in users", 0).Result())
	_, err := c.Do(ctx, "namespace", "nope").Result()
	wantErr(t, err, `ERR no such namespace: "nope"`)
	// SELECT reaches namespaces by number, so a client's DB option works.
	c1 := redis.NewClient(&redis.Options{Addr: ts.addr, DB: 1})
	defer c1.Close()
	if v := must[string](t)(c1.Get(ctx, "k").Result()); v != "in users" {
		t.Fatalf("DB 1 is users: %q", v)
	}
	if v := must[string](t)(ts.client(t).Get(ctx, "k").Result()); v != "in default" {
		t.Fatalf("a new connection starts in default: %q", v)
	}
	levels := must[[]any](t)(c.Do(ctx, "consistency").Slice())
	if levels[0] != "quorum" || levels[1] != "quorum" {
		t.Fatalf("default levels: %v", levels)
	}
	must[string](t)(c.Do(ctx, "consistency", "one", "all").Text())
	levels = must[[]any](t)(c.Do(ctx, "consistency").Slice())
	if levels[0] != "one" || levels[1] != "all" {
		t.Fatalf("levels after CONSISTENCY one all: %v", levels)
	}
	must[string](t)(c.Do(ctx, "consistency", "1").Text())
	_, err = c.Do(ctx, "consistency", "most").Result()
	wantErr(t, err, `ERR invalid argument: "most" is not one, quorum, all or a number`)
	// A level above N (1 on this node) is refused clearly, at once, and the
	// levels stay as they were.
	_, err = c.Do(ctx, "consistency", "2").Result()
	wantErr(t, err, "ERR invalid argument: namespace users: invalid consistency level: 2 replicas required, the namespace keeps 1")
	if levels := must[[]any](t)(c.Do(ctx, "consistency").Slice()); levels[0] != "1" || levels[1] != "1" {
		t.Fatalf("levels after a refused CONSISTENCY: %v", levels)
	}
	// INFO keyspace and CONFIG GET databases tell the truth about
	// namespaces: users is db 1, and SELECT takes 0 and 1.
	if info := must[string](t)(c.Info(ctx, "keyspace").Result()); !strings.Contains(info, "db1:keys=1") {
		t.Fatalf("INFO keyspace in users: %q", info)
	}
	if cfg := must[map[string]string](t)(c.ConfigGet(ctx, "databases").Result()); cfg["databases"] != "2" {
		t.Fatalf("CONFIG GET databases: %v", cfg)
	}
}

func TestSiblingsWithContexts(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	c := ts.client(t)
	// Two writes with the empty context are concurrent: two siblings.
	must[string](t)(c.Do(ctx, "putctx", "k", "", "a").Text())
	must[string](t)(c.Do(ctx, "putctx", "k", "", "b").Text())
	sib := must[[]any](t)(c.Do(ctx, "siblings", "k").Slice())
	vals := sib[1].([]any)
	if len(vals) != 2 {
		t.Fatalf("SIBLINGS: %v", sib)
	}
	got := must[string](t)(c.Get(ctx, "k").Result())
	if got != "a" && got != "b" {
		t.Fatalf("GET picked %q", got)
	}
	// The context is printable, the same token HTTP's X-Pando-Context
	// carries: URL-safe base64, safe for clients that decode replies as
	// UTF-8.
	token := sib[0].(string)
	if strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" || token == "" {
		t.Fatalf("context %q is not URL-safe base64", token)
	}
	// Writing back with the context resolves them.
	must[string](t)(c.Do(ctx, "putctx", "k", token, "a+b").Text())
	sib = must[[]any](t)(c.Do(ctx, "siblings", "k").Slice())
	if vals := sib[1].([]any); len(vals) != 1 || vals[0] != "a+b" {
		t.Fatalf("after resolving: %v", sib)
	}
	for _, bad := range []string{"not-a-context", "\xff\x00binary", "QUJD"} {
		_, err := c.Do(ctx, "putctx", "k", bad, "x").Result()
		wantErr(t, err, "ERR invalid argument: the context is not one Pando gave out; pass back the one SIBLINGS or X-Pando-Context returned")
		if strings.Contains(err.Error(), "dvv") || strings.Contains(err.Error(), "version") {
			t.Fatalf("the error speaks of internals: %v", err)
		}
	}
	if n := must[int64](t)(c.Do(ctx, "delctx", "k", sib[0]).Int64()); n != 1 {
		t.Fatalf("DELCTX: %d", n)
	}
	if _, err := c.Get(ctx, "k").Result(); err != redis.Nil {
		t.Fatalf("GET after DELCTX: %v", err)
	}
	// A plain SET supersedes what the node holds: no siblings.
	must[string](t)(c.Set(ctx, "p", "1", 0).Result())
	must[string](t)(c.Set(ctx, "p", "2", 0).Result())
	sib = must[[]any](t)(c.Do(ctx, "siblings", "p").Slice())
	if vals := sib[1].([]any); len(vals) != 1 || vals[0] != "2" {
		t.Fatalf("plain SETs made siblings: %v", sib)
	}
}
