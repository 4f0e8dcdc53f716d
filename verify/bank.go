package verify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// bankWorkload is the seeds' split-brain bank, in a strong namespace: ten
// accounts of 100 under one hash tag (one partition), and workers that
// move money between them through every node (those that do not replicate
// the partition pass the commands to those that do): WATCH
// the payer, read its balance, and if it covers the amount, MULTI, DEBIT
// the payer with a floor of 0, INCRBY the payee, EXEC. Other workers read
// every balance in one transaction (MULTI, ten GETs, EXEC). Every read,
// during the run and through every node after healing, must find the
// total unchanged at 1,000 and no balance below zero, whatever the
// partitions, crashes, pauses and clocks did.
type bankWorkload struct{}

const (
	bankAccounts = 10
	bankOpening  = 100
)

func bankAccount(i int) string { return fmt.Sprintf("{bank}.acct%d", i) }

func (bankWorkload) accepts(Config) error { return nil }

func (bankWorkload) setup(ctx context.Context, r *runner) error {
	if err := r.createNamespaceModel(ctx, min(3, r.cfg.Nodes), "strong"); err != nil {
		return err
	}
	c := r.client(r.cluster.nodes[0], "all", "all")
	defer c.Close()
	var pairs []any
	for i := range bankAccounts {
		pairs = append(pairs, bankAccount(i), bankOpening)
	}
	// The partition's group elects its leader first; until then the
	// accounts cannot be opened, and nothing is written.
	var err error
	for range 100 {
		cctx, cancel := opContext(ctx)
		err = c.MSet(cctx, pairs...).Err()
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("opening the accounts: %w", err)
	}
	return nil
}

func (bankWorkload) worker(ctx context.Context, r *runner, process int, n *node, l *limiter) {
	c := r.client(n, "all", "all")
	defer c.Close()
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(process)))
	for l.wait() {
		cctx, cancel := opContext(ctx)
		if rng.IntN(10) < 3 {
			r.do(process, n, "read", "all", "", func() (string, error) { return readBalances(cctx, c) })
		} else {
			from := rng.IntN(bankAccounts)
			to := (from + 1 + rng.IntN(bankAccounts-1)) % bankAccounts
			amount := 1 + rng.IntN(20)
			key := bankAccount(from) + ">" + bankAccount(to)
			r.do(process, n, "transfer", key, strconv.Itoa(amount), func() (string, error) {
				return transfer(cctx, c, bankAccount(from), bankAccount(to), amount)
			})
		}
		cancel()
	}
}

// transfer moves amount from one account to another if the payer covers
// it: "moved", "short" (nothing moved: not enough), or "conflict"
// (nothing moved: the payer changed under the WATCH).
func transfer(ctx context.Context, c *redis.Client, from, to string, amount int) (string, error) {
	result := "moved"
	err := c.Watch(ctx, func(tx *redis.Tx) error {
		bal, err := tx.Get(ctx, from).Int()
		if err != nil {
			return err
		}
		if bal < amount {
			result = "short"
			return nil
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Do(ctx, "debit", from, amount, "floor", 0)
			p.IncrBy(ctx, to, int64(amount))
			return nil
		})
		return err
	}, from)
	if errors.Is(err, redis.TxFailedErr) {
		return "conflict", nil
	}
	return result, err
}

// readBalances reads every balance in one transaction, as "b0,b1,...".
func readBalances(ctx context.Context, c *redis.Client) (string, error) {
	cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i := range bankAccounts {
			p.Get(ctx, bankAccount(i))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	out := make([]string, len(cmds))
	for i, cmd := range cmds {
		out[i] = cmd.(*redis.StringCmd).Val()
	}
	return strings.Join(out, ","), nil
}

// judgeBalances reports what is wrong with one read of every balance.
func judgeBalances(v string) string {
	parts := strings.Split(v, ",")
	if len(parts) != bankAccounts {
		return fmt.Sprintf("%d balances, want %d", len(parts), bankAccounts)
	}
	total := 0
	for i, p := range parts {
		b, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Sprintf("account %d holds %q", i, p)
		}
		if b < 0 {
			return fmt.Sprintf("account %d is overdrawn: %d", i, b)
		}
		total += b
	}
	if total != bankAccounts*bankOpening {
		return fmt.Sprintf("the total is %d, not %d", total, bankAccounts*bankOpening)
	}
	return ""
}

func (bankWorkload) check(ctx context.Context, r *runner) checkResult {
	res := checkResult{stats: map[string]any{}}
	reads, moved := 0, 0
	for _, e := range r.hist.all() {
		if e.Type != "ok" {
			continue
		}
		switch e.F {
		case "read":
			reads++
			if bad := judgeBalances(e.Value); bad != "" {
				res.violations = append(res.violations, fmt.Sprintf("a read through %s at %.1fs: %s (%s)", e.Node, float64(e.Time)/1e9, bad, e.Value))
			}
		case "transfer":
			if e.Value == "moved" {
				moved++
			}
		}
	}
	for _, n := range r.cluster.nodes {
		c := r.client(n, "all", "all")
		var v string
		err := errors.New("no read")
		for range 20 { // the partition may still be electing after healing
			cctx, cancel := opContext(ctx)
			v, err = readBalances(cctx, c)
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		c.Close()
		switch {
		case err != nil:
			res.violations = append(res.violations, fmt.Sprintf("after healing, reading the balances through %s: %v", n.id, err))
		default:
			reads++
			if bad := judgeBalances(v); bad != "" {
				res.violations = append(res.violations, fmt.Sprintf("after healing, through %s: %s (%s)", n.id, bad, v))
			}
		}
	}
	res.stats["balance reads checked"] = reads
	res.stats["transfers that moved money"] = moved
	r.serving(ctx, &res)
	return res
}
