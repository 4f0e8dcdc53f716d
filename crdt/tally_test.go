package crdt

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// TestTallyCountsEachIDOnce runs random histories on three replicas:
// increments with ids drawn from a small pool (so that retries, on the
// same replica or on another that has not seen the first attempt, are
// common), increments without ids, merges of whole states, and prunes
// that keep every entry. Once all replicas have merged,
// each id counts once and each increment without an id once; the merge
// laws hold on every state seen, and states round-trip.
func TestTallyCountsEachIDOnce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const n = 3
		reps := make([]*Tally, n)
		for r := range reps {
			reps[r] = &Tally{}
		}
		amount := map[string]int64{} // the amount each id carries
		var plain int64
		pool := []*Tally{{}}
		for step := range rapid.IntRange(1, 60).Draw(rt, "steps") {
			r := rapid.IntRange(0, n-1).Draw(rt, "replica")
			switch rapid.IntRange(0, 4).Draw(rt, "op") {
			case 0, 1:
				id := fmt.Sprint("r", rapid.IntRange(0, 9).Draw(rt, "id"))
				if _, ok := amount[id]; !ok {
					amount[id] = rapid.Int64Range(-50, 50).Draw(rt, "amount")
				}
				if _, err := reps[r].IncrementOnce(actorName(r), id, amount[id], int64(step)); err != nil {
					rt.Fatal(err)
				}
			case 2:
				d := rapid.Int64Range(-50, 50).Draw(rt, "plain")
				if err := reps[r].Increment(actorName(r), d); err != nil {
					rt.Fatal(err)
				}
				plain += d
			case 3:
				reps[r].Merge(reps[rapid.IntRange(0, n-1).Draw(rt, "from")].Clone())
			case 4:
				reps[r].Prune(1000)
			}
			pool = append(pool, reps[r].Clone())
		}
		all := &Tally{}
		for _, x := range reps {
			all.Merge(x)
		}
		want := plain
		for _, d := range amount {
			want += d
		}
		if got := all.Value(); got != want {
			rt.Fatalf("merged value %d, want %d (each id once)", got, want)
		}
		// Folding every correction changes no value.
		folded := all.Clone()
		folded.Prune(0)
		if folded.Value() != want || folded.LogLen() != 0 {
			rt.Fatalf("after pruning everything: %d (log %d), want %d", folded.Value(), folded.LogLen(), want)
		}
		checkPool(rt, append(pool, all, folded), DecodeTally)
	})
}

// TestTallyRetryAcrossAPartition: an increment applied on both sides of a
// partition under one id counts once after they merge, before and after
// either side folds the correction, and a retry that sees the id changes
// nothing.
func TestTallyRetryAcrossAPartition(t *testing.T) {
	a, b := &Tally{}, &Tally{}
	if err := a.Increment("a", 100); err != nil {
		t.Fatal(err)
	}
	b.Merge(a)
	for _, x := range []struct {
		t     *Tally
		actor string
	}{{a, "a"}, {b, "b"}} {
		if applied, err := x.t.IncrementOnce(x.actor, "req-1", 5, 1); err != nil || !applied {
			t.Fatalf("first application on %s: %v %v", x.actor, applied, err)
		}
	}
	if applied, _ := a.IncrementOnce("a", "req-1", 5, 2); applied {
		t.Fatal("a retry on a replica that has seen the id applied again")
	}
	folded := b.Clone()
	merged := a.Clone()
	merged.Merge(b)
	if v := merged.Value(); v != 105 {
		t.Fatalf("merged: %d, want 105", v)
	}
	merged.Prune(0) // folds the correction
	folded.Merge(a)
	folded.Prune(0)
	for _, x := range []*Tally{merged, folded} {
		if x.LogLen() != 0 || x.Value() != 105 {
			t.Fatalf("after folding: %d (log %d), want 105", x.Value(), x.LogLen())
		}
	}
	// A replica that folded meets one that did not: still once.
	unfolded := a.Clone()
	unfolded.Merge(b)
	unfolded.Merge(merged)
	if v := unfolded.Value(); v != 105 {
		t.Fatalf("folded and unfolded merged: %d, want 105", v)
	}
	// A reset takes the increment away; a retry of it after the reset
	// does not bring it back.
	unfolded.Reset()
	if applied, _ := unfolded.IncrementOnce("a", "req-1", 5, 3); applied || unfolded.Value() != 0 {
		t.Fatalf("retry after a reset: applied %v, value %d", applied, unfolded.Value())
	}
}

func FuzzDecodeTally(f *testing.F) {
	a := &Tally{}
	_ = a.Increment("a", 5)
	b := a.Clone()
	_, _ = b.IncrementOnce("b", "r1", 3, 7)
	c := b.Clone()
	_, _ = a.IncrementOnce("a", "r1", 3, 8)
	c.Merge(a)
	for _, x := range []*Tally{{}, a, b, c} {
		f.Add(x.Encode())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := DecodeTally(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not wrapping ErrCorrupt: %v", err)
			}
			return
		}
		if got := x.Encode(); !bytes.Equal(got, data) {
			t.Fatalf("re-encoded %x as %x", data, got)
		}
		v := x.Value()
		y := x.Clone()
		y.Prune(0)
		if y.Value() != v && v != 1<<63-1 && v != -1<<63 {
			t.Fatalf("pruning changed the value from %d to %d", v, y.Value())
		}
		if _, err := DecodeTally(y.Encode()); err != nil {
			t.Fatalf("after pruning: %v", err)
		}
	})
}
