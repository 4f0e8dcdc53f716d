package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// strongClient is a go-redis client whose connections use namespace ns.
func strongClient(t *testing.T, n *node, ns string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: n.resp, MaxRetries: -1, OnConnect: func(ctx context.Context, cn *redis.Conn) error {
		return cn.Do(ctx, "namespace", ns).Err()
	}})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestStrongNamespace: a strong namespace created with pando ns create
// serves linearizable reads and writes through every node, counters,
// debits that never pass their floor and compare-and-set, refuses what it
// cannot do yet with the reason, and when its partition has lost its
// majority answers with an error that says so, never with a stale value.
func TestStrongNamespace(t *testing.T) {
	nodes := startCluster(t, 3)
	if out, err := run(t, nil, "ns", "create", "bank", "--model", "strong", "--http", nodes[0].http); err != nil {
		t.Fatalf("pando ns create bank --model strong: %v\n%s", err, out)
	}
	c1, c2, c3 := strongClient(t, nodes[0], "bank"), strongClient(t, nodes[1], "bank"), strongClient(t, nodes[2], "bank")
	// The partitions' groups elect their leaders first.
	testutil.Eventually(t, "a first strong write", func() bool { return c1.Set(ctx, "acct:a", "100", 0).Err() == nil })
	if v, err := c3.Get(ctx, "acct:a").Result(); err != nil || v != "100" {
		t.Fatalf("GET through n3 after SET through n1: %q %v", v, err)
	}
	if n, err := c2.IncrBy(ctx, "acct:a", 50).Result(); err != nil || n != 150 {
		t.Fatalf("INCRBY through n2: %d %v", n, err)
	}
	// The bank debit: refused whole when it would overdraw.
	err := c3.Do(ctx, "debit", "acct:a", 200).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "FLOOR ") {
		t.Fatalf("DEBIT past the floor: %v, want -FLOOR", err)
	}
	if n, err := c1.Do(ctx, "debit", "acct:a", 150).Int64(); err != nil || n != 0 {
		t.Fatalf("DEBIT to the floor: %d %v", n, err)
	}
	if n, err := c2.Do(ctx, "debit", "acct:a", 5, "floor", -10).Int64(); err != nil || n != -5 {
		t.Fatalf("DEBIT with a floor of -10: %d %v", n, err)
	}
	// A debit and a deposit retried under their request ids, through any
	// node, count once and answer what they answered first.
	for _, c := range []*redis.Client{c1, c2, c3} {
		if n, err := c.Do(ctx, "WITHID", "pay-1", "DEBIT", "acct:a", 5, "FLOOR", -10).Int64(); err != nil || n != -10 {
			t.Fatalf("WITHID pay-1 DEBIT acct:a 5 through %s: %d %v", c.Options().Addr, n, err)
		}
		if n, err := c.Do(ctx, "WITHID", "pay-2", "INCRBY", "acct:a", 12).Int64(); err != nil || n != 2 {
			t.Fatalf("WITHID pay-2 INCRBY acct:a 12 through %s: %d %v", c.Options().Addr, n, err)
		}
	}
	for range 2 {
		resp, body := testutil.HTTP(t, "POST", "http://"+nodes[1].http+"/v1/ns/bank/kv/acct:a/incr?by=3", "", "Idempotency-Key", "pay-3")
		if resp.StatusCode != 200 || compact(t, body) != `{"value":5}` {
			t.Fatalf("POST .../incr?by=3 with Idempotency-Key: %d %s", resp.StatusCode, body)
		}
	}
	if v, err := c3.Get(ctx, "acct:a").Result(); err != nil || v != "5" {
		t.Fatalf("after the retries: %q %v, want 5", v, err)
	}
	if err := c1.Set(ctx, "name", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c1.Incr(ctx, "name").Err(); err == nil || err.Error() != "ERR value is not an integer or out of range" {
		t.Fatalf("INCR of a non-integer: %v", err)
	}
	// Compare-and-set.
	for _, step := range []struct {
		args []any
		want int64
	}{
		{[]any{"casnx", "lock", "alice"}, 1},
		{[]any{"casnx", "lock", "bob"}, 0},
		{[]any{"cas", "lock", "bob", "carol"}, 0},
		{[]any{"cas", "lock", "alice", "carol"}, 1},
	} {
		if n, err := c2.Do(ctx, step.args...).Int64(); err != nil || n != step.want {
			t.Fatalf("%v: %d %v, want %d", step.args, n, err, step.want)
		}
	}
	if v, err := c3.Get(ctx, "lock").Result(); err != nil || v != "carol" {
		t.Fatalf("GET lock: %q %v", v, err)
	}
	if ok, err := c3.SetNX(ctx, "lock", "dave", 0).Result(); err != nil || ok {
		t.Fatalf("SET NX on a held key: %v %v", ok, err)
	}
	if old, err := c1.SetArgs(ctx, "lock", "erin", redis.SetArgs{Get: true}).Result(); err != nil || old != "carol" {
		t.Fatalf("SET GET: %q %v", old, err)
	}
	if n, err := c2.Del(ctx, "lock", "nothing").Result(); err != nil || n != 1 {
		t.Fatalf("DEL: %d %v", n, err)
	}
	if err := c3.Get(ctx, "lock").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after DEL: %v", err)
	}
	// Pipelined SETs (which a node writes together) and MSET go through
	// the partitions' logs like any other write.
	if _, err := c1.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 20 {
			p.Set(ctx, fmt.Sprint("piped:", i), i, 0)
		}
		return nil
	}); err != nil {
		t.Fatalf("pipelined SETs: %v", err)
	}
	if err := c2.MSet(ctx, "m:1", "a", "m:2", "b").Err(); err != nil {
		t.Fatalf("MSET: %v", err)
	}
	for i := range 20 {
		if v, err := c3.Get(ctx, fmt.Sprint("piped:", i)).Result(); err != nil || v != fmt.Sprint(i) {
			t.Fatalf("piped:%d through n3: %q %v", i, v, err)
		}
	}
	if vs, err := c3.MGet(ctx, "m:1", "m:2").Result(); err != nil || fmt.Sprint(vs) != "[a b]" {
		t.Fatalf("MGET after MSET: %v %v", vs, err)
	}
	// What a strong namespace does not do yet is refused, with the reason.
	if err := c1.Set(ctx, "ttl", "v", time.Minute).Err(); err == nil || !strings.Contains(err.Error(), "expiry in strong namespaces") {
		t.Fatalf("SET EX: %v", err)
	}
	if err := c1.DBSize(ctx).Err(); err == nil || !strings.Contains(err.Error(), "strong namespace bank") {
		t.Fatalf("DBSIZE: %v", err)
	}
	if err := c1.Info(ctx).Err(); err != nil {
		t.Fatalf("INFO in a strong namespace: %v", err)
	}
	// The eventual default namespace still refuses counters.
	if err := nodes[0].client(t).Incr(ctx, "n").Err(); err == nil || !strings.Contains(err.Error(), "counters need a counter namespace") {
		t.Fatalf("INCR in an eventual namespace: %v", err)
	}

	// With one replica per partition, most keys live on another node than
	// the one a client talks to: that node passes the request on.
	if out, err := run(t, nil, "ns", "create", "solo", "--model", "strong", "--n", "1", "--http", nodes[0].http); err != nil {
		t.Fatalf("pando ns create solo --model strong --n 1: %v\n%s", err, out)
	}
	solo := []*redis.Client{strongClient(t, nodes[0], "solo"), strongClient(t, nodes[1], "solo"), strongClient(t, nodes[2], "solo")}
	for i := range 12 {
		k := fmt.Sprint("solo:", i)
		testutil.Eventually(t, "SET "+k, func() bool { return solo[i%3].Set(ctx, k, i, 0).Err() == nil })
		if n, err := solo[(i+1)%3].Incr(ctx, k).Result(); err != nil || n != int64(i+1) {
			t.Fatalf("INCR %s through n%d: %d %v", k, (i+1)%3+1, n, err)
		}
		if v, err := solo[(i+2)%3].Get(ctx, k).Result(); err != nil || v != fmt.Sprint(i+1) {
			t.Fatalf("GET %s through n%d: %q %v", k, (i+2)%3+1, v, err)
		}
	}

	// Over HTTP: a read's ETag is the key's version, a write with If-Match
	// applies only at that version, and an increment answers the sum.
	acct := "http://" + nodes[1].http + "/v1/ns/bank/kv/http:acct"
	if code, _, _ := httpDo(t, "PUT", acct, "10"); code != http.StatusNoContent {
		t.Fatalf("PUT over HTTP: %d", code)
	}
	code, body, h := httpDo(t, "GET", acct, "")
	if code != http.StatusOK || body != "10" || h.Get("ETag") == "" {
		t.Fatalf("GET over HTTP: %d %q ETag %q", code, body, h.Get("ETag"))
	}
	if code, body, _ := httpDo(t, "POST", acct+"/incr?by=5", ""); code != http.StatusOK || !strings.Contains(body, `"value": 15`) {
		t.Fatalf("POST incr over HTTP: %d %s", code, body)
	}
	if code, body, _ := httpDo(t, "PUT", acct, "0", "If-Match", h.Get("ETag")); code != http.StatusPreconditionFailed {
		t.Fatalf("PUT If-Match a version overtaken by the increment: %d %s", code, body)
	}
	if v, err := c3.Get(ctx, "http:acct").Result(); err != nil || v != "15" {
		t.Fatalf("http:acct through RESP: %q %v", v, err)
	}

	// n1 alone: no majority. Writes and reads are refused within the
	// request timeout, saying why; none hangs, none answers stale.
	nodes[1].kill()
	nodes[2].kill()
	start := time.Now()
	err = c1.Set(ctx, "acct:a", "1000000", 0).Err()
	if err == nil || !(strings.HasPrefix(err.Error(), "UNAVAILABLE ") || strings.HasPrefix(err.Error(), "UNKNOWN ")) || !strings.Contains(err.Error(), "partition") {
		t.Fatalf("a write on the minority side: %v", err)
	}
	err = c1.Get(ctx, "acct:a").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "UNAVAILABLE ") || !strings.Contains(err.Error(), "majority") {
		t.Fatalf("a read on the minority side: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the minority's refusals took %s", d)
	}
	// A majority again: the write whose outcome was unknown may or may
	// not have been applied; the balance is one of the two, on every node.
	nodes[1].restart()
	c2 = strongClient(t, nodes[1], "bank") // its ports are new
	var v string
	testutil.Eventually(t, "reads through n2 once it is back", func() bool {
		v, err = c2.Get(ctx, "acct:a").Result()
		return err == nil
	})
	if v != "5" && v != "1000000" {
		t.Fatalf("acct:a after the majority came back: %q", v)
	}
	if got, err := c1.Get(ctx, "acct:a").Result(); err != nil || got != v {
		t.Fatalf("acct:a through n1: %q %v, through n2 %q", got, err, v)
	}
}

// httpDo sends an HTTP request and returns the status, the body and the
// headers of the answer.
func httpDo(t *testing.T, method, url, body string, headers ...string) (int, string, http.Header) {
	t.Helper()
	resp, b := testutil.HTTP(t, method, url, body, headers...)
	return resp.StatusCode, string(b), resp.Header
}
