package resp_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pandodb/pando/internal/api"
	"github.com/redis/go-redis/v9"
)

// A transaction in an eventual namespace is refused at EXEC and nothing it
// queued is applied: the client's error is the truth.
func TestTransactionIsRefusedAndAppliesNothing(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	c := ts.client(t)
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "a", "1", 0)
		p.Set(ctx, "b", "2", 0)
		p.Del(ctx, "c")
		return nil
	})
	if err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") || !strings.Contains(err.Error(), "eventual") {
		t.Fatalf("TxPipelined: %v, want EXECABORT naming the eventual namespace", err)
	}
	for _, k := range []string{"a", "b"} {
		if v, err := c.Get(ctx, k).Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("%s after a refused transaction: %q %v", k, v, err)
		}
	}
	// WATCH, then a transaction: refused the same way.
	err = c.Watch(ctx, func(tx *redis.Tx) error {
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Set(ctx, "a", "1", 0).Err() })
		return err
	}, "a")
	if err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Fatalf("WATCH then MULTI/EXEC: %v", err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the connection after a refused transaction: %v", err)
	}
}

// The protocol, reply by reply, as Redis answers it; the whole transaction
// is sent in one write, so the pipelined SETs inside it must not be batched
// and applied.
func TestTransactionProtocol(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	nc, r := ts.raw(t)
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
	send("MULTI", "SET a 1", "SET b 2", "GET a", "EXEC")
	expect("+OK", "+QUEUED", "+QUEUED", "+QUEUED", "-EXECABORT Transaction discarded: namespace \"default\" is eventual")
	send("GET a")
	expect("$-1")

	// A command refused while queueing dooms the transaction.
	send("MULTI", "SET a", "NOSUCH x", "SET a 1", "EXEC")
	expect("+OK", "-ERR wrong number of arguments for 'set' command", "-ERR unknown command 'NOSUCH'", "+QUEUED",
		"-EXECABORT Transaction discarded because of previous errors.")

	send("EXEC", "DISCARD", "MULTI", "MULTI", "WATCH a", "DISCARD", "GET a")
	expect("-ERR EXEC without MULTI", "-ERR DISCARD without MULTI", "+OK", "-ERR MULTI calls can not be nested",
		"-ERR WATCH inside MULTI is not allowed", "+OK", "$-1")

	// An empty transaction has nothing to isolate.
	send("MULTI", "EXEC", "WATCH a b", "UNWATCH")
	expect("+OK", "*0", "+OK", "+OK")
}
