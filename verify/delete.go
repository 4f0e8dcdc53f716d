package verify

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// deleteWorkload checks that a DEL deletes: workers write keys at
// W=QUORUM, delete each once (DEL at QUORUM, which reads at QUORUM first),
// then read it back, each operation through a random node. A DEL that
// follows an acknowledged write must answer 1, and once a DEL is
// acknowledged the key must never return, during the run or after healing
// (read at ALL through every node), except as a write whose outcome was
// unknown, which may take effect any time after it began. Tombstones are
// purged a second and a half after their delete once every replica holds
// them, with clocks moved by at most 250ms.
type deleteWorkload struct{}

func (deleteWorkload) accepts(Config) error { return nil }

// serverFlags make tombstones purgeable a second and a half after the
// delete (the grace, plus twice the clock offset the nodes trust), so that
// purges run during the faults: a purge that forgets a replica, or a
// replica that takes a record held up longer than the grace, brings
// deleted values back. The grace must outlast a request, so requests time
// out after a second too.
func (deleteWorkload) serverFlags() []string {
	return []string{"--request-timeout=1s", "--hint-max-age=1s", "--tombstone-grace=1s",
		"--max-clock-offset=" + deleteClockBound.String(), "--anti-entropy-interval=1s"}
}

// deleteClockBound is how far the clock nemesis moves a node's clock in
// this workload. A purge trusts clocks to agree within --max-clock-offset
// (ADR 0006), as Cassandra's gc_grace_seconds trusts them; clocks hours
// apart against a one-second grace would test a promise Pando does not
// make. Outside the workload, the default grace is hours.
const deleteClockBound = 250 * time.Millisecond

func (deleteWorkload) clockBound() time.Duration { return deleteClockBound }

func (deleteWorkload) setup(ctx context.Context, r *runner) error {
	return r.createNamespace(ctx, min(3, r.cfg.Nodes))
}

// A key's life: two writes, a DEL, two reads.
const (
	delWrites = 2
	delReads  = 2
)

func (deleteWorkload) worker(ctx context.Context, r *runner, process int, _ *node, l *limiter) {
	clients := r.clients("quorum", "quorum")
	defer closeAll(clients)
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(process)))
	type life struct {
		key  string
		step int
	}
	made := 0
	fresh := func() life {
		made++
		return life{key: fmt.Sprintf("d%d-%d", process, made)}
	}
	active := []life{fresh(), fresh(), fresh()}
	for l.wait() {
		k := &active[rng.IntN(len(active))]
		i := rng.IntN(len(clients))
		c, n, key := clients[i], r.cluster.nodes[i], k.key
		switch {
		case k.step < delWrites:
			v := fmt.Sprintf("%s-%d", key, k.step)
			r.do(process, n, "write", key, v, func() (string, error) {
				cctx, cancel := opContext(ctx)
				defer cancel()
				return "", c.Set(cctx, key, v, 0).Err()
			})
		case k.step == delWrites:
			r.do(process, n, "del", key, "", func() (string, error) {
				cctx, cancel := opContext(ctx)
				defer cancel()
				n, err := c.Del(cctx, key).Result()
				return fmt.Sprint(n), err
			})
		default:
			r.do(process, n, "read", key, "", func() (string, error) { return get(ctx, c, key) })
		}
		if k.step++; k.step == delWrites+1+delReads {
			*k = fresh()
		}
	}
}

// deletedKey is what happened to one key.
type deletedKey struct {
	acked []string        // acknowledged writes, in order
	maybe map[string]bool // writes whose outcome was unknown
	// deleted: a DEL was acknowledged.
	deleted bool
}

func (d *deletedKey) judge(v string) (ok, unknown bool) {
	switch {
	case v == "":
		return true, false
	case d.maybe[v]:
		return true, true
	}
	return false, false
}

func (deleteWorkload) check(ctx context.Context, r *runner) checkResult {
	res := checkResult{stats: map[string]any{}}
	keys := map[string]*deletedKey{}
	dels, zero, reads, unknown := 0, 0, 0, 0
	for _, e := range r.hist.all() {
		if e.Process < 0 || e.Type == "invoke" {
			continue
		}
		k := keys[e.Key]
		if k == nil {
			k = &deletedKey{maybe: map[string]bool{}}
			keys[e.Key] = k
		}
		switch {
		case e.F == "write" && e.Type == "ok":
			k.acked = append(k.acked, e.Value)
		case e.F == "write" && e.Type == "info":
			k.maybe[e.Value] = true
		case e.F == "del" && e.Type == "ok":
			dels++
			k.deleted = true
			if e.Value == "0" {
				zero++
				if len(k.acked) > 0 {
					res.violations = append(res.violations, fmt.Sprintf("%s: DEL through %s answered 0, but the key held the acknowledged value %q",
						e.Key, e.Node, k.acked[len(k.acked)-1]))
				}
			}
		case e.F == "read" && e.Type == "ok" && k.deleted:
			reads++
			ok, u := k.judge(e.Value)
			if u {
				unknown++
			}
			if !ok {
				res.violations = append(res.violations, fmt.Sprintf("%s: read at QUORUM through %s after an acknowledged DEL returned %q", e.Key, e.Node, e.Value))
			}
		}
	}
	// After healing: every deleted key through every node at ALL.
	var deleted []string
	for key, k := range keys {
		if k.deleted {
			deleted = append(deleted, key)
		}
	}
	reads += r.readAtAll(ctx, deleted, &res, func(key, node, v string) {
		ok, u := keys[key].judge(v)
		if u {
			unknown++
		}
		if !ok {
			res.violations = append(res.violations, fmt.Sprintf("%s: deleted, but after healing a read at ALL through %s returned %q", key, node, v))
		}
	})
	res.stats["keys"] = len(keys)
	res.stats["deletes acknowledged"] = dels
	res.stats["deletes answering 0"] = zero
	res.stats["reads of deleted keys"] = reads
	res.stats["reads of a write with unknown outcome"] = unknown
	return res
}
