package verify

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// convergenceWorkload writes keys through every node at W=ONE during the
// faults (2,000 keys, so that many are last written while a replica is
// away and never again), on nodes that keep no hints and repair nothing on reads:
// anti-entropy alone must bring the replicas together. After healing,
// every replica must hold the same record of each key, siblings and
// context alike, within Bound, with no read at any level above ONE (each
// replica is read through itself, and reads repair nothing).
type convergenceWorkload struct {
	keys  int
	Bound time.Duration
}

func (w *convergenceWorkload) accepts(Config) error { return nil }

// serverFlags leave anti-entropy the only repair: no read repair, a hint
// store too small for one hint, and a round every second.
func (w *convergenceWorkload) serverFlags() []string {
	return []string{"--read-repair=false", "--hint-max-bytes=1", "--anti-entropy-interval=1s"}
}

func (w *convergenceWorkload) setup(ctx context.Context, r *runner) error {
	w.keys, w.Bound = 2000, 30*time.Second
	return r.createNamespace(ctx, min(3, r.cfg.Nodes))
}

func (w *convergenceWorkload) worker(ctx context.Context, r *runner, process int, n *node, l *limiter) {
	c := r.client(n, "one", "one")
	defer c.Close()
	for seq := 0; l.wait(); seq++ {
		key := fmt.Sprintf("c%d", (process*7+seq)%w.keys)
		v := fmt.Sprintf("p%d-%d", process, seq)
		r.do(process, n, "write", key, v, func() (string, error) {
			cctx, cancel := opContext(ctx)
			defer cancel()
			return "", c.Set(cctx, key, v, 0).Err()
		})
	}
}

// siblings is a replica's answer to SIBLINGS: context and sorted values.
type siblings struct {
	ctx    []byte
	values []string
}

func readSiblings(ctx context.Context, c *redis.Client, key string) (siblings, error) {
	res, err := c.Do(ctx, "SIBLINGS", key).Slice()
	if err != nil {
		return siblings{}, err
	}
	var s siblings
	if len(res) == 2 {
		if b, ok := res[0].(string); ok {
			s.ctx = []byte(b)
		}
		if vs, ok := res[1].([]any); ok {
			for _, v := range vs {
				s.values = append(s.values, fmt.Sprint(v))
			}
		}
	}
	slices.Sort(s.values)
	return s, nil
}

func (w *convergenceWorkload) check(ctx context.Context, r *runner) checkResult {
	res := checkResult{stats: map[string]any{}}
	place, err := r.placement(ctx)
	if err != nil {
		res.violations = append(res.violations, "cannot read the ring: "+err.Error())
		return res
	}
	local := map[string]*redis.Client{}
	for _, n := range r.cluster.nodes {
		local[n.id] = r.client(n, "one", "one")
		defer local[n.id].Close()
	}
	start := time.Now()
	var slowest time.Duration
	withSiblings := 0
	for i := range w.keys {
		key := fmt.Sprintf("c%d", i)
		reps := place.of(key)
		deadline := start.Add(w.Bound)
		for {
			var first siblings
			same := true
			for j, rep := range reps {
				s, err := readSiblings(ctx, local[rep], key)
				if err != nil {
					same = false
					break
				}
				if j == 0 {
					first = s
				} else if !bytes.Equal(s.ctx, first.ctx) || !slices.Equal(s.values, first.values) {
					same = false
					break
				}
			}
			if same {
				if len(first.values) > 1 {
					withSiblings++
				}
				slowest = max(slowest, time.Since(start))
				break
			}
			if time.Now().After(deadline) {
				res.violations = append(res.violations, fmt.Sprintf("%s: replicas %v still differ %s after healing", key, reps, w.Bound))
				break
			}
			time.Sleep(50 * time.Millisecond) // polling the replicas
		}
	}
	res.converge = slowest
	res.stats["keys"] = w.keys
	res.stats["keys with siblings"] = withSiblings
	res.stats["convergence bound"] = w.Bound.String()
	return res
}
