package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/pandodb/pando/internal/storage"
	"github.com/redis/go-redis/v9"
)

// workload generates operations and checks the history afterwards.
type workload interface {
	// accepts refuses configurations the workload cannot honestly check.
	accepts(Config) error
	// setup prepares the cluster (a namespace).
	setup(ctx context.Context, r *runner) error
	// worker issues operations through node n until ctx ends.
	worker(ctx context.Context, r *runner, process int, n *node, l *limiter)
	// check examines the cluster and the history after healing.
	check(ctx context.Context, r *runner) checkResult
}

var workloads = map[string]func() workload{
	"set":         func() workload { return &setWorkload{w: "quorum"} },
	"durability":  func() workload { return &setWorkload{w: "all", durability: true} },
	"register":    func() workload { return &registerWorkload{} },
	"convergence": func() workload { return &convergenceWorkload{} },
	"session":     func() workload { return &sessionWorkload{} },
	"delete":      func() workload { return deleteWorkload{} },
	"ttl":         func() workload { return ttlWorkload{} },
	"bank":        func() workload { return bankWorkload{} },
	"counter":     func() workload { return &counterWorkload{} },
	"hincrby":     func() workload { return &counterWorkload{fields: true} },
	"strong-incr": func() workload { return &counterWorkload{strong: true} },
	"sadd":        func() workload { return saddWorkload{} },
	"hset":        func() workload { return saddWorkload{hash: true} },
}

func workloadNames() []string {
	var out []string
	for k := range workloads {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// createNamespace creates the run's namespace through node 1.
func (r *runner) createNamespace(ctx context.Context, n int) error {
	return r.createNamespaceModel(ctx, n, "eventual")
}

// createNamespaceModel creates the run's namespace with n replicas and the
// given consistency model.
func (r *runner) createNamespaceModel(ctx context.Context, n int, model string) error {
	return r.createNamespaceDef(ctx, fmt.Sprintf(`{"name":%q,"n":%d,"max_siblings":1024,"model":%q}`, r.ns, n, model))
}

// createNamespaceDef creates a namespace from its JSON definition.
func (r *runner) createNamespaceDef(ctx context.Context, body string) error {
	resp, err := r.cluster.call(ctx, r.cluster.nodes[0], "POST", "/v1/ns", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		var e struct{ Error struct{ Message string } }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("creating namespace %s: %s %s", r.ns, resp.Status, e.Error.Message)
	}
	return nil
}

// placement maps keys of the run's namespace to their replicas, from the
// cluster's own ring.
type placement struct {
	ns       string
	replicas [][]string // by partition
	shift    uint
}

func (r *runner) placement(ctx context.Context) (*placement, error) {
	resp, err := r.cluster.call(ctx, r.cluster.nodes[0], "GET", "/v1/ring?ns="+url.QueryEscape(r.ns), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ring struct {
		Partitions []struct {
			Replicas []string `json:"replicas"`
		} `json:"partitions"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the ring: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ring); err != nil {
		return nil, fmt.Errorf("reading the ring: %w", err)
	}
	if len(ring.Partitions) == 0 {
		return nil, errors.New("reading the ring: no partitions")
	}
	p := &placement{ns: r.ns}
	for _, part := range ring.Partitions {
		p.replicas = append(p.replicas, part.Replicas)
	}
	// As ring.Ring.Partition: the top log2(P) bits of the hash. With P = 1
	// the shift is 64, which yields 0 in Go.
	p.shift = uint(64 - bits.TrailingZeros(uint(len(p.replicas))))
	return p, nil
}

func (p *placement) of(key string) []string { return p.replicas[p.partition(key)] }

func (p *placement) partition(key string) int {
	return int(storage.Hash(p.ns, []byte(key)) >> p.shift)
}

// do runs one recorded operation.
func (r *runner) do(process int, n *node, f, key, value string, op func() (string, error)) (string, string) {
	return r.doEvent(Event{Process: process, F: f, Key: key, Value: value, Node: n.id}, op)
}

// doEvent is do for an operation described by inv (its Type is set here).
func (r *runner) doEvent(inv Event, op func() (string, error)) (string, string) {
	inv.Type = "invoke"
	r.hist.record(inv)
	got, err := op()
	typ := outcome(err)
	e := inv
	e.Type = typ
	if err != nil && typ != "ok" {
		e.Error = err.Error()
	}
	if typ == "ok" && (inv.F == "read" || got != "") {
		e.Value = got // what a read returned, or a write's answer (DEL's count)
	}
	r.hist.record(e)
	return typ, got
}

// setWorkload adds unique elements, each a key under one prefix, at W=w.
// With durability, writes are at ALL and every replica must hold every
// acknowledged element.
type setWorkload struct {
	w          string
	durability bool
	next       atomic.Int64
}

func (s *setWorkload) accepts(Config) error { return nil }

func (s *setWorkload) setup(ctx context.Context, r *runner) error {
	return r.createNamespace(ctx, min(3, r.cfg.Nodes))
}

func (s *setWorkload) worker(ctx context.Context, r *runner, process int, n *node, l *limiter) {
	c := r.client(n, "quorum", s.w)
	defer c.Close()
	for l.wait() {
		id := s.next.Add(1)
		key := fmt.Sprintf("e:%d", id)
		r.do(process, n, "add", key, fmt.Sprint(id), func() (string, error) {
			cctx, cancel := opContext(ctx)
			defer cancel()
			return "", c.Set(cctx, key, fmt.Sprint(id), 0).Err()
		})
	}
}

func (s *setWorkload) check(ctx context.Context, r *runner) checkResult {
	res := checkResult{stats: map[string]any{}}
	place, err := r.placement(ctx)
	if err != nil {
		res.violations = append(res.violations, "cannot read the ring: "+err.Error())
		return res
	}
	acked, maybe := map[string]bool{}, map[string]bool{}
	attempted := map[string]bool{}
	for _, e := range r.hist.all() {
		if e.F != "add" {
			continue
		}
		switch e.Type {
		case "invoke":
			attempted[e.Key] = true
		case "ok":
			acked[e.Key] = true
		case "info":
			maybe[e.Key] = true
		}
	}
	// One client per node reading at ONE: a replica answers from its own
	// copy, so this counts the replicas that hold each element before any
	// repairing read.
	local := map[string]*redis.Client{}
	for _, n := range r.cluster.nodes {
		local[n.id] = r.client(n, "one", "one")
		defer local[n.id].Close()
	}
	need := 0 // replicas required per element, reported
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lost, under []string
	for _, k := range keys {
		reps := place.of(k)
		want := len(reps)/2 + 1
		if s.w == "all" {
			want = len(reps)
		}
		need = want
		have := 0
		for _, rep := range reps {
			if v, err := local[rep].Get(ctx, k).Result(); err == nil && v != "" {
				have++
			}
		}
		if have == 0 {
			lost = append(lost, k)
		} else if have < want {
			under = append(under, fmt.Sprintf("%s on %d of %d replicas %v", k, have, want, reps))
		}
	}
	// What no replica answered for may still be reachable with a merging
	// read through each node; only then is it lost.
	var reallyLost []string
	for _, k := range lost {
		found := false
		for _, n := range r.cluster.nodes {
			c := r.client(n, "all", "all")
			v, err := c.Get(ctx, k).Result()
			c.Close()
			if err == nil && v != "" {
				found = true
				break
			}
		}
		if !found {
			reallyLost = append(reallyLost, k)
		}
	}
	// Elements that were never attempted must not appear.
	unexpected := 0
	lister := r.client(r.cluster.nodes[0], "quorum", "quorum")
	defer lister.Close()
	iter := lister.Scan(ctx, 0, "e:*", 1000).Iterator()
	for iter.Next(ctx) {
		if !attempted[iter.Val()] {
			unexpected++
			res.violations = append(res.violations, "unexpected element "+iter.Val()+" was never added")
		}
	}
	if err := iter.Err(); err != nil {
		res.violations = append(res.violations, "cannot list the elements after healing: "+err.Error())
	}
	recovered := 0
	for k := range maybe {
		if v, err := local[r.cluster.nodes[0].id].Get(ctx, k).Result(); err == nil && v != "" {
			recovered++
		}
	}
	for _, k := range reallyLost {
		res.violations = append(res.violations, "lost acknowledged element "+k)
	}
	for _, u := range under {
		res.violations = append(res.violations, "acknowledged element under-replicated: "+u)
	}
	res.stats["acknowledged"] = len(acked)
	res.stats["indeterminate"] = len(maybe)
	res.stats["indeterminate found"] = recovered
	res.stats["lost"] = len(reallyLost)
	res.stats["under-replicated"] = len(under)
	res.stats["unexpected"] = unexpected
	res.stats["replicas required per element"] = need
	return res
}
