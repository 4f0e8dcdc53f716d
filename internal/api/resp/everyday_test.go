package resp_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/redis/go-redis/v9"
)

func TestEverydayCommands(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	c := ts.client(t)
	if v, err := c.GetSet(ctx, "k", "a").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GETSET of a missing key: %q %v", v, err)
	}
	if v, err := c.GetSet(ctx, "k", "bb").Result(); err != nil || v != "a" {
		t.Fatalf("GETSET: %q %v, want a", v, err)
	}
	if n, err := c.StrLen(ctx, "k").Result(); err != nil || n != 2 {
		t.Fatalf("STRLEN: %d %v", n, err)
	}
	if n, err := c.StrLen(ctx, "missing").Result(); err != nil || n != 0 {
		t.Fatalf("STRLEN of a missing key: %d %v", n, err)
	}
	if err := c.SetEx(ctx, "ex", "v", 10*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	if d, err := c.TTL(ctx, "ex").Result(); err != nil || d != 10*time.Second {
		t.Fatalf("TTL after SETEX 10: %v %v", d, err)
	}
	if err := c.Do(ctx, "psetex", "px", 1500, "v").Err(); err != nil {
		t.Fatal(err)
	}
	if d, err := c.PTTL(ctx, "px").Result(); err != nil || d != 1500*time.Millisecond {
		t.Fatalf("PTTL after PSETEX 1500: %v %v", d, err)
	}
	if err := c.Do(ctx, "setex", "bad", 0, "v").Err(); err == nil || !strings.Contains(err.Error(), "invalid expire time in 'setex' command") {
		t.Fatalf("SETEX with 0 seconds: %v", err)
	}
	// GETEX: the value, with a new expiry or none.
	if v, err := c.GetEx(ctx, "k", 5*time.Second).Result(); err != nil || v != "bb" {
		t.Fatalf("GETEX EX 5: %q %v", v, err)
	}
	if d, _ := c.TTL(ctx, "k").Result(); d != 5*time.Second {
		t.Fatalf("TTL after GETEX EX 5: %v", d)
	}
	if v, err := c.Do(ctx, "getex", "k", "persist").Text(); err != nil || v != "bb" {
		t.Fatalf("GETEX PERSIST: %q %v", v, err)
	}
	if d, _ := c.TTL(ctx, "k").Result(); d != -1 {
		t.Fatalf("TTL after GETEX PERSIST: %v, want none", d)
	}
	ts.clock.Advance(2 * time.Second)
	if err := c.Get(ctx, "px").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("PSETEX 1500 read 2 s later: %v", err)
	}
	// UNLINK is DEL.
	if n, err := c.Unlink(ctx, "k", "ex", "missing").Result(); err != nil || n != 2 {
		t.Fatalf("UNLINK: %d %v, want 2", n, err)
	}
	// TIME is the node's clock.
	tm, err := c.Time(ctx).Result()
	if err != nil || !tm.Equal(ts.clock.Now().Truncate(time.Microsecond)) {
		t.Fatalf("TIME: %v %v, want %v", tm, err, ts.clock.Now())
	}
	// KEYS matches like SCAN, in one reply.
	for i := range 30 {
		if err := c.Set(ctx, fmt.Sprintf("user:%d", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := c.Keys(ctx, "user:1*").Result()
	slices.Sort(keys)
	if err != nil || fmt.Sprint(keys) != "[user:1 user:10 user:11 user:12 user:13 user:14 user:15 user:16 user:17 user:18 user:19]" {
		t.Fatalf("KEYS user:1*: %v %v", keys, err)
	}
	// Counters are refused with the reason, and write nothing.
	for _, cmd := range [][]any{{"incr", "n"}, {"decr", "n"}, {"incrby", "n", 2}, {"decrby", "n", 2}, {"incrbyfloat", "n", 1.5}} {
		err := c.Do(ctx, cmd...).Err()
		if err == nil || !strings.Contains(err.Error(), "counters need a counter namespace") {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	if err := c.Get(ctx, "n").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("a refused INCR wrote: %v", err)
	}
}

func TestClientListAndInfo(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	a, b := ts.client(t), ts.client(t)
	if err := a.Do(ctx, "client", "setname", "worker-a").Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.Do(ctx, "namespace", "users").Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	list, err := b.ClientList(ctx).Result()
	if err != nil || strings.Count(list, "\n") != 2 || !strings.Contains(list, "name=worker-a") || !strings.Contains(list, "db=1 ns=users") {
		t.Fatalf("CLIENT LIST:\n%s%v", list, err)
	}
	info, err := b.Do(ctx, "client", "info").Text()
	id, _ := b.ClientID(ctx).Result()
	if err != nil || !strings.HasPrefix(info, fmt.Sprintf("id=%d ", id)) || !strings.Contains(info, "ns=default") {
		t.Fatalf("CLIENT INFO: %q %v", info, err)
	}
}
