package crdt

import (
	"bytes"
	"errors"
	"maps"
	"testing"

	"pgregory.net/rapid"
)

// TestResetCounter runs random histories of increments, resets and merges
// (of states and of deltas) on three replicas against a model in which a
// reset cancels exactly the increments its replica knew of, and checks
// every replica's value after every step, the merge laws on the states and
// deltas seen, the encodings, and that all replicas agree once merged.
func TestResetCounter(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const n = 3
		type incr struct {
			actor  int
			amount int64
		}
		var incrs []incr
		reps := make([]*ResetCounter, n)
		known := make([]map[int]bool, n)     // increments each replica has merged
		cancelled := make([]map[int]bool, n) // increments each replica knows were reset
		for r := range n {
			reps[r], known[r], cancelled[r] = &ResetCounter{}, map[int]bool{}, map[int]bool{}
		}
		pool := []*ResetCounter{{}}
		type msg struct {
			d               *ResetCounter
			known, canceled map[int]bool
		}
		var sent []msg
		value := func(r int) int64 {
			var v int64
			for i := range known[r] {
				if !cancelled[r][i] {
					v += incrs[i].amount
				}
			}
			return v
		}
		for range rapid.IntRange(1, 40).Draw(rt, "steps") {
			r := rapid.IntRange(0, n-1).Draw(rt, "replica")
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0: // increment
				amount := rapid.Int64Range(-100, 100).Draw(rt, "amount")
				d, err := reps[r].Increment(actorName(r), amount)
				if err != nil {
					rt.Fatal(err)
				}
				if amount != 0 {
					incrs = append(incrs, incr{r, amount})
					known[r][len(incrs)-1] = true
				}
				// The delta carries the actor's totals: every earlier
				// increment of the actor.
				k := map[int]bool{}
				for i, in := range incrs {
					if in.actor == r && known[r][i] && amount != 0 { // a zero delta is empty
						k[i] = true
					}
				}
				sent = append(sent, msg{d, k, map[int]bool{}})
				pool = append(pool, d)
			case 1: // reset
				d := reps[r].Reset()
				maps.Copy(cancelled[r], known[r])
				sent = append(sent, msg{d, maps.Clone(known[r]), maps.Clone(known[r])})
				pool = append(pool, d)
			case 2: // merge a delta sent earlier
				if len(sent) == 0 {
					continue
				}
				m := sent[rapid.IntRange(0, len(sent)-1).Draw(rt, "delta")]
				reps[r].Merge(m.d)
				maps.Copy(known[r], m.known)
				maps.Copy(cancelled[r], m.canceled)
			case 3: // merge another replica's state
				q := rapid.IntRange(0, n-1).Draw(rt, "from")
				reps[r].Merge(reps[q].Clone())
				maps.Copy(known[r], known[q])
				maps.Copy(cancelled[r], cancelled[q])
			}
			pool = append(pool, reps[r].Clone())
			if got, want := reps[r].Value(), value(r); got != want {
				rt.Fatalf("replica %d shows %d, the model %d", r, got, want)
			}
		}
		checkPool(rt, pool, DecodeResetCounter)
		all := &ResetCounter{}
		for r := range n {
			all.Merge(reps[r])
		}
		for r := n - 1; r >= 0; r-- {
			reps[0].Merge(reps[r])
		}
		if !all.Equal(reps[0]) {
			rt.Fatalf("merged in two orders: %x and %x", all.Encode(), reps[0].Encode())
		}
	})
}

func actorName(r int) string { return string(rune('a' + r)) }

// mergeable is what checkPool needs of a type.
type mergeable[T any] interface {
	Clone() T
	Merge(T)
	Encode() []byte
	Equal(T) bool
}

// checkPool checks that every state in pool round-trips through its
// encoding, and the merge laws on three of them.
func checkPool[E any, T interface {
	*E
	mergeable[T]
}](rt *rapid.T, pool []T, decode func([]byte) (T, error)) {
	for _, x := range pool {
		b := x.Encode()
		y, err := decode(b)
		if err != nil || !bytes.Equal(y.Encode(), b) {
			rt.Fatalf("round trip of %x: %v", b, err)
		}
	}
	pick := func(label string) T { return pool[rapid.IntRange(0, len(pool)-1).Draw(rt, label)] }
	join := func(a, b T) T { c := a.Clone(); c.Merge(b); return c }
	a, b, c := pick("a"), pick("b"), pick("c")
	for _, law := range []struct {
		name string
		x, y T
	}{
		{"commutative", join(a, b), join(b, a)},
		{"associative", join(join(a, b), c), join(a, join(b, c))},
		{"idempotent", join(a, a), a},
		{"identity", join(a, T(new(E))), a},
	} {
		if !law.x.Equal(law.y) {
			rt.Fatalf("not %s", law.name)
		}
	}
}

// TestResetCounterConcurrent: an increment the reset did not see survives
// alone, and two resets that saw the same increments take them away once.
func TestResetCounterConcurrent(t *testing.T) {
	a, b := &ResetCounter{}, &ResetCounter{}
	ok(a.Increment("a", 10))
	b.Merge(a)
	c := b.Clone()
	b.Reset()
	c.Reset()
	ok(a.Increment("a", 3)) // concurrent with both resets
	for _, x := range []*ResetCounter{b, c} {
		a.Merge(x)
	}
	if v := a.Value(); v != 3 {
		t.Fatalf("value after two resets of 10 and a concurrent +3: %d, want 3", v)
	}
}

func TestDecodeResetCounterRefusesResetAboveCounts(t *testing.T) {
	r := &ResetCounter{}
	ok(r.Increment("a", 5))
	r.Reset()
	bad := &ResetCounter{reset: r.reset}
	if _, err := DecodeResetCounter(bad.Encode()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a reset above its counts decoded: %v", err)
	}
}

func FuzzDecodeResetCounter(f *testing.F) {
	a := &ResetCounter{}
	ok(a.Increment("a", 5))
	b := a.Clone()
	ok(b.Increment("b", -2))
	b.Reset()
	ok(b.Increment("a", 1))
	for _, x := range []*ResetCounter{{}, a, b} {
		f.Add(x.Encode())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := DecodeResetCounter(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not wrapping ErrCorrupt: %v", err)
			}
			return
		}
		if got := x.Encode(); !bytes.Equal(got, data) {
			t.Fatalf("re-encoded %x as %x", data, got)
		}
		y := x.Clone()
		y.Reset()
		if y.Value() != 0 {
			t.Fatalf("reset to %d", y.Value())
		}
		if _, err := DecodeResetCounter(y.Encode()); err != nil {
			t.Fatalf("after a reset: %v", err)
		}
	})
}
