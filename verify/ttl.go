package verify

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// ttlWorkload checks that expiry never resurrects: workers write a key
// without expiry ("old"), overwrite it up to 2 seconds later with a value
// that expires 1 to 2 seconds after that, and once that time has passed read
// it through random nodes at QUORUM; all at W=QUORUM. Such a read must find nothing. The older value
// must never come back, whatever the clocks do: causality, not time, put
// it behind the expiring write. The expired value must be gone too, but
// time decides that: the coordinator turns a relative TTL into an absolute
// expiry with its own clock, and each node checks it against its own. So a
// read that finds the expired value is judged only if neither it nor the
// expiring write overlapped a clock fault. After healing, once every expiry
// has passed, each key is read at ALL through every node, under the same
// rules. Keys with a write of unknown outcome are not judged.
type ttlWorkload struct{}

// ttlMargin is how long after its expiry a value is surely gone for a node
// whose clock is right.
const ttlMargin = 300 * time.Millisecond

func (ttlWorkload) accepts(Config) error { return nil }

func (ttlWorkload) setup(ctx context.Context, r *runner) error {
	return r.createNamespace(ctx, min(3, r.cfg.Nodes))
}

// ttlValue is the expiring value; it says its time to live.
func ttlValue(ttl time.Duration) string { return fmt.Sprintf("new-%dms", ttl.Milliseconds()) }

func parseTTLValue(v string) (time.Duration, bool) {
	var ms int64
	if _, err := fmt.Sscanf(v, "new-%dms", &ms); err != nil {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

func (ttlWorkload) worker(ctx context.Context, r *runner, process int, _ *node, l *limiter) {
	clients := r.clients("quorum", "quorum")
	defer closeAll(clients)
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(process)))
	type life struct {
		key     string
		step    int       // 0: write old; 1: write the expiring value; 2, 3: read
		readyAt time.Time // when the next step may run
	}
	made := 0
	fresh := func() life {
		made++
		return life{key: fmt.Sprintf("t%d-%d", process, made)}
	}
	active := make([]life, 6)
	for i := range active {
		active[i] = fresh()
	}
	for l.wait() {
		// The first key, from a random start, that can take a step now.
		var k *life
		for j, start := 0, rng.IntN(len(active)); j < len(active) && k == nil; j++ {
			if c := &active[(start+j)%len(active)]; time.Now().After(c.readyAt) {
				k = c
			}
		}
		if k == nil {
			continue
		}
		i := rng.IntN(len(clients))
		c, n, key := clients[i], r.cluster.nodes[i], k.key
		switch k.step {
		case 0:
			r.do(process, n, "write", key, "old", func() (string, error) {
				cctx, cancel := opContext(ctx)
				defer cancel()
				return "", c.Set(cctx, key, "old", 0).Err()
			})
			// Spread the expiring writes over the run, so that faults fall
			// between the two writes of some keys.
			k.readyAt = time.Now().Add(time.Duration(rng.IntN(2000)) * time.Millisecond)
		case 1:
			ttl := time.Duration(1000+rng.IntN(1000)) * time.Millisecond
			v := ttlValue(ttl)
			r.do(process, n, "write", key, v, func() (string, error) {
				cctx, cancel := opContext(ctx)
				defer cancel()
				return "", c.Set(cctx, key, v, ttl).Err()
			})
			k.readyAt = time.Now().Add(ttl + ttlMargin)
		default:
			r.do(process, n, "read", key, "", func() (string, error) { return get(ctx, c, key) })
		}
		if k.step++; k.step == 4 {
			*k = fresh()
		}
	}
}

// ttlKey is what happened to one key.
type ttlKey struct {
	oldOK, newOK, unknown bool
	// acked is when the expiring write was acknowledged, gone when its
	// value is surely gone (run time, ns).
	acked, gone int64
	// skewed: the expiring write overlapped a clock fault, so its expiry
	// may be far off.
	skewed bool
}

// judge returns what is wrong with a read of the key that began at start
// (after the expiring write's acknowledgement) and returned v; skewed says
// whether the read overlapped a clock fault.
func (k *ttlKey) judge(v string, start int64, skewed bool) string {
	switch {
	case v == "old":
		return `"old", the value the expiring write replaced`
	case v != "" && start >= k.gone && !skewed && !k.skewed:
		return fmt.Sprintf("%q, the expired value", v)
	}
	return ""
}

func (ttlWorkload) check(ctx context.Context, r *runner) checkResult {
	res := checkResult{stats: map[string]any{}}
	keys := map[string]*ttlKey{}
	invoked := map[int]int64{} // by process: its current operation's start
	clockFaults := faultWindows(r.hist.all(), "clock", time.Second)
	judged, skewed := 0, 0
	var latest int64
	for _, e := range r.hist.all() {
		if e.Process < 0 {
			continue
		}
		if e.Type == "invoke" {
			invoked[e.Process] = e.Time
			continue
		}
		k := keys[e.Key]
		if k == nil {
			k = &ttlKey{}
			keys[e.Key] = k
		}
		switch {
		case e.F == "write" && e.Type != "ok":
			k.unknown = k.unknown || e.Type == "info"
		case e.F == "write" && e.Value == "old":
			k.oldOK = true
		case e.F == "write":
			ttl, _ := parseTTLValue(e.Value)
			k.newOK, k.acked = true, e.Time
			k.gone = e.Time + (ttl + ttlMargin).Nanoseconds()
			k.skewed = overlaps(clockFaults, invoked[e.Process], e.Time)
			latest = max(latest, k.gone)
		case e.F == "read" && e.Type == "ok":
			start := invoked[e.Process]
			if !k.oldOK || !k.newOK || k.unknown || start < k.acked {
				continue
			}
			skew := overlaps(clockFaults, start, e.Time)
			if skew || k.skewed {
				skewed++
			}
			judged++
			if what := k.judge(e.Value, start, skew); what != "" {
				res.violations = append(res.violations, fmt.Sprintf("%s: read at QUORUM through %s, %s after the expiring write was acknowledged, found %s",
					e.Key, e.Node, time.Duration(start-k.acked).Round(time.Millisecond), what))
			}
		}
	}
	// After healing and every expiry: each judged key through every node.
	if wait := time.Duration(latest - time.Since(r.hist.start).Nanoseconds()); wait > 0 {
		select {
		case <-ctx.Done():
			return res
		case <-time.After(wait):
		}
	}
	var names []string
	indeterminate := 0
	for key, k := range keys {
		if k.oldOK && k.newOK && !k.unknown {
			names = append(names, key)
		} else {
			indeterminate++
		}
	}
	judged += r.readAtAll(ctx, names, &res, func(key, node, v string) {
		if what := keys[key].judge(v, time.Since(r.hist.start).Nanoseconds(), false); what != "" {
			res.violations = append(res.violations, fmt.Sprintf("%s: after healing, a read at ALL through %s found %s", key, node, what))
		}
	})
	res.stats["keys"] = len(keys)
	res.stats["keys with a write of unknown or failed outcome"] = indeterminate
	res.stats["reads judged"] = judged
	res.stats["reads judged for resurrection only (a clock fault)"] = skewed
	return res
}

// faultWindows returns the spans of a run (ns) during which a fault of kind
// was active, each extended by after.
func faultWindows(events []Event, kind string, after time.Duration) [][2]int64 {
	var out [][2]int64
	var start int64 = -1
	for _, e := range events {
		if e.Process != -1 || e.F != kind {
			continue
		}
		switch e.Type {
		case "start":
			start = e.Time
		case "stop":
			if start >= 0 {
				out = append(out, [2]int64{start, e.Time + after.Nanoseconds()})
				start = -1
			}
		}
	}
	if start >= 0 {
		out = append(out, [2]int64{start, 1 << 62})
	}
	return out
}

func overlaps(windows [][2]int64, from, to int64) bool {
	for _, w := range windows {
		if from < w[1] && to > w[0] {
			return true
		}
	}
	return false
}
