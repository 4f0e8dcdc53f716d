package verify

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// fault is one scheduled fault: it starts at Start (since the run began)
// and is healed at End.
type fault struct {
	Kind   string        `json:"kind"`
	Start  time.Duration `json:"start_ns"`
	End    time.Duration `json:"end_ns"`
	Detail string        `json:"detail"`

	nodes  []int           // nodes it acts on
	pick   int             // membership: which change
	cuts   map[[2]int]bool // partition links
	clock  time.Duration   // clock offset
	strobe bool
}

// nemeses are the fault kinds.
var nemeses = []string{"partition", "kill", "pause", "clock", "disk", "fsync", "membership"}

// schedule draws the run's faults from the seed: after a quiet first tenth,
// one fault at a time, each held for 2 to 8 seconds (at most a fifth of the
// run) with 1 to 4 quiet seconds between, ending before the last tenth.
// A clock fault moves one node's clock by up to two hours, or by up to
// maxClock when it is set: a workload whose promise rests on clocks
// agreeing within a bound tests that promise within it.
func schedule(seed uint64, kinds []string, total time.Duration, n int, maxClock time.Duration) []fault {
	if len(kinds) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var out []fault
	t := total / 10
	end := total - total/10
	for {
		hold := time.Duration(2000+rng.IntN(6000)) * time.Millisecond
		hold = min(hold, total/5)
		if t+hold > end {
			break
		}
		f := fault{Kind: kinds[rng.IntN(len(kinds))], Start: t, End: t + hold}
		switch f.Kind {
		case "partition":
			f.cuts, f.Detail = partitionShape(rng, n)
		case "kill", "pause", "disk", "fsync":
			node := rng.IntN(n)
			f.nodes, f.Detail = []int{node}, fmt.Sprintf("n%d", node+1)
			switch f.Kind {
			case "disk":
				f.Detail += " full"
			case "fsync":
				f.Detail += " log fsync fails, then SIGKILL"
			}
		case "membership":
			f.pick, f.Detail = rng.IntN(1<<20), "join, replace or leave"
		case "clock":
			node := rng.IntN(n)
			f.nodes = []int{node}
			f.clock = time.Duration(1+rng.Int64N(7200)) * time.Second
			if maxClock > 0 {
				f.clock = maxClock * (f.clock / time.Second) / 7200
			}
			if rng.IntN(2) == 0 {
				f.clock = -f.clock
			}
			f.strobe = rng.IntN(3) == 0
			f.Detail = fmt.Sprintf("n%d %+v", node+1, f.clock)
			if f.strobe {
				f.Detail += " strobing"
			}
		}
		out = append(out, f)
		t = f.End + time.Duration(1000+rng.IntN(3000))*time.Millisecond
	}
	return out
}

// partitionShape draws a partition: isolate one node, majority/minority,
// two halves, a bridge (one node sees both sides, which do not see each
// other), or a ring (each node sees only its neighbours).
func partitionShape(rng *rand.Rand, n int) (map[[2]int]bool, string) {
	perm := rng.Perm(n)
	name := func(ids []int) string {
		var s []string
		for _, i := range ids {
			s = append(s, fmt.Sprintf("n%d", i+1))
		}
		slices.Sort(s)
		return strings.Join(s, ",")
	}
	cuts := map[[2]int]bool{}
	split := func(a, b []int) {
		for _, i := range a {
			for _, j := range b {
				cuts[[2]int{i, j}], cuts[[2]int{j, i}] = true, true
			}
		}
	}
	shapes := []string{"isolate", "majority", "halves", "bridge"}
	if n >= 4 {
		shapes = append(shapes, "ring")
	}
	switch shape := shapes[rng.IntN(len(shapes))]; shape {
	case "isolate":
		split(perm[:1], perm[1:])
		return cuts, "isolate " + name(perm[:1])
	case "majority":
		k := n/2 + 1
		split(perm[:k], perm[k:])
		return cuts, fmt.Sprintf("majority %s | minority %s", name(perm[:k]), name(perm[k:]))
	case "halves":
		k := n / 2
		split(perm[:k], perm[k:])
		return cuts, fmt.Sprintf("halves %s | %s", name(perm[:k]), name(perm[k:]))
	case "bridge":
		// perm[0] is the bridge; the rest are split in two.
		rest := perm[1:]
		k := len(rest) / 2
		split(rest[:k], rest[k:])
		return cuts, fmt.Sprintf("bridge %s between %s and %s", name(perm[:1]), name(rest[:k]), name(rest[k:]))
	default: // ring
		for i := range n {
			for j := range n {
				d := (j - i + n) % n
				if i != j && d != 1 && d != n-1 {
					cuts[[2]int{perm[i], perm[j]}] = true
				}
			}
		}
		return cuts, "ring " + name(perm)
	}
}

// runNemesis applies the schedule until ctx ends or the schedule is done,
// healing each fault at its end. It records every start and stop.
func (r *runner) runNemesis(ctx context.Context, faults []fault) {
	for i := range faults {
		f := &faults[i]
		if !r.sleepUntil(ctx, f.Start) {
			return
		}
		r.apply(f)
		r.hist.record(Event{Process: -1, Type: "start", F: f.Kind, Value: f.Detail})
		if f.strobe {
			r.strobe(ctx, f)
		} else if !r.sleepUntil(ctx, f.End) {
			r.heal(f)
			r.hist.record(Event{Process: -1, Type: "stop", F: f.Kind, Value: f.Detail})
			return
		}
		r.heal(f)
		r.hist.record(Event{Process: -1, Type: "stop", F: f.Kind, Value: f.Detail})
	}
}

func (r *runner) sleepUntil(ctx context.Context, at time.Duration) bool {
	d := at - time.Since(r.hist.start)
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (r *runner) apply(f *fault) {
	var err error
	switch f.Kind {
	case "partition":
		err = r.cluster.net.setCuts(f.cuts)
	case "kill":
		err = r.cluster.nodes[f.nodes[0]].kill()
	case "pause":
		err = r.cluster.nodes[f.nodes[0]].pause()
	case "clock":
		err = r.cluster.nodes[f.nodes[0]].setClock(f.clock)
	case "disk":
		err = r.cluster.nodes[f.nodes[0]].fillDisk()
	case "fsync":
		err = r.cluster.nodes[f.nodes[0]].failFsync()
	case "membership":
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var change string
		change, err = r.cluster.changeMembership(ctx, f.pick)
		cancel()
		f.Detail = change
	}
	if err != nil {
		r.logf("nemesis %s %s: %v", f.Kind, f.Detail, err)
	}
}

func (r *runner) strobe(ctx context.Context, f *fault) {
	n := r.cluster.nodes[f.nodes[0]]
	on := true
	for time.Since(r.hist.start) < f.End && ctx.Err() == nil {
		off := time.Duration(0)
		if on {
			off = f.clock
		}
		_ = n.setClock(off)
		on = !on
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *runner) heal(f *fault) {
	var err error
	switch f.Kind {
	case "partition":
		err = r.cluster.net.setCuts(nil)
	case "kill", "fsync":
		n := r.cluster.nodes[f.nodes[0]]
		if f.Kind == "fsync" {
			// The node reopened itself after the failed fsync; a crash
			// now loses whatever it acknowledged but never synced.
			err = n.kill()
		}
		if err == nil {
			err = r.cluster.start(n)
		}
		if err == nil {
			// Let it rejoin before the next fault; bounded.
			wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = r.cluster.waitReady(wctx, []*node{n}, 30*time.Second)
			cancel()
		}
	case "pause":
		err = r.cluster.nodes[f.nodes[0]].resume()
	case "clock":
		err = r.cluster.nodes[f.nodes[0]].setClock(0)
	case "disk":
		err = r.cluster.nodes[f.nodes[0]].freeDisk()
	case "membership":
		// The fault lasts as long as its move: a bounded wait.
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		err = r.cluster.waitMoved(ctx, 90*time.Second)
		cancel()
	}
	if err != nil {
		r.logf("healing %s %s: %v", f.Kind, f.Detail, err)
	}
}

// healAll undoes every fault: at the end of a run, and on interruption.
func (r *runner) healAll() {
	if r.cluster.net != nil {
		_ = r.cluster.net.setCuts(nil)
	}
	for _, n := range r.cluster.nodes {
		_ = n.freeDisk()
		_ = n.resume()
		n.mu.Lock()
		running := n.running
		n.mu.Unlock()
		if !running {
			_ = r.cluster.start(n)
		} else {
			_ = n.setClock(0)
		}
	}
}
