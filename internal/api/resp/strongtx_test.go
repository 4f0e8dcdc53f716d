package resp_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/coordinator"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/strong"
	"github.com/pandodb/pando/internal/strong/stronglocal"
	"github.com/pandodb/pando/internal/transport"
	"github.com/redis/go-redis/v9"
)

// strongServer is a RESP server whose namespace bank is strong.
type strongServer struct {
	*testServer
	groups *stronglocal.Groups
	meta   *metadata.State
}

func startStrong(t *testing.T) *strongServer {
	t.Helper()
	ss := &strongServer{meta: metadata.SingleNode("local", 16,
		metadata.Namespace{Name: "bank", N: 1, Model: metadata.Strong, Type: metadata.Bytes, Generation: 1})}
	ss.testServer = startKV(t, api.DefaultLimits(), func(store *replica.Store, eng *storage.Engine) *coordinator.Coordinator {
		ss.groups = stronglocal.New(eng)
		kv, err := coordinator.New(coordinator.Config{
			Self: "local", Store: store, Meta: metadata.Fixed{S: ss.meta},
			Transport: transport.NewMemNetwork().Transport(), Strong: ss.groups,
		})
		if err != nil {
			t.Fatal(err)
		}
		return kv
	})
	return ss
}

// client is a go-redis client on namespace bank.
func (ss *strongServer) bank(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: ss.addr, PoolSize: 1, MaxRetries: -1, OnConnect: func(ctx context.Context, cn *redis.Conn) error {
		return cn.Do(ctx, "namespace", "bank").Err()
	}})
	t.Cleanup(func() { c.Close() })
	return c
}

// partition is the partition of key in namespace bank.
func (ss *strongServer) partition(key string) int {
	ns, _ := ss.meta.Namespace("bank")
	return ss.meta.Ring.Partition(storage.Hash(ns.StorageName(), []byte(key)))
}

func balances(t *testing.T, c *redis.Client, keys ...string) string {
	t.Helper()
	var out []string
	for _, k := range keys {
		v, err := c.Get(ctx, k).Result()
		if errors.Is(err, redis.Nil) {
			v = "nil"
		} else if err != nil {
			t.Fatalf("GET %s: %v", k, err)
		}
		out = append(out, v)
	}
	return strings.Join(out, " ")
}

// transfer moves amount from {acct}.a to {acct}.b the way a go-redis user
// writes it: WATCH both, read, then MULTI/EXEC with a floored DEBIT. hook
// runs between the read and EXEC.
func transfer(c *redis.Client, amount int, hook func()) error {
	return c.Watch(ctx, func(tx *redis.Tx) error {
		if err := tx.Get(ctx, "{acct}.a").Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if hook != nil {
			hook()
		}
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.IncrBy(ctx, "{acct}.b", int64(amount))
			p.Do(ctx, "debit", "{acct}.a", amount)
			return nil
		})
		return err
	}, "{acct}.a", "{acct}.b")
}

func TestStrongTransactionTransfers(t *testing.T) {
	ss := startStrong(t)
	c, other := ss.bank(t), ss.bank(t)
	if err := c.Set(ctx, "{acct}.a", "100", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := transfer(c, 30, nil); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if got := balances(t, c, "{acct}.a", "{acct}.b"); got != "70 30" {
		t.Fatalf("after a transfer of 30: %s, want 70 30", got)
	}

	// Another client writes a watched key between WATCH and EXEC: EXEC
	// answers null (go-redis: TxFailedErr) and applies nothing.
	err := transfer(c, 10, func() {
		if err := other.IncrBy(ctx, "{acct}.a", 5).Err(); err != nil {
			t.Fatal(err)
		}
	})
	if !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("transfer after a concurrent write: %v, want TxFailedErr", err)
	}
	if got := balances(t, c, "{acct}.a", "{acct}.b"); got != "75 30" {
		t.Fatalf("after an aborted transfer: %s, want 75 30", got)
	}

	// A debit past its floor refuses the whole EXEC: the credit queued
	// before it is not applied either.
	err = transfer(c, 1000, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "FLOOR ") {
		t.Fatalf("transfer past the floor: %v, want -FLOOR", err)
	}
	if got := balances(t, c, "{acct}.a", "{acct}.b"); got != "75 30" {
		t.Fatalf("after a refused transfer: %s, want 75 30", got)
	}

	// A GET queued after writes of the same transaction sees them.
	var get *redis.StringCmd
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "{acct}.c", "7", 0)
		p.IncrBy(ctx, "{acct}.c", 2)
		get = p.Get(ctx, "{acct}.c")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if get.Val() != "9" {
		t.Fatalf("GET inside MULTI after SET 7 and INCRBY 2: %q", get.Val())
	}
}

func TestStrongTransactionKeysInOnePartition(t *testing.T) {
	ss := startStrong(t)
	c := ss.bank(t)
	far := ""
	for i := 0; far == ""; i++ {
		if k := "k" + strconv.Itoa(i); ss.partition(k) != ss.partition("{acct}.a") {
			far = k
		}
	}
	if ss.partition("{acct}.a") != ss.partition("{acct}.b") {
		t.Fatal("a hash tag does not keep keys in one partition")
	}
	const want = "CROSSSLOT Keys in request are not in the same partition"
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "{acct}.a", "1", 0)
		p.Set(ctx, far, "1", 0)
		return nil
	})
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "hash tag") {
		t.Fatalf("EXEC across partitions: %v, want %q", err, want)
	}
	// A watched key counts too.
	err = c.Watch(ctx, func(tx *redis.Tx) error {
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Set(ctx, "{acct}.a", "1", 0).Err() })
		return err
	}, far)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("EXEC watching a key of another partition: %v", err)
	}
	if got := balances(t, c, "{acct}.a", far); got != "nil nil" {
		t.Fatalf("after refused transactions: %s", got)
	}
}

// Replies inside EXEC's array are each command's own, as Redis gives them.
func TestStrongTransactionReplies(t *testing.T) {
	ss := startStrong(t)
	nc, r := ss.raw(t)
	send := func(cmds ...string) {
		t.Helper()
		if _, err := fmt.Fprint(nc, strings.Join(cmds, "\r\n")+"\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			if got := readLine(t, r); !strings.HasPrefix(got, w) {
				t.Fatalf("reply %q, want %q", got, w)
			}
		}
	}
	send("NAMESPACE bank", "SET {t}.s text")
	expect("+OK", "+OK")
	send("MULTI", "SET {t}.k v", "GET {t}.k", "SET {t}.k w GET", "SET {t}.k x NX", "SET {t}.k y XX GET",
		"SET {t}.new 1 NX GET", "INCRBY {t}.n 5", "DECR {t}.n", "INCR {t}.s", "DEBIT {t}.n 4 FLOOR 0",
		"DEL {t}.k {t}.none", "GET {t}.k", "EXEC")
	expect("+OK")
	for range 12 {
		expect("+QUEUED")
	}
	expect("*12", "+OK", "$1", "v", "$1", "v", "$-1", "$1", "w", "$-1", ":5", ":4",
		"-ERR value is not an integer or out of range", ":0", ":1", "$-1")
	send("GET {t}.k", "GET {t}.n", "GET {t}.new", "GET {t}.s")
	expect("$-1", "$1", "0", "$1", "1", "$4", "text")
}

// What a strong transaction refuses while queueing dooms it, and WATCH,
// UNWATCH and DISCARD behave as in Redis.
func TestStrongTransactionProtocol(t *testing.T) {
	ss := startStrong(t)
	nc, r := ss.raw(t)
	send := func(cmds ...string) {
		t.Helper()
		if _, err := fmt.Fprint(nc, strings.Join(cmds, "\r\n")+"\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			if got := readLine(t, r); !strings.HasPrefix(got, w) {
				t.Fatalf("reply %q, want %q", got, w)
			}
		}
	}
	send("NAMESPACE bank")
	expect("+OK")
	doomed := "-EXECABORT Transaction discarded because of previous errors."
	send("MULTI", "SET {t}.a 1", "EXPIRE {t}.a 10", "EXEC")
	expect("+OK", "+QUEUED", "-ERR EXPIRE cannot run inside a transaction in a strong namespace in this version", doomed)
	send("MULTI", "SET {t}.a 1", "SET {t}.a 2 EX 10", "EXEC")
	expect("+OK", "+QUEUED", "-ERR not supported: expiry in strong namespaces", doomed)
	send("MULTI", "SET {t}.a 1", "DEBIT {t}.a -5", "INCRBY {t}.a x", "SET {t}.a 1 NX NX", "NOSUCH", "EXEC")
	expect("+OK", "+QUEUED", "-ERR DEBIT takes an amount of 0 or more", "-ERR value is not an integer", "-ERR syntax error",
		"-ERR unknown command", doomed)
	send("GET {t}.a", "MULTI", "EXEC")
	expect("$-1", "+OK", "*0")

	// A write after WATCH, even this connection's own, aborts EXEC. (The
	// writes outside MULTI are INCRs so that each runs on its own.)
	send("WATCH {t}.w", "INCR {t}.w", "MULTI", "INCR {t}.w", "EXEC", "GET {t}.w")
	expect("+OK", ":1", "+OK", "+QUEUED", "*-1", "$1", "1")
	// EXEC forgot the watch: the next transaction runs.
	send("MULTI", "INCR {t}.w", "EXEC")
	expect("+OK", "+QUEUED", "*1", ":2")
	// So do DISCARD and UNWATCH.
	send("WATCH {t}.w", "INCR {t}.w", "MULTI", "DISCARD", "MULTI", "INCR {t}.w", "EXEC")
	expect("+OK", ":3", "+OK", "+OK", "+OK", "+QUEUED", "*1", ":4")
	send("WATCH {t}.w", "INCR {t}.w", "UNWATCH", "MULTI", "INCR {t}.w", "EXEC")
	expect("+OK", ":5", "+OK", "+OK", "+QUEUED", "*1", ":6")
	// UNWATCH inside MULTI does not lift the watch on this EXEC.
	send("WATCH {t}.w", "INCR {t}.w", "MULTI", "UNWATCH", "INCR {t}.w", "EXEC", "GET {t}.w")
	expect("+OK", ":7", "+OK", "+OK", "+QUEUED", "*-1", "$1", "7")
	// Watching an unchanged key, an empty transaction runs; a changed one
	// aborts it.
	send("WATCH {t}.w", "MULTI", "EXEC", "WATCH {t}.w", "INCR {t}.w", "MULTI", "EXEC")
	expect("+OK", "+OK", "*0", "+OK", ":8", "+OK", "*-1")
	send("MULTI", "WATCH {t}.w", "DISCARD")
	expect("+OK", "-ERR WATCH inside MULTI is not allowed", "+OK")

	// Keys watched in another namespace cannot condition this one.
	send("NAMESPACE default", "WATCH x", "NAMESPACE bank", "MULTI", "SET {t}.a 1", "EXEC", "GET {t}.a")
	expect("+OK", "+OK", "+OK", "+OK", "+QUEUED", "-EXECABORT Transaction discarded: keys were watched in namespace \"default\"", "$-1")

	// The partition's exact outcomes reach the client.
	ss.groups.FailNext(fmt.Errorf("%w (test)", strong.ErrUnknown))
	send("MULTI", "SET {t}.u 1", "EXEC")
	expect("+OK", "+QUEUED", "-UNKNOWN partition")
	ss.groups.FailNext(fmt.Errorf("%w (test)", strong.ErrNoQuorum))
	send("MULTI", "SET {t}.u 1", "EXEC", "GET {t}.u")
	expect("+OK", "+QUEUED", "-UNAVAILABLE partition", "$-1")
	// A replica whose member is not open yet (a namespace just made).
	ss.groups.FailNext(fmt.Errorf("%w (test)", strong.ErrNotMember))
	send("SET {t}.u 1", "GET {t}.u")
	expect("-UNAVAILABLE partition", "$-1")
}
