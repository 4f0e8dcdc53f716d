package verify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/pandodb/pando/internal/testutil"
)

var bin, sabotagedBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pando-verify-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, sabotagedBin = filepath.Join(dir, "pando"), filepath.Join(dir, "pando-sabotaged")
	for _, b := range []struct{ out, tags string }{{bin, ""}, {sabotagedBin, "pando_sabotage"}} {
		if err := testutil.BuildPando(b.out, b.tags); err != nil {
			fmt.Fprintln(os.Stderr, "building pando:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestScheduleIsDeterministic(t *testing.T) {
	a := schedule(42, []string{"partition", "kill", "pause", "clock"}, time.Minute, 5, 0)
	b := schedule(42, []string{"partition", "kill", "pause", "clock"}, time.Minute, 5, 0)
	if len(a) < 4 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed, different schedules:\n%v\n%v", a, b)
	}
	if c := schedule(43, []string{"partition", "kill", "pause", "clock"}, time.Minute, 5, 0); fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatal("different seeds gave the same schedule")
	}
	for i, f := range a {
		if f.End <= f.Start || f.End > 54*time.Second || (i > 0 && f.Start < a[i-1].End) {
			t.Fatalf("fault %d out of bounds or overlapping: %+v", i, f)
		}
	}
}

// A workload that bounds clock faults gets offsets within the bound, of
// either sign and spread over it, not only tiny ones.
func TestClockFaultsStayWithinAWorkloadsBound(t *testing.T) {
	const bound = 250 * time.Millisecond
	var most time.Duration
	neg := false
	for seed := range uint64(50) {
		for _, f := range schedule(seed, []string{"clock"}, time.Minute, 3, bound) {
			d := f.clock
			if d < 0 {
				d, neg = -d, true
			}
			if d == 0 || d > bound {
				t.Fatalf("seed %d: clock offset %v, want within (0, %v]", seed, f.clock, bound)
			}
			most = max(most, d)
		}
	}
	if most < bound/2 || !neg {
		t.Fatalf("offsets reached only %v (negative: %v); the bound is %v", most, neg, bound)
	}
}

func TestPartitionShapes(t *testing.T) {
	for _, n := range []int{3, 5} {
		seen := map[string]bool{}
		for seed := range uint64(200) {
			s := schedule(seed, []string{"partition"}, time.Minute, n, 0)
			for _, f := range s {
				shape := strings.Fields(f.Detail)[0]
				seen[shape] = true
				if len(f.cuts) == 0 {
					t.Fatalf("%s cuts nothing", f.Detail)
				}
				for l := range f.cuts {
					if shape != "ring" && !f.cuts[[2]int{l[1], l[0]}] {
						t.Fatalf("%s: cut %v is one-way", f.Detail, l)
					}
				}
				if shape == "bridge" {
					bridge := f.Detail[len("bridge n")] - '1'
					for l := range f.cuts {
						if l[0] == int(bridge) || l[1] == int(bridge) {
							t.Fatalf("%s: the bridge is cut off: %v", f.Detail, l)
						}
					}
				}
			}
		}
		want := []string{"isolate", "majority", "halves", "bridge"}
		if n >= 4 {
			want = append(want, "ring")
		}
		for _, w := range want {
			if !seen[w] {
				t.Errorf("n=%d: no %s partition in 200 schedules", n, w)
			}
		}
	}
}

func TestOutcomes(t *testing.T) {
	for msg, want := range map[string]string{
		"UNAVAILABLE 2 of 3 required replicas are up; nothing was written":                           "fail",
		"UNAVAILABLE 1 of 2 required replicas acknowledged; the write may still have landed on some": "info",
		"ERR value too large: 9 bytes, the limit is 8":                                               "fail",
		"i/o timeout": "info",
		"dial tcp 127.0.0.1:1: connect: connection refused": "fail",
		"EOF": "info",
	} {
		if got := outcome(errors.New(msg)); got != want {
			t.Errorf("%q: %s, want %s", msg, got, want)
		}
	}
}

// TestRegisterCheckerCanFail feeds the checker a stale read: a read that
// starts after a write of "a" finished and returns the older value.
func TestRegisterCheckerCanFail(t *testing.T) {
	ev := func(p int, typ, f, key, value string, at int64) Event {
		return Event{Process: p, Type: typ, F: f, Key: key, Value: value, Time: at}
	}
	good := []Event{
		ev(0, "invoke", "write", "r0", "a", 0), ev(0, "ok", "write", "r0", "a", 10),
		ev(1, "invoke", "read", "r0", "", 20), ev(1, "ok", "read", "r0", "a", 30),
	}
	stale := []Event{
		ev(0, "invoke", "write", "r0", "a", 0), ev(0, "ok", "write", "r0", "a", 10),
		ev(1, "invoke", "read", "r0", "", 20), ev(1, "ok", "read", "r0", "", 30),
	}
	// A write whose outcome is unknown may have happened at any later time.
	maybe := []Event{
		ev(0, "invoke", "write", "r0", "b", 0), ev(0, "info", "write", "r0", "b", 10),
		ev(1, "invoke", "read", "r0", "", 20), ev(1, "ok", "read", "r0", "", 30),
		ev(1, "invoke", "read", "r0", "", 40), ev(1, "ok", "read", "r0", "b", 50),
	}
	cas := func(p int, typ, key, expected, value, answer string, at int64) []Event {
		inv := Event{Process: p, Type: "invoke", F: "cas", Key: key, Value: value, Expected: expected, Time: at}
		done := inv
		done.Type, done.Value, done.Time = typ, answer, at+10
		return []Event{inv, done}
	}
	// A compare-and-set that claims to have swapped a value the key did not hold.
	badCAS := append([]Event{ev(0, "invoke", "write", "r0", "a", 0), ev(0, "ok", "write", "r0", "a", 10)},
		cas(1, "ok", "r0", "b", "c", "1", 20)...)
	goodCAS := append(append([]Event{ev(0, "invoke", "write", "r0", "a", 0), ev(0, "ok", "write", "r0", "a", 10)},
		cas(1, "ok", "r0", "a", "c", "1", 20)...), ev(0, "invoke", "read", "r0", "", 40), ev(0, "ok", "read", "r0", "c", 50))
	for name, tc := range map[string]struct {
		h    []Event
		want bool
	}{"good": {good, true}, "stale": {stale, false}, "maybe": {maybe, true}, "bad cas": {badCAS, false}, "good cas": {goodCAS, true}} {
		if got := porcupine.CheckOperations(registerModel, registerOps(tc.h)); got != tc.want {
			t.Errorf("%s history: linearizable=%v, want %v", name, got, tc.want)
		}
	}
}

func runVerify(t *testing.T, cfg Config) *Summary {
	t.Helper()
	cfg.Out = t.TempDir()
	if cfg.Binary == "" {
		cfg.Binary = bin
	}
	var log strings.Builder
	cfg.Log = &log
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sum, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("verify run: %v\n%s", err, log.String())
	}
	t.Logf("%s", lastLines(log.String(), 14))
	if _, err := os.Stat(filepath.Join(cfg.Out, "summary.json")); err != nil {
		t.Fatal("no summary.json")
	}
	return sum
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func TestSetSurvivesKillAndPause(t *testing.T) {
	sum := runVerify(t, Config{Nodes: 3, Workload: "set", Nemeses: []string{"kill", "pause"}, Time: 12 * time.Second, Rate: 150, Seed: 7, BasePort: 31000})
	if !sum.Passed() || sum.Stats["acknowledged"].(int) < 500 {
		t.Fatalf("run: %s, %v acknowledged, violations %v", sum.Verdict, sum.Stats["acknowledged"], sum.Violations)
	}
}

// TestSabotagedNodesAreCaught: nodes built with the pando_sabotage tag
// break a promise on purpose (see package sabotage); the workload that
// checks that promise must say so.
func TestSabotagedNodesAreCaught(t *testing.T) {
	for i, tc := range []struct {
		mode, workload string
		nemeses        []string
		// stat, if set, must be non-zero; want must be in a violation.
		stat, want string
		// partition replaces the nemeses with partitions where they are
		// available.
		partition bool
		// env adds to the nodes' environment.
		env []string
	}{
		{mode: "full-drops", workload: "set", nemeses: []string{"disk"}, stat: "lost"},
		{mode: "fsync-ignored", workload: "set", nemeses: []string{"fsync"}, want: "acknowledged"},
		{mode: "ack-unwritten", workload: "set", stat: "lost"},
		{mode: "ack-early", workload: "set", stat: "under-replicated"},
		{mode: "local-writes", workload: "session", nemeses: []string{"kill"}, want: "an older acknowledged value"},
		{mode: "local-writes", workload: "delete", nemeses: []string{"kill"}, want: "after an acknowledged DEL"},
		{mode: "reap-whole", workload: "ttl", nemeses: []string{"kill"}, want: "the value the expiring write replaced"},
		{mode: "ae-skip-range", workload: "convergence", nemeses: []string{"kill"}, want: "still differ"},
		{mode: "purge-unagreed", workload: "delete", nemeses: []string{"kill"}, want: "deleted, but after healing"},
		// A member cut off by a partition answers stale reads as long as it
		// lasts; without network namespaces, a paused leader's first
		// answers once resumed are stale (a shorter window).
		{mode: "stale-reads", workload: "register", nemeses: []string{"pause"}, partition: true, want: "not linearizable"},
		{mode: "txn-partial", workload: "bank", want: "the total is"},
		{mode: "counter-double", workload: "counter", want: "counted twice"},
		{mode: "ids-ignored", workload: "counter", nemeses: []string{"pause"}, want: "counted twice"},
		{mode: "ids-ignored", workload: "hincrby", nemeses: []string{"pause"}, want: "counted twice"},
		{mode: "ids-ignored", workload: "strong-incr", nemeses: []string{"pause"}, want: "counted twice"},
		{mode: "crdt-lww", workload: "sadd", nemeses: []string{"pause"}, want: "after healing"},
		{mode: "crdt-lww", workload: "hset", nemeses: []string{"pause"}, want: "after healing"},
		{mode: "update-ack-unapplied", workload: "sadd", stat: "under-replicated"},
		// Anti-entropy off: it would otherwise fill the new replicas, some
		// seconds after the switch, before the check.
		{mode: "move-no-copy", workload: "set", nemeses: []string{"membership"}, stat: "under-replicated", env: []string{"PANDO_ANTI_ENTROPY=false"}},
		// Writes during a move that miss the new replicas: after the
		// switch, reads find older values there.
		{mode: "move-no-dual", workload: "session", nemeses: []string{"membership"}, want: "an older acknowledged value", env: []string{"PANDO_ANTI_ENTROPY=false"}},
		// Strong groups that lose the members that left before the new
		// ones were added: partitions that never answer again.
		{mode: "move-no-raft", workload: "register", nemeses: []string{"membership"}, want: "after healing"},
	} {
		t.Run(tc.workload+"/"+tc.mode, func(t *testing.T) {
			if slices.Contains(tc.nemeses, "disk") && diskAvailable() != nil {
				t.Skipf("the disk nemesis cannot run here: %v", diskAvailable())
			}
			nemeses := tc.nemeses
			if tc.partition && netnsAvailable() == nil {
				nemeses = []string{"partition"}
			}
			basePort := 31100
			if !slices.Contains(nemeses, "partition") && !slices.Contains(nemeses, "disk") {
				// On loopback, on ports of its own: alongside the others
				// (runs mostly wait for their time to pass). Network
				// namespaces and mounts are not shared that way.
				t.Parallel()
				basePort = 32000 + 24*i // 4 ports a node, 2 spares with membership
			}
			cfg := Config{Binary: sabotagedBin, Env: append([]string{"PANDO_SABOTAGE=" + tc.mode}, tc.env...),
				Nodes: 3, Workload: tc.workload, Nemeses: nemeses, Time: 6 * time.Second, Rate: 150, Seed: 3, BasePort: basePort}
			if len(tc.nemeses) > 0 {
				// Room for faults and what follows them: a stale replica
				// shows only until reads repair it.
				cfg.Time, cfg.Rate = 16*time.Second, 300
			}
			sum := runVerify(t, cfg)
			if sum.Passed() {
				t.Fatalf("sabotage %s not caught by the %s workload", tc.mode, tc.workload)
			}
			if tc.stat != "" && sum.Stats[tc.stat].(int) == 0 {
				t.Fatalf("sabotage %s caught, but %s=%v", tc.mode, tc.stat, sum.Stats[tc.stat])
			}
			if tc.want != "" && !slices.ContainsFunc(sum.Violations, func(v string) bool { return strings.Contains(v, tc.want) }) {
				t.Fatalf("sabotage %s caught, but no violation says %q: %v", tc.mode, tc.want, sum.Violations)
			}
		})
	}
}

// TestStrongRegisterUnderFaults: reads, writes and compare-and-sets of a
// strong namespace through every node, while nodes are killed and paused
// (and partitioned, where network namespaces exist), form a linearizable
// history.
func TestStrongRegisterUnderFaults(t *testing.T) {
	nemeses := []string{"kill", "pause"}
	if netnsAvailable() == nil {
		nemeses = append(nemeses, "partition")
	}
	sum := runVerify(t, Config{Nodes: 3, Workload: "register", Nemeses: nemeses, Time: 16 * time.Second, Rate: 150, Seed: 5, BasePort: 31200})
	if !sum.Passed() || sum.Stats["linearizable"] != true {
		t.Fatalf("register under %v: %s %v", nemeses, sum.Verdict, sum.Violations)
	}
	if n := sum.Stats["operations checked"].(int); n < 500 {
		t.Fatalf("only %d operations checked", n)
	}
}

// TestBankUnderFaults: transfers with WATCH/MULTI/EXEC and floored debits
// between ten accounts of a strong namespace, while nodes are killed and
// paused (and partitioned, where network namespaces exist): no read ever
// sees money made or lost, or an account below zero.
func TestBankUnderFaults(t *testing.T) {
	nemeses := []string{"kill", "pause"}
	if netnsAvailable() == nil {
		nemeses = append(nemeses, "partition")
	}
	sum := runVerify(t, Config{Nodes: 3, Workload: "bank", Nemeses: nemeses, Time: 16 * time.Second, Rate: 150, Seed: 8, BasePort: 31300})
	if !sum.Passed() {
		t.Fatalf("bank under %v: %s %v", nemeses, sum.Verdict, sum.Violations)
	}
	if sum.Stats["balance reads checked"].(int) < 100 || sum.Stats["transfers that moved money"].(int) < 100 {
		t.Fatalf("too little checked: %v", sum.Stats)
	}
}

func TestPartitionsAndConvergence(t *testing.T) {
	if err := netnsAvailable(); err != nil {
		t.Skipf("partitions need network namespaces: %v", err)
	}
	sum := runVerify(t, Config{Nodes: 3, Workload: "convergence", Nemeses: []string{"partition"}, Time: 12 * time.Second, Rate: 150, Seed: 11})
	if !sum.Passed() {
		t.Fatalf("convergence under partitions: %v", sum.Violations)
	}
	partitions := 0
	for _, f := range sum.Faults {
		if f.Kind == "partition" {
			partitions++
		}
	}
	if partitions == 0 {
		t.Fatal("no partition was injected")
	}
}
