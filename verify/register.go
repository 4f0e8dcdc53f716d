package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

// registerWorkload reads and writes keys and checks the history for
// linearizability with porcupine, one key at a time. Every opsPerGroup
// operations the workers move on to fresh keys (as Jepsen's independent
// keys do), so that each key's history stays small enough to check however
// long the run. Writes with an unknown outcome may take effect at any time
// after they began; reads with an unknown outcome say nothing and are
// dropped.
//
// Each key has one writer, the worker of the same number, and every worker
// reads every key. An eventual namespace does not promise linearizable
// concurrent writes: writes to one key through two nodes at once become
// siblings, one shown by a deterministic pick, and a plain SET rewritten
// over the merge it found shows its value again after another was shown
// (a run once caught exactly that). Against that model the workload checks
// what R=W=ALL does promise: a read through any node returns the latest
// write of the key's writer, never an older one.
type registerWorkload struct {
	keys int
	ops  atomic.Int64
}

// opsPerGroup is how many operations the three keys of a group receive.
const opsPerGroup = 300

func (w *registerWorkload) accepts(cfg Config) error {
	if len(cfg.Nemeses) > 0 {
		return errors.New("the register workload checks linearizability, which eventual namespaces do not promise under faults; until strong namespaces exist it runs without --nemesis, as a self-test of the checker at R=W=ALL")
	}
	return nil
}

func (w *registerWorkload) setup(ctx context.Context, r *runner) error {
	w.keys = r.cfg.Nodes * r.cfg.Concurrency // one per worker: its writer
	return r.createNamespace(ctx, min(3, r.cfg.Nodes))
}

func (w *registerWorkload) worker(ctx context.Context, r *runner, process int, n *node, l *limiter) {
	c := r.client(n, "all", "all")
	defer c.Close()
	seq := 0
	for l.wait() {
		seq++
		op := w.ops.Add(1)
		key := fmt.Sprintf("r%d-%d", op/opsPerGroup, op%int64(w.keys))
		cctx, cancel := opContext(ctx)
		if seq%2 == 0 {
			key = fmt.Sprintf("r%d-%d", op/opsPerGroup, process)
			v := fmt.Sprintf("p%d-%d", process, seq)
			r.do(process, n, "write", key, v, func() (string, error) { return "", c.Set(cctx, key, v, 0).Err() })
		} else {
			r.do(process, n, "read", key, "", func() (string, error) {
				v, err := c.Get(cctx, key).Result()
				if errors.Is(err, redis.Nil) {
					return "", nil
				}
				return v, err
			})
		}
		cancel()
	}
}

type regInput struct {
	key   string
	write bool
	value string
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
		in := input.(regInput)
		if in.write {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.write {
			return fmt.Sprintf("write(%s, %q)", in.key, in.value)
		}
		return fmt.Sprintf("read(%s) -> %q", in.key, output)
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
	return res
}

// registerOps pairs invocations with completions into porcupine operations.
func registerOps(events []Event) []porcupine.Operation {
	open := map[int]Event{}
	var ops []porcupine.Operation
	for _, e := range events {
		if e.Process < 0 || (e.F != "read" && e.F != "write") {
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
		in := regInput{key: inv.Key, write: inv.F == "write", value: inv.Value}
		op := porcupine.Operation{ClientId: e.Process, Input: in, Call: inv.Time, Return: e.Time, Output: e.Value}
		switch {
		case e.Type == "ok":
		case e.Type == "fail":
			continue
		case in.write: // info: may take effect at any time after it began
			op.Return = math.MaxInt64
			op.Output = ""
		default: // an unknown read tells nothing
			continue
		}
		ops = append(ops, op)
	}
	// Writes still open at the end (the run stopped them) may have happened.
	for p, inv := range open {
		if inv.F == "write" {
			ops = append(ops, porcupine.Operation{ClientId: p, Input: regInput{key: inv.Key, write: true, value: inv.Value}, Call: inv.Time, Return: math.MaxInt64, Output: ""})
		}
	}
	return ops
}
