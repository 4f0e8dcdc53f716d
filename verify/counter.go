package verify

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// counterWorkload checks that a counter namespace counts exactly: workers
// add and subtract small amounts to a few counters through random nodes at
// W = ONE (so both sides of a partition keep counting) and read them at
// ONE. Each increment carries a request id (WITHID), and one that is not
// acknowledged (a timeout, a lost connection, an UNAVAILABLE that may have
// landed, a node that refuses connections) is retried with the same id
// through the other nodes, up to twice, each attempt given a second.
// After healing, every node must read, at ALL, the same value for each
// counter: the sum of the acknowledged increments plus some of those whose
// outcome stayed unknown, never less and never more. A failed increment (a
// definite refusal) must not count at all.
//
// With fields (the hincrby workload), the counters are the fields of a
// map namespace's keys, four to a key, incremented with WITHID id HINCRBY
// and read with HGET. With strong (the strong-incr workload), they are
// integers of a strong namespace, incremented with WITHID id INCRBY.
type counterWorkload struct {
	retries atomic.Int64 // attempts after the first
	fields  bool
	strong  bool
}

const counterKeys = 16

func (*counterWorkload) accepts(Config) error { return nil }

func (w *counterWorkload) setup(ctx context.Context, r *runner) error {
	if w.strong {
		return r.createNamespaceModel(ctx, min(3, r.cfg.Nodes), "strong")
	}
	typ := "counter"
	if w.fields {
		typ = "map"
	}
	return r.createNamespaceDef(ctx, fmt.Sprintf(`{"name":%q,"n":%d,"max_siblings":1024,"type":%q}`, r.ns, min(3, r.cfg.Nodes), typ))
}

// where returns the key, and the field (with fields), that hold counter k.
func (w *counterWorkload) where(k string) (key, field string) {
	if !w.fields {
		return k, ""
	}
	n, _ := strconv.Atoi(k[1:])
	return fmt.Sprintf("h%d", n/4), fmt.Sprintf("f%d", n%4)
}

// read reads counter k through c.
func (w *counterWorkload) read(ctx context.Context, c *redis.Client, k string) (string, error) {
	key, field := w.where(k)
	if !w.fields {
		return get(ctx, c, key)
	}
	v, err := c.HGet(ctx, key, field).Result()
	if err == redis.Nil {
		return "", nil
	}
	return v, err
}

// incrArgs is the command that adds by to counter k under request id.
func (w *counterWorkload) incrArgs(id, k string, by int64) []any {
	key, field := w.where(k)
	if w.fields {
		return []any{"WITHID", id, "HINCRBY", key, field, by}
	}
	return []any{"WITHID", id, "INCRBY", key, by}
}

func (w *counterWorkload) worker(ctx context.Context, r *runner, process int, _ *node, l *limiter) {
	clients := r.clients("one", "one")
	defer closeAll(clients)
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(process)))
	seq := 0
	for l.wait() {
		i := rng.IntN(len(clients))
		c, n := clients[i], r.cluster.nodes[i]
		key := fmt.Sprintf("c%d", rng.IntN(counterKeys))
		if rng.IntN(4) == 0 {
			r.do(process, n, "read", key, "", func() (string, error) { return w.read(ctx, c, key) })
			continue
		}
		by := int64(1 + rng.IntN(5))
		if rng.IntN(5) == 0 {
			by = -by
		}
		seq++
		id := fmt.Sprintf("p%d-%d", process, seq)
		r.do(process, n, "incr", key, strconv.FormatInt(by, 10), func() (string, error) {
			return w.retryIncr(ctx, clients, i, id, key, by)
		})
	}
}

// retryIncr sends WITHID id INCRBY key by (or HINCRBY) through clients[first], and
// until it is acknowledged, through the next nodes, at most three times in
// all. The answer is the first acknowledgement; else an unknown
// outcome if any attempt had one (the increment may have landed); else the
// last refusal.
func (w *counterWorkload) retryIncr(ctx context.Context, clients []*redis.Client, first int, id, key string, by int64) (string, error) {
	var unknown, refused error
	for a := range 3 {
		if a > 0 {
			w.retries.Add(1)
		}
		c := clients[(first+a)%len(clients)]
		// A second, not five: a paused or partitioned node's increments
		// time out and are retried elsewhere, the retries this checks.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		v, err := c.Do(cctx, w.incrArgs(id, key, by)...).Int64()
		cancel()
		switch outcome(err) {
		case "ok":
			return strconv.FormatInt(v, 10), nil
		case "info":
			unknown = err
		default:
			refused = err
		}
	}
	if unknown != nil {
		return "", unknown
	}
	return "", refused
}

// counterBounds is what the history allows a counter to hold.
type counterBounds struct {
	acked    int64 // the sum of the acknowledged increments
	low, top int64 // the sums of the negative and positive unknown ones
	n, maybe int
}

// unknown counts an increment of unknown outcome: it may or may not be in
// the counter.
func (b *counterBounds) unknown(by int64) {
	b.maybe++
	if by < 0 {
		b.low += by
	} else {
		b.top += by
	}
}

func (w *counterWorkload) check(ctx context.Context, r *runner) checkResult {
	res := checkResult{stats: map[string]any{}}
	bounds := map[string]*counterBounds{}
	for k := range counterKeys {
		bounds[fmt.Sprintf("c%d", k)] = &counterBounds{}
	}
	failed := 0
	// The amount is in the invoke event; the outcome in the event after it
	// for the same process.
	pending := map[int]Event{}
	for _, e := range r.hist.all() {
		if e.F != "incr" || e.Process < 0 {
			continue
		}
		if e.Type == "invoke" {
			pending[e.Process] = e
			continue
		}
		inv := pending[e.Process]
		delete(pending, e.Process)
		by, err := strconv.ParseInt(inv.Value, 10, 64)
		b := bounds[inv.Key]
		if err != nil || b == nil {
			res.violations = append(res.violations, fmt.Sprintf("unreadable increment %+v", inv))
			continue
		}
		switch e.Type {
		case "ok":
			b.acked += by
			b.n++
		case "info":
			b.unknown(by)
		default:
			failed++
		}
	}
	for _, inv := range pending { // cut off by the end of the run
		if by, err := strconv.ParseInt(inv.Value, 10, 64); err == nil && bounds[inv.Key] != nil {
			bounds[inv.Key].unknown(by)
		}
	}
	keys := make([]string, 0, len(bounds))
	for k := range bounds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	acked, maybe := 0, 0
	clients := r.clients("all", "all")
	defer closeAll(clients)
	for _, k := range keys {
		b := bounds[k]
		acked += b.n
		maybe += b.maybe
		lo, hi := b.acked+b.low, b.acked+b.top
		var seen []string
		for i, c := range clients {
			s, err := w.read(ctx, c, k)
			if err != nil {
				res.violations = append(res.violations, fmt.Sprintf("%s: cannot read through %s after healing: %v", k, r.cluster.nodes[i].id, err))
				continue
			}
			v := int64(0)
			if s != "" {
				if v, err = strconv.ParseInt(s, 10, 64); err != nil {
					res.violations = append(res.violations, fmt.Sprintf("%s through %s reads %q, not an integer", k, r.cluster.nodes[i].id, s))
					continue
				}
			}
			seen = append(seen, s)
			switch {
			case v < lo:
				res.violations = append(res.violations, fmt.Sprintf("%s through %s reads %d after healing: less than the %d acknowledged increments allow (at least %d): increments were lost",
					k, r.cluster.nodes[i].id, v, b.n, lo))
			case v > hi:
				res.violations = append(res.violations, fmt.Sprintf("%s through %s reads %d after healing: more than the %d acknowledged and %d unknown increments allow (at most %d): increments counted twice",
					k, r.cluster.nodes[i].id, v, b.n, b.maybe, hi))
			}
		}
		for _, s := range seen[1:] {
			if s != seen[0] {
				res.violations = append(res.violations, fmt.Sprintf("%s: the nodes read different values after healing: %v", k, seen))
				break
			}
		}
	}
	res.stats["acknowledged"] = acked
	res.stats["indeterminate"] = maybe
	res.stats["failed"] = failed
	res.stats["retries"] = int(w.retries.Load())
	if w.strong {
		r.serving(ctx, &res)
	}
	return res
}
