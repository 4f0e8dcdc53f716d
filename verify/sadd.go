package verify

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// fate is what the history says of one element of one key.
type fate struct{ added, addMaybe, removed, removeMaybe bool }

// saddWorkload is the set workload on a set namespace: workers add unique
// elements to eight sets (SADD at W = QUORUM) through random nodes, and
// remove some of the elements they added once the add was acknowledged
// (SREM at QUORUM, which reads at QUORUM first and so sees the add). After
// healing, every node reads every set at ALL: each acknowledged add whose
// element no acknowledged remove took away must be there (no lost add),
// each element an acknowledged remove took away must not (a remove that
// saw its add wins: nothing brings it back), and nothing never added may
// appear. Adds and removes whose outcome is unknown may have happened or
// not.
//
// With hash (the hset workload), the sets are map namespace keys and the
// elements their fields: HSET key field 1, HDEL key field, read with
// HKEYS.
type saddWorkload struct{ hash bool }

// ops names the workload's add and remove.
func (w saddWorkload) ops() (add, remove string) {
	if w.hash {
		return "hset", "hdel"
	}
	return "sadd", "srem"
}

const saddKeys = 8

func (saddWorkload) accepts(Config) error { return nil }

func (w saddWorkload) setup(ctx context.Context, r *runner) error {
	typ := "set"
	if w.hash {
		typ = "map"
	}
	return r.createNamespaceDef(ctx, fmt.Sprintf(`{"name":%q,"n":%d,"max_siblings":1024,"type":%q}`, r.ns, min(3, r.cfg.Nodes), typ))
}

func (w saddWorkload) worker(ctx context.Context, r *runner, process int, _ *node, l *limiter) {
	clients := r.clients("quorum", "quorum")
	defer closeAll(clients)
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(process)))
	var added []string // elements whose add was acknowledged, "key elem"
	seq := 0
	addOp, removeOp := w.ops()
	for l.wait() {
		i := rng.IntN(len(clients))
		c, n := clients[i], r.cluster.nodes[i]
		if len(added) > 0 && rng.IntN(4) == 0 {
			j := rng.IntN(len(added))
			key, elem, _ := strings.Cut(added[j], " ")
			added = append(added[:j], added[j+1:]...)
			r.do(process, n, removeOp, key, elem, func() (string, error) {
				cctx, cancel := opContext(ctx)
				defer cancel()
				if w.hash {
					return "", c.HDel(cctx, key, elem).Err()
				}
				return "", c.SRem(cctx, key, elem).Err()
			})
			continue
		}
		seq++
		key, elem := fmt.Sprintf("s%d", rng.IntN(saddKeys)), fmt.Sprintf("p%d-%d", process, seq)
		if typ, _ := r.do(process, n, addOp, key, elem, func() (string, error) {
			cctx, cancel := opContext(ctx)
			defer cancel()
			if w.hash {
				return "", c.HSet(cctx, key, elem, "1").Err()
			}
			return "", c.SAdd(cctx, key, elem).Err()
		}); typ == "ok" {
			added = append(added, key+" "+elem)
		}
	}
}

func (w saddWorkload) check(ctx context.Context, r *runner) checkResult {
	res := checkResult{stats: map[string]any{}}
	addOp, removeOp := w.ops()
	addCmd, removeCmd := strings.ToUpper(addOp), strings.ToUpper(removeOp)
	elems := map[string]*fate{} // "key elem"
	get := func(k string) *fate {
		if elems[k] == nil {
			elems[k] = &fate{}
		}
		return elems[k]
	}
	pending := map[int]Event{}
	for _, e := range r.hist.all() {
		if (e.F != addOp && e.F != removeOp) || e.Process < 0 {
			continue
		}
		if e.Type == "invoke" {
			pending[e.Process] = e
			continue
		}
		delete(pending, e.Process)
		f := get(e.Key + " " + e.Value)
		switch {
		case e.F == addOp && e.Type == "ok":
			f.added = true
		case e.F == addOp && e.Type == "info":
			f.addMaybe = true
		case e.F == removeOp && e.Type == "ok":
			f.removed = true
		case e.F == removeOp && e.Type == "info":
			f.removeMaybe = true
		}
	}
	for _, e := range pending { // cut off by the end of the run
		f := get(e.Key + " " + e.Value)
		if e.F == addOp {
			f.addMaybe = true
		} else {
			f.removeMaybe = true
		}
	}
	under := w.underReplicated(ctx, r, elems, &res)
	acked, removed, lost, back, unexpected := 0, 0, 0, 0, 0
	clients := r.clients("all", "all")
	defer closeAll(clients)
	for k := range saddKeys {
		key := fmt.Sprintf("s%d", k)
		for i, c := range clients {
			read := c.SMembers
			if w.hash {
				read = c.HKeys
			}
			members, err := read(ctx, key).Result()
			if err != nil {
				res.violations = append(res.violations, fmt.Sprintf("%s: cannot read through %s after healing: %v", key, r.cluster.nodes[i].id, err))
				continue
			}
			in := map[string]bool{}
			for _, m := range members {
				in[m] = true
				if f := elems[key+" "+m]; f == nil || (!f.added && !f.addMaybe) {
					unexpected++
					res.violations = append(res.violations, fmt.Sprintf("%s through %s holds %q, which was never added", key, r.cluster.nodes[i].id, m))
				}
			}
			var names []string
			for ke := range elems {
				if strings.HasPrefix(ke, key+" ") {
					names = append(names, ke)
				}
			}
			sort.Strings(names)
			for _, ke := range names {
				f, m := elems[ke], strings.TrimPrefix(ke, key+" ")
				switch {
				case f.removed && in[m]:
					back++
					res.violations = append(res.violations, fmt.Sprintf("%s through %s holds %q after healing, which an acknowledged %s removed", key, r.cluster.nodes[i].id, m, removeCmd))
				case f.added && !f.removed && !f.removeMaybe && !in[m]:
					lost++
					res.violations = append(res.violations, fmt.Sprintf("%s through %s lacks %q after healing: an acknowledged %s was lost", key, r.cluster.nodes[i].id, m, addCmd))
				}
			}
		}
	}
	for _, f := range elems {
		if f.added {
			acked++
		}
		if f.removed {
			removed++
		}
	}
	res.stats["acknowledged"] = acked
	res.stats["removed"] = removed
	res.stats["lost"] = lost
	res.stats["removed, but back"] = back
	res.stats["unexpected"] = unexpected
	res.stats["under-replicated"] = under
	return res
}

// underReplicated counts, before any repairing read, the acknowledged adds
// that no acknowledged or unknown remove may have taken away and that fewer
// than a quorum of the key's replicas hold in their own copy (read at ONE
// through each replica, which answers from its copy): an add acknowledged
// at W = QUORUM is on that many.
func (w saddWorkload) underReplicated(ctx context.Context, r *runner, elems map[string]*fate, res *checkResult) int {
	place, err := r.placement(ctx)
	if err != nil {
		res.violations = append(res.violations, "cannot read the ring: "+err.Error())
		return 0
	}
	local := map[string]*redis.Client{}
	for _, n := range r.cluster.nodes {
		local[n.id] = r.client(n, "one", "one")
		defer local[n.id].Close()
	}
	names := slices.Sorted(maps.Keys(elems))
	under := 0
	for _, ke := range names {
		f := elems[ke]
		if !f.added || f.removed || f.removeMaybe {
			continue
		}
		key, m, _ := strings.Cut(ke, " ")
		reps := place.of(key)
		have := 0
		for _, rep := range reps {
			var in bool
			if w.hash {
				in, err = local[rep].HExists(ctx, key, m).Result()
			} else {
				in, err = local[rep].SIsMember(ctx, key, m).Result()
			}
			if err == nil && in {
				have++
			}
		}
		if want := len(reps)/2 + 1; have < want {
			under++
			res.violations = append(res.violations, fmt.Sprintf("acknowledged %s %q under-replicated: on %d of %d replicas %v", key, m, have, want, reps))
		}
	}
	return under
}
