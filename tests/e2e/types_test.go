package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pandodb/pando/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// TestCounterSetAndMapNamespaces: namespaces created with pando ns create
// --type counter, set and map serve Redis's commands for their type through
// every node, answer WRONGTYPE for another type's, and GET over HTTP
// answers JSON.
func TestCounterSetAndMapNamespaces(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, ns := range []string{"hits counter", "tags set", "users map"} {
		name, typ, _ := strings.Cut(ns, " ")
		if out, err := run(t, nil, "ns", "create", name, "--type", typ, "--http", nodes[0].http); err != nil {
			t.Fatalf("pando ns create %s --type %s: %v\n%s", name, typ, err, out)
		}
	}
	c1, c2, c3 := strongClient(t, nodes[0], "hits"), strongClient(t, nodes[1], "hits"), strongClient(t, nodes[2], "hits")
	testutil.Eventually(t, "every node to know the counter namespace", func() bool { return c3.Incr(ctx, "page").Err() == nil })
	if n, err := c1.IncrBy(ctx, "page", 10).Result(); err != nil || n != 11 {
		t.Fatalf("INCRBY page 10 after INCR: %d %v", n, err)
	}
	if n, err := c2.DecrBy(ctx, "page", 4).Result(); err != nil || n != 7 {
		t.Fatalf("DECRBY page 4: %d %v", n, err)
	}
	if v, err := c3.Get(ctx, "page").Result(); err != nil || v != "7" {
		t.Fatalf("GET page: %q %v", v, err)
	}
	if typ, err := c1.Type(ctx, "page").Result(); err != nil || typ != "string" {
		t.Fatalf("TYPE of a counter: %q %v", typ, err)
	}
	wrongType(t, c1.SAdd(ctx, "page", "x").Err(), "SADD in a counter namespace")
	wrongType(t, c1.Set(ctx, "page", "x", 0).Err(), "SET in a counter namespace")
	resp, body := testutil.HTTP(t, "GET", "http://"+nodes[1].http+"/v1/ns/hits/kv/page", "")
	if resp.StatusCode != 200 || compact(t, body) != `{"type":"counter","value":7}` {
		t.Fatalf("GET over HTTP: %d %s", resp.StatusCode, body)
	}
	resp, body = testutil.HTTP(t, "POST", "http://"+nodes[2].http+"/v1/ns/hits/kv/page/incr?by=3", "")
	if resp.StatusCode != 200 || compact(t, body) != `{"value":10}` {
		t.Fatalf("POST .../incr?by=3: %d %s", resp.StatusCode, body)
	}
	if n, err := c2.Del(ctx, "page").Result(); err != nil || n != 1 {
		t.Fatalf("DEL page: %d %v", n, err)
	}
	if err := c3.Get(ctx, "page").Err(); err != redis.Nil {
		t.Fatalf("GET of a deleted counter: %v", err)
	}
	if n, err := c1.Incr(ctx, "page").Result(); err != nil || n != 1 {
		t.Fatalf("INCR after DEL starts again from 0: %d %v", n, err)
	}
	// Retries with a request id count once, through any node.
	for _, c := range []*redis.Client{c1, c2, c3} {
		if n, err := c.Do(ctx, "WITHID", "req-1", "INCRBY", "page", 5).Int64(); err != nil || n != 6 {
			t.Fatalf("WITHID req-1 INCRBY page 5 through %s: %d %v", c.Options().Addr, n, err)
		}
	}
	if err := c1.Do(ctx, "WITHID", "req-2", "SET", "page", "1").Err(); err == nil || !strings.Contains(err.Error(), "WITHID takes INCR") {
		t.Fatalf("WITHID of a SET: %v", err)
	}
	for range 2 {
		resp, body := testutil.HTTP(t, "POST", "http://"+nodes[0].http+"/v1/ns/hits/kv/page/incr?by=2", "", "Idempotency-Key", "req-3")
		if resp.StatusCode != 200 || compact(t, body) != `{"value":8}` {
			t.Fatalf("POST .../incr?by=2 with Idempotency-Key: %d %s", resp.StatusCode, body)
		}
	}

	s1, s2 := strongClient(t, nodes[0], "tags"), strongClient(t, nodes[1], "tags")
	if n, err := s1.SAdd(ctx, "t", "a", "b", "c", "a").Result(); err != nil || n != 3 {
		t.Fatalf("SADD t a b c a: %d %v", n, err)
	}
	if n, err := s2.SRem(ctx, "t", "b", "x").Result(); err != nil || n != 1 {
		t.Fatalf("SREM t b x: %d %v", n, err)
	}
	if m, err := s2.SMembers(ctx, "t").Result(); err != nil || !slices.Equal(m, []string{"a", "c"}) {
		t.Fatalf("SMEMBERS t: %v %v", m, err)
	}
	if ok, err := s1.SIsMember(ctx, "t", "c").Result(); err != nil || !ok {
		t.Fatalf("SISMEMBER t c: %v %v", ok, err)
	}
	if n, err := s1.SCard(ctx, "t").Result(); err != nil || n != 2 {
		t.Fatalf("SCARD t: %d %v", n, err)
	}
	if typ, err := s1.Type(ctx, "t").Result(); err != nil || typ != "set" {
		t.Fatalf("TYPE t: %q %v", typ, err)
	}
	wrongType(t, s1.Get(ctx, "t").Err(), "GET in a set namespace")
	wrongType(t, s1.HSet(ctx, "t", "f", "v").Err(), "HSET in a set namespace")
	resp, body = testutil.HTTP(t, "GET", "http://"+nodes[2].http+"/v1/ns/tags/kv/t", "")
	if resp.StatusCode != 200 || compact(t, body) != `{"type":"set","members":["a","c"]}` {
		t.Fatalf("GET a set over HTTP: %d %s", resp.StatusCode, body)
	}
	base := "http://" + nodes[0].http + "/v1/ns/"
	for _, step := range []struct{ method, url, body, want string }{
		{"POST", base + "tags/kv/t/add", `{"members":["d","a"]}`, `{"added":1}`},
		{"POST", base + "tags/kv/t/remove", `{"members":["c","zz"]}`, `{"removed":1}`},
		{"GET", base + "tags/kv/t", "", `{"type":"set","members":["a","d"]}`},
		{"POST", base + "users/kv/u9/fields", `{"fields":{"name":"bo","city":"oslo"}}`, `{"created":2}`},
		{"POST", base + "users/kv/u9/remove", `{"fields":["city"]}`, `{"removed":1}`},
		{"GET", base + "users/kv/u9", "", `{"type":"map","fields":{"name":"bo"}}`},
	} {
		resp, body := testutil.HTTP(t, step.method, step.url, step.body)
		if resp.StatusCode != 200 || compact(t, body) != step.want {
			t.Fatalf("%s %s %s: %d %s, want %s", step.method, step.url, step.body, resp.StatusCode, body, step.want)
		}
	}
	if resp, body := testutil.HTTP(t, "POST", base+"tags/kv/t/fields", `{"fields":{"a":"1"}}`); resp.StatusCode != 409 || !strings.Contains(string(body), "wrong_type") {
		t.Fatalf("POST .../fields to a set: %d %s", resp.StatusCode, body)
	}

	h1, h3 := strongClient(t, nodes[0], "users"), strongClient(t, nodes[2], "users")
	if n, err := h1.HSet(ctx, "u1", "name", "ada", "visits", "10").Result(); err != nil || n != 2 {
		t.Fatalf("HSET u1 name ada visits 10: %d %v", n, err)
	}
	if n, err := h3.HIncrBy(ctx, "u1", "visits", 5).Result(); err != nil || n != 15 {
		t.Fatalf("HINCRBY u1 visits 5: %d %v", n, err)
	}
	for _, c := range []*redis.Client{h1, h3, h1} { // a retry, through any node, counts once
		if n, err := c.Do(ctx, "WITHID", "visit-1", "HINCRBY", "u1", "visits", 2).Int64(); err != nil || n != 17 {
			t.Fatalf("WITHID visit-1 HINCRBY u1 visits 2 through %s: %d %v", c.Options().Addr, n, err)
		}
	}
	if err := h1.Do(ctx, "WITHID", "visit-2", "INCRBY", "u1", 1).Err(); err == nil || !strings.Contains(err.Error(), "needs a counter namespace") {
		t.Fatalf("WITHID INCRBY in a map namespace: %v", err)
	}
	if err := h3.HIncrBy(ctx, "u1", "name", 1).Err(); err == nil || err.Error() != "ERR hash value is not an integer" {
		t.Fatalf("HINCRBY of a string field: %v", err)
	}
	if all, err := h1.HGetAll(ctx, "u1").Result(); err != nil || fmt.Sprint(all) != "map[name:ada visits:17]" {
		t.Fatalf("HGETALL u1: %v %v", all, err)
	}
	if v, err := h3.HGet(ctx, "u1", "name").Result(); err != nil || v != "ada" {
		t.Fatalf("HGET u1 name: %q %v", v, err)
	}
	if n, err := h3.HDel(ctx, "u1", "name", "nope").Result(); err != nil || n != 1 {
		t.Fatalf("HDEL u1 name nope: %d %v", n, err)
	}
	if ok, err := h1.HExists(ctx, "u1", "name").Result(); err != nil || ok {
		t.Fatalf("HEXISTS of a removed field: %v %v", ok, err)
	}
	if n, err := h1.HLen(ctx, "u1").Result(); err != nil || n != 1 {
		t.Fatalf("HLEN u1: %d %v", n, err)
	}
	if n, err := h1.Exists(ctx, "u1", "u2").Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS u1 u2: %d %v", n, err)
	}
	wrongType(t, h1.SMembers(ctx, "u1").Err(), "SMEMBERS in a map namespace")
	def := strongClient(t, nodes[0], "default")
	wrongType(t, def.SAdd(ctx, "k", "x").Err(), "SADD in a bytes namespace")
	if err := def.Incr(ctx, "k").Err(); err == nil || !strings.Contains(err.Error(), "counter namespace") {
		t.Fatalf("INCR in a bytes namespace: %v", err)
	}
}

// compact returns a JSON body without its indentation.
func compact(t *testing.T, body []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, body); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return b.String()
}

func wrongType(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE Operation against a key holding the wrong kind of value") {
		t.Fatalf("%s: %v, want WRONGTYPE", what, err)
	}
}
