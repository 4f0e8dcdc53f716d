package e2e

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/pandodb/pando/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// TestStrongTransactions: WATCH/MULTI/EXEC in a strong namespace, through
// go-redis's Watch and TxPipelined against three nodes. A transfer under
// WATCH commits both balances at once; a write to a watched key from
// another client, through another node, aborts it (TxFailedErr) and
// nothing applies; a debit past its floor refuses the whole EXEC; keys of
// two partitions are refused with CROSSSLOT; a GET inside MULTI sees the
// writes queued before it.
func TestStrongTransactions(t *testing.T) {
	nodes := startCluster(t, 3)
	if out, err := run(t, nil, "ns", "create", "bank", "--model", "strong", "--http", nodes[0].http); err != nil {
		t.Fatalf("pando ns create bank --model strong: %v\n%s", err, out)
	}
	c1, c2 := strongClient(t, nodes[0], "bank"), strongClient(t, nodes[1], "bank")
	testutil.Eventually(t, "a first strong write", func() bool { return c1.Set(ctx, "{acct}.a", "100", 0).Err() == nil })
	balances := func() string {
		t.Helper()
		var out []string
		for _, k := range []string{"{acct}.a", "{acct}.b"} {
			v, err := c2.Get(ctx, k).Result()
			if errors.Is(err, redis.Nil) {
				v = "nil"
			} else if err != nil {
				t.Fatalf("GET %s: %v", k, err)
			}
			out = append(out, v)
		}
		return strings.Join(out, " ")
	}
	transfer := func(amount int, meanwhile func()) error {
		return c1.Watch(ctx, func(tx *redis.Tx) error {
			if _, err := tx.Get(ctx, "{acct}.a").Int(); err != nil {
				return err
			}
			if meanwhile != nil {
				meanwhile()
			}
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Do(ctx, "debit", "{acct}.a", amount)
				p.IncrBy(ctx, "{acct}.b", int64(amount))
				return nil
			})
			return err
		}, "{acct}.a", "{acct}.b")
	}

	if err := transfer(30, nil); err != nil {
		t.Fatalf("transfer of 30: %v", err)
	}
	if got := balances(); got != "70 30" {
		t.Fatalf("after a transfer of 30: %s, want 70 30", got)
	}

	err := transfer(10, func() {
		if err := c2.IncrBy(ctx, "{acct}.a", 5).Err(); err != nil {
			t.Fatalf("INCRBY through n2: %v", err)
		}
	})
	if !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("transfer while n2 wrote a watched key: %v, want TxFailedErr", err)
	}
	if got := balances(); got != "75 30" {
		t.Fatalf("after the aborted transfer: %s, want 75 30 (n2's credit only)", got)
	}

	err = transfer(1000, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "FLOOR ") {
		t.Fatalf("transfer past the floor: %v, want -FLOOR", err)
	}
	if got := balances(); got != "75 30" {
		t.Fatalf("after the refused transfer: %s, want 75 30", got)
	}

	// A key outside {acct}'s partition, found by the slot ranges the
	// cluster reports.
	slots, err := c1.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	rangeOf := func(key string) int {
		t.Helper()
		s, err := c1.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range slots {
			if int64(r.Start) <= s && s <= int64(r.End) {
				return i
			}
		}
		t.Fatalf("slot %d of %s is in no range", s, key)
		return -1
	}
	far := ""
	for i := 0; far == ""; i++ {
		if k := "acct" + strconv.Itoa(i); rangeOf(k) != rangeOf("{acct}.a") {
			far = k
		}
	}
	_, err = c1.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.IncrBy(ctx, "{acct}.b", 1)
		p.Set(ctx, far, "1", 0)
		return nil
	})
	if err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT Keys in request are not in the same partition") {
		t.Fatalf("EXEC over two partitions: %v, want CROSSSLOT", err)
	}
	if got := balances(); got != "75 30" {
		t.Fatalf("after the CROSSSLOT refusal: %s, want 75 30", got)
	}
	if err := c2.Get(ctx, far).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET %s after the CROSSSLOT refusal: %v", far, err)
	}

	var get *redis.StringCmd
	if _, err := c2.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "{acct}.c", "7", 0)
		p.IncrBy(ctx, "{acct}.c", 2)
		get = p.Get(ctx, "{acct}.c")
		return nil
	}); err != nil {
		t.Fatalf("SET, INCRBY, GET in one transaction: %v", err)
	}
	if get.Val() != "9" {
		t.Fatalf("GET inside MULTI after SET 7 and INCRBY 2: %q, want 9", get.Val())
	}
}
