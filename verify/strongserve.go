package verify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// strongServes checks that a strong namespace serves once every node is
// up and connected: a group's majority is there, so each partition must
// elect a leader and answer, whatever the faults did to its members
// (crashes, partitions, moves that changed them). After healing it writes
// a probe key into every partition through the first node and reads each
// back through every node, asking again for up to 20 s in all (elections
// after the faults). A partition that never answers, or answers another value, is a
// violation. It returns the violations and how many partitions answered.
func (r *runner) strongServes(ctx context.Context) ([]string, int) {
	place, err := r.placement(ctx)
	if err != nil {
		return []string{fmt.Sprintf("after healing, the probe of every partition: %v", err)}, 0
	}
	probes := make([]string, len(place.replicas)) // by partition
	left := len(probes)
	for i := 0; left > 0; i++ {
		key := fmt.Sprintf("probe-%d", i)
		if p := place.partition(key); probes[p] == "" {
			probes[p] = key
			left--
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	errTimeUp := errors.New("the probe's 20 s ran out before it was asked")
	retry := func(op func(ctx context.Context) error) error {
		err := errTimeUp
		for time.Now().Before(deadline) && ctx.Err() == nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			err = op(cctx)
			cancel()
			if err == nil {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return err
	}
	var violations []string
	bad := map[int]bool{}
	w := r.client(r.cluster.nodes[0], "all", "all")
	defer w.Close()
	for p, key := range probes {
		if err := retry(func(ctx context.Context) error { return w.Set(ctx, key, "probe", 0).Err() }); err != nil {
			violations = append(violations, fmt.Sprintf("after healing, partition %d (replicas %v) does not answer a write through %s: %v", p, place.replicas[p], r.cluster.nodes[0].id, err))
			bad[p] = true
		}
	}
	for _, n := range r.cluster.nodes {
		c := r.client(n, "all", "all")
		for p, key := range probes {
			if bad[p] {
				continue
			}
			var v string
			err := retry(func(ctx context.Context) (err error) { v, err = c.Get(ctx, key).Result(); return err })
			switch {
			case err != nil:
				violations = append(violations, fmt.Sprintf("after healing, partition %d (replicas %v) does not answer a read through %s: %v", p, place.replicas[p], n.id, err))
				bad[p] = true
			case v != "probe":
				violations = append(violations, fmt.Sprintf("after healing, partition %d (replicas %v) answers %q through %s for the probe written as %q", p, place.replicas[p], v, n.id, "probe"))
				bad[p] = true
			}
		}
		c.Close()
	}
	return violations, len(probes) - len(bad)
}

// serving adds strongServes's verdict to res.
func (r *runner) serving(ctx context.Context, res *checkResult) {
	v, n := r.strongServes(ctx)
	res.violations = append(res.violations, v...)
	res.stats["partitions answering after healing"] = n
}
