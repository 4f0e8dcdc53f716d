package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

// registerWorkload reads, writes and compare-and-sets keys of a strong
// namespace through every node, and checks the history for linearizability
// with porcupine, one key at a time. Three keys are in play at once, and
// every opsPerGroup operations the workers move on to three fresh keys (as
// Jepsen's independent keys do), so that each key's history stays small
// enough to check however long the run. Writes with an unknown outcome may
// take effect at any time after they began; reads with an unknown outcome
// say nothing and are dropped; operations refused for want of a majority
// ("nothing was done") did not happen.
type registerWorkload struct {
	ops atomic.Int64
}

// opsPerGroup is how many operations the three keys of a group receive.
const opsPerGroup = 300

func (w *registerWorkload) accepts(Config) error { return nil }

func (w *registerWorkload) setup(ctx context.Context, r *runner) error {
	return r.createNamespaceModel(ctx, min(3, r.cfg.Nodes), "strong")
}

func (w *registerWorkload) worker(ctx context.Context, r *runner, process int, n *node, l *limiter) {
	c := r.client(n, "all", "all")
	defer c.Close()
	rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(process)))
	last := map[string]string{} // the value this worker last read of each key
	seq := 0
	for l.wait() {
		seq++
		op := w.ops.Add(1)
		key := fmt.Sprintf("r%d-%d", op/opsPerGroup, op%3)
		v := fmt.Sprintf("p%d-%d", process, seq)
		cctx, cancel := opContext(ctx)
		switch x := rng.IntN(10); {
		case x < 4:
			_, got := r.do(process, n, "read", key, "", func() (string, error) {
				v, err := c.Get(cctx, key).Result()
				if errors.Is(err, redis.Nil) {
					return "", nil
				}
				return v, err
			})
			last[key] = got
		case x < 7:
			r.do(process, n, "write", key, v, func() (string, error) { return "", c.Set(cctx, key, v, 0).Err() })
		default:
			expected := last[key]
			r.doEvent(Event{Process: process, F: "cas", Key: key, Value: v, Expected: expected, Node: n.id}, func() (string, error) {
				var cmd *redis.Cmd
				if expected == "" {
					cmd = c.Do(cctx, "casnx", key, v)
				} else {
					cmd = c.Do(cctx, "cas", key, expected, v)
				}
				swapped, err := cmd.Int()
				return strconv.Itoa(swapped), err
			})
		}
		cancel()
	}
}

type regInput struct {
	key      string
	f        string // read, write, cas
	value    string // write and cas: the new value
	expected string // cas: "" for absent
}

// regOutput is a read's value or a compare-and-set's answer ("1" swapped,
// "0" not); unknown marks a write or cas whose outcome is unknown.
type regOutput struct {
	value   string
	unknown bool
}

var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			k := op.Input.(regInput).key
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, k := range order {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in, out, st := input.(regInput), output.(regOutput), state.(string)
		switch in.f {
		case "write":
			return true, in.value
		case "cas":
			if st == in.expected {
				return out.unknown || out.value == "1", in.value
			}
			return out.unknown || out.value == "0", st
		}
		return out.value == st, st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		switch {
		case in.f == "write":
			return fmt.Sprintf("write(%s, %q)", in.key, in.value)
		case in.f == "cas" && out.unknown:
			return fmt.Sprintf("cas(%s, %q, %q) -> unknown", in.key, in.expected, in.value)
		case in.f == "cas":
			return fmt.Sprintf("cas(%s, %q, %q) -> %s", in.key, in.expected, in.value, out.value)
		}
		return fmt.Sprintf("read(%s) -> %q", in.key, out.value)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

func (w *registerWorkload) check(ctx context.Context, r *runner) checkResult {
	res := checkResult{stats: map[string]any{}}
	ops := registerOps(r.hist.all())
	res.stats["operations checked"] = len(ops)
	result, info := porcupine.CheckOperationsVerbose(registerModel, ops, 2*time.Minute)
	switch result {
	case porcupine.Ok:
		res.stats["linearizable"] = true
	case porcupine.Illegal:
		res.stats["linearizable"] = false
		path := filepath.Join(r.cfg.Out, "register.html")
		if err := porcupine.VisualizePath(registerModel, info, path); err == nil {
			res.stats["visualization"] = path
		}
		res.violations = append(res.violations, "history is not linearizable (see "+path+")")
	default:
		res.violations = append(res.violations, "linearizability check timed out: undecided")
	}
	r.serving(ctx, &res)
	return res
}

// registerOps pairs invocations with completions into porcupine operations.
func registerOps(events []Event) []porcupine.Operation {
	open := map[int]Event{}
	var ops []porcupine.Operation
	unknown := func(inv Event) porcupine.Operation {
		// It may take effect at any time after it began: it never returns.
		return porcupine.Operation{ClientId: inv.Process, Input: regInput{key: inv.Key, f: inv.F, value: inv.Value, expected: inv.Expected},
			Call: inv.Time, Return: math.MaxInt64, Output: regOutput{unknown: true}}
	}
	for _, e := range events {
		if e.Process < 0 || (e.F != "read" && e.F != "write" && e.F != "cas") {
			continue
		}
		if e.Type == "invoke" {
			open[e.Process] = e
			continue
		}
		inv, ok := open[e.Process]
		if !ok {
			continue
		}
		delete(open, e.Process)
		in := regInput{key: inv.Key, f: inv.F, value: inv.Value, expected: inv.Expected}
		switch {
		case e.Type == "ok":
			out := regOutput{value: e.Value}
			if in.f == "write" {
				out.value = ""
			}
			ops = append(ops, porcupine.Operation{ClientId: e.Process, Input: in, Call: inv.Time, Return: e.Time, Output: out})
		case e.Type == "fail":
		case in.f != "read":
			ops = append(ops, unknown(inv))
		}
		// An unknown read tells nothing.
	}
	// Writes still open at the end (the run stopped them) may have happened.
	for _, inv := range open {
		if inv.F != "read" {
			ops = append(ops, unknown(inv))
		}
	}
	return ops
}
