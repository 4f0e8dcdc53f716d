package crdt

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// TestHashIncrementsCountOnce: increments of a hash's fields, each id
// retried through random replicas that merge at random, count once per id
// once every replica has merged every other; merges in any order agree;
// every state round-trips through its encoding.
func TestHashIncrementsCountOnce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var reps [3]*Hash
		for i := range reps {
			reps[i] = &Hash{}
		}
		want := map[string]int64{}
		deltaOf := map[string]int64{} // an id's amount, fixed
		fieldOf := map[string]string{}
		for step := range rapid.IntRange(1, 60).Draw(rt, "steps") {
			r := rapid.IntRange(0, 2).Draw(rt, "replica")
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0: // merge another replica in
				o := rapid.IntRange(0, 2).Draw(rt, "from")
				reps[r].Merge(reps[o])
			case 1: // an increment without an id
				f := rapid.SampledFrom([]string{"a", "b"}).Draw(rt, "field")
				d := rapid.Int64Range(-5, 5).Draw(rt, "delta")
				if _, err := reps[r].IncrementField(f, fmt.Sprint("n", r), "", d, int64(step), 256); err != nil {
					rt.Fatal(err)
				}
				want[f] += d
			default: // an increment with an id, maybe a retry
				id := fmt.Sprint("req-", rapid.IntRange(0, 6).Draw(rt, "id"))
				if _, ok := deltaOf[id]; !ok {
					deltaOf[id] = rapid.Int64Range(1, 9).Draw(rt, "amount")
					fieldOf[id] = rapid.SampledFrom([]string{"a", "b"}).Draw(rt, "id field")
					want[fieldOf[id]] += deltaOf[id]
				}
				if _, err := reps[r].IncrementField(fieldOf[id], fmt.Sprint("n", r), id, deltaOf[id], int64(step), 256); err != nil {
					rt.Fatal(err)
				}
			}
			x := reps[r]
			y, err := DecodeHash(x.Encode())
			if err != nil || !y.Equal(x) {
				rt.Fatalf("round trip: %v", err)
			}
		}
		ab := reps[0].Clone()
		ab.Merge(reps[1])
		ab.Merge(reps[2])
		ba := reps[2].Clone()
		ba.Merge(reps[1])
		ba.Merge(reps[0])
		ba.Merge(reps[0]) // idempotent
		if !ab.Equal(ba) {
			rt.Fatal("merges in two orders differ")
		}
		for f, w := range want {
			var got int64
			if t := ab.Tally(f); t != nil {
				got = t.Value()
			}
			if got != w {
				rt.Fatalf("field %s counts %d, want %d", f, got, w)
			}
		}
	})
}

// TestHashResetKeepsConcurrentIncrements: a field reset on one replica
// keeps an increment it has not seen, and a retry of an increment it took
// away does not count again.
func TestHashResetKeepsConcurrentIncrements(t *testing.T) {
	a := &Hash{}
	if _, err := a.IncrementField("f", "n1", "r1", 5, 1, 256); err != nil {
		t.Fatal(err)
	}
	b := a.Clone()
	a.ResetField("f")
	if a.Tally("f").Live() {
		t.Fatal("a reset field is live")
	}
	if _, err := b.IncrementField("f", "n2", "", 3, 2, 256); err != nil {
		t.Fatal(err)
	}
	a.Merge(b)
	if v := a.Tally("f").Value(); v != 3 || !a.Tally("f").Live() {
		t.Fatalf("after the merge: %d (live %v), want the concurrent 3", v, a.Tally("f").Live())
	}
	if applied, _ := a.IncrementField("f", "n1", "r1", 5, 3, 256); applied {
		t.Fatal("a retry of an increment the reset took away applied again")
	}
}

func FuzzDecodeHash(f *testing.F) {
	a := &Hash{}
	_, _ = a.IncrementField("x", "n1", "r1", 4, 1, 256)
	_, _ = a.Map.AssignRegister("n1", "v", "y")
	b := a.Clone()
	_, _ = b.IncrementField("x", "n2", "r1", 4, 2, 256)
	b.ResetField("z")
	c := a.Clone()
	c.Merge(b)
	c.ResetField("x")
	for _, x := range []*Hash{{}, a, b, c} {
		f.Add(x.Encode())
	}
	f.Add(a.Map.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := DecodeHash(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not wrapping ErrCorrupt: %v", err)
			}
			return
		}
		if Kind(data[1]) == KindHash {
			if got := x.Encode(); !bytes.Equal(got, data) {
				t.Fatalf("re-encoded %x as %x", data, got)
			}
		}
		y := x.Clone()
		y.Merge(x)
		if !y.Equal(x) {
			t.Fatal("merging a state with itself changed it")
		}
	})
}
