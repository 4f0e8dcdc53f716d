package verify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/redis/go-redis/v9"
)

// sessionWorkload checks read-your-writes: every worker owns a few keys and
// writes and reads them through random nodes, at a pair of levels with
// R + W > N that is fixed per worker (1 and N, a majority each, N and 1).
// A read must return the worker's last acknowledged write of the key, or a
// write whose outcome was unknown (which may take effect any time after it
// began); never an older acknowledged value, and never nothing once a write
// was acknowledged. After healing, each key is read at ALL through every
// node under the same rule.
type sessionWorkload struct {
	n int // the namespace's replication factor
}

// sessionKeys is how many keys each worker owns.
const sessionKeys = 4

func (w *sessionWorkload) accepts(Config) error { return nil }

func (w *sessionWorkload) setup(ctx context.Context, r *runner) error {
	w.n = min(3, r.cfg.Nodes)
	return r.createNamespace(ctx, w.n)
}

// levels is worker p's pair: R = p mod N + 1, W = N + 1 - R.
func (w *sessionWorkload) levels(process int) (rl, wl int) {
	rl = process%w.n + 1
	return rl, w.n + 1 - rl
}

func (w *sessionWorkload) worker(ctx context.Context, r *runner, process int, _ *node, l *limiter) {
	rl, wl := w.levels(process)
	clients := r.clients(fmt.Sprint(rl), fmt.Sprint(wl))
	defer closeAll(clients)
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(process)))
	for seq := 0; l.wait(); seq++ {
		key := fmt.Sprintf("s%d-%d", process, rng.IntN(sessionKeys))
		i := rng.IntN(len(clients))
		c, n := clients[i], r.cluster.nodes[i]
		if rng.IntN(2) == 0 {
			v := fmt.Sprintf("%d-%d", process, seq)
			r.do(process, n, "write", key, v, func() (string, error) {
				cctx, cancel := opContext(ctx)
				defer cancel()
				return "", c.Set(cctx, key, v, 0).Err()
			})
		} else {
			r.do(process, n, "read", key, "", func() (string, error) { return get(ctx, c, key) })
		}
	}
}

// get reads key, "" for none.
func get(ctx context.Context, c *redis.Client, key string) (string, error) {
	cctx, cancel := opContext(ctx)
	defer cancel()
	v, err := c.Get(cctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// sessionKey is what a key's owner has done to it so far.
type sessionKey struct {
	owner int
	// acked is the last acknowledged write ("" before the first).
	acked string
	// maybe holds the values of writes whose outcome was unknown.
	maybe map[string]bool
	// ackedBefore holds the values of acknowledged writes since replaced.
	ackedBefore map[string]bool
}

// allows reports whether a read may return v.
func (k *sessionKey) allows(v string) bool { return v == k.acked || k.maybe[v] }

func (w *sessionWorkload) check(ctx context.Context, r *runner) checkResult {
	res := checkResult{stats: map[string]any{}}
	keys := map[string]*sessionKey{}
	reads, fromUnknown := 0, 0
	for _, e := range r.hist.all() {
		if e.Process < 0 || e.Type == "invoke" {
			continue
		}
		k := keys[e.Key]
		if k == nil {
			k = &sessionKey{owner: e.Process, maybe: map[string]bool{}, ackedBefore: map[string]bool{}}
			keys[e.Key] = k
		}
		switch {
		case e.F == "write" && e.Type == "ok":
			if k.acked != "" {
				k.ackedBefore[k.acked] = true
			}
			k.acked = e.Value
		case e.F == "write" && e.Type == "info":
			k.maybe[e.Value] = true
		case e.F == "read" && e.Type == "ok":
			reads++
			rl, wl := w.levels(e.Process)
			switch {
			case e.Value == k.acked:
			case k.maybe[e.Value]:
				fromUnknown++
			default:
				res.violations = append(res.violations, fmt.Sprintf("%s: read at R=%d through %s returned %s; the last write acknowledged (at W=%d) was %s",
					e.Key, rl, e.Node, k.describe(e.Value), wl, quoteOrNone(k.acked)))
			}
		}
	}
	// After healing: every key through every node at ALL.
	names := make([]string, 0, len(keys))
	for key := range keys {
		names = append(names, key)
	}
	final := r.readAtAll(ctx, names, &res, func(key, node, v string) {
		if k := keys[key]; !k.allows(v) {
			res.violations = append(res.violations, fmt.Sprintf("%s: after healing, a read at ALL through %s returned %s; the last write acknowledged was %s",
				key, node, k.describe(v), quoteOrNone(k.acked)))
		}
	})
	res.stats["keys"] = len(keys)
	res.stats["reads checked"] = reads + final
	res.stats["reads of a write with unknown outcome"] = fromUnknown
	return res
}

// describe names a value a read returned, saying if it was replaced.
func (k *sessionKey) describe(v string) string {
	switch {
	case v == "":
		return "nothing"
	case k.ackedBefore[v]:
		return fmt.Sprintf("%q, an older acknowledged value", v)
	}
	return fmt.Sprintf("%q, never written", v)
}

func quoteOrNone(v string) string {
	if v == "" {
		return "none"
	}
	return fmt.Sprintf("%q", v)
}
