package crdt

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestReplicas runs random histories of each type (see sim_test.go) and
// checks that:
//   - every replica always shows what the model says;
//   - every operation's delta, merged once or twice into a replica with the
//     same history, gives the state the operation gave;
//   - merging a delta a second time changes nothing;
//   - every state and delta round-trips through its encoding;
//   - Merge is commutative, associative and idempotent, with the zero value
//     as identity, on any three of the history's states and deltas, and
//     leaves its argument alone;
//   - merging all replicas in two orders gives one state, which shows the
//     model's value with every event known.
func TestReplicas(t *testing.T) {
	t.Run("counter", replicasTest(counterKit))
	t.Run("set", replicasTest(setKit))
	t.Run("register", replicasTest(registerKit))
	t.Run("flag", replicasTest(flagKit))
	t.Run("map", replicasTest(mapKit))
}

func replicasTest[T any](k *kit[T]) func(*testing.T) {
	return func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			s := newSim(rt, k)
			s.run()
			s.converge()
			for range 3 {
				s.checkLaws()
			}
		})
	}
}

// checkLaws checks the algebraic laws of Merge on three states or deltas
// of the history.
func (s *sim[T]) checkLaws() {
	pick := func(label string) T { return s.pool[rapid.IntRange(0, len(s.pool)-1).Draw(s.t, label)] }
	a, b, c := pick("a"), pick("b"), pick("c")
	was := s.enc(b)
	ab := s.join(a, b)
	if !bytes.Equal(s.enc(b), was) {
		s.t.Fatalf("Merge changed its argument")
	}
	s.same("commutative", ab, s.join(b, a))
	s.same("associative", s.join(ab, c), s.join(a, s.join(b, c)))
	s.same("idempotent", s.join(a, a), a)
	s.same("absorbing", s.join(ab, b), ab)
	s.same("identity", s.join(a, s.k.zero()), a)
	s.same("identity", s.join(s.k.zero(), a), a)
	s.roundTrip(ab)
}

// TestCounterSum: after any history, the merged counter's value is the sum
// of every increment and decrement.
func TestCounterSum(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := newSim(rt, counterKit)
		s.run()
		all, _ := s.converge()
		var sum int64
		for _, ev := range s.events {
			sum += ev.amount
		}
		if got := all.Value(); got != sum {
			rt.Fatalf("value %d, want the sum %d", got, sum)
		}
	})
}

// TestCounterOverflow: with increments near the int64 limits, an accepted
// increment changes the exact value by its delta, and a refused one (only
// when the value would overflow in its direction, or an actor's total would
// pass 2^64-1) changes nothing. Value is the exact value, saturated.
func TestCounterOverflow(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		reps := []*Counter{{}, {}}
		exact := []*big.Int{new(big.Int), new(big.Int)}
		for range rapid.IntRange(1, 30).Draw(rt, "steps") {
			r := rapid.IntRange(0, 1).Draw(rt, "replica")
			if rapid.IntRange(0, 4).Draw(rt, "kind") == 0 {
				reps[1-r].Merge(reps[r])
				exact[1-r] = valueOf(reps[1-r])
				continue
			}
			delta := rapid.OneOf(rapid.Int64(), rapid.Int64Range(-3, 3),
				rapid.SampledFrom([]int64{math.MaxInt64, math.MinInt64, math.MaxInt64 - 1})).Draw(rt, "delta")
			a := actorNames[r]
			want := new(big.Int).Add(exact[r], big.NewInt(delta))
			old, x := reps[r].Encode(), reps[r].totals[a]
			_, err := reps[r].Increment(a, delta)
			u := new(big.Int).Abs(big.NewInt(delta)).Uint64()
			refusable := (delta > 0 && (want.Cmp(big.NewInt(math.MaxInt64)) > 0 || x.p > math.MaxUint64-u)) ||
				(delta < 0 && (want.Cmp(big.NewInt(math.MinInt64)) < 0 || x.n > math.MaxUint64-u))
			switch {
			case err == nil && refusable:
				rt.Fatalf("increment by %d to %v accepted", delta, want)
			case err == nil:
				exact[r] = want
			case !errors.Is(err, ErrOverflow) || !refusable:
				rt.Fatalf("increment by %d to %v refused: %v", delta, want, err)
			case string(reps[r].Encode()) != string(old):
				rt.Fatalf("refused increment changed the counter")
			}
		}
		for r, c := range reps {
			if got := valueOf(c); got.Cmp(exact[r]) != 0 {
				rt.Fatalf("exact value %v, want %v", got, exact[r])
			}
			if got, want := c.Value(), saturate(exact[r]); got != want {
				rt.Fatalf("Value %d, want %d (exact %v)", got, want, exact[r])
			}
		}
	})
}

// valueOf returns a counter's exact value.
func valueOf(c *Counter) *big.Int {
	v := new(big.Int)
	for _, x := range c.totals {
		v.Add(v, new(big.Int).SetUint64(x.p))
		v.Sub(v, new(big.Int).SetUint64(x.n))
	}
	return v
}

func saturate(v *big.Int) int64 {
	switch {
	case v.Cmp(big.NewInt(math.MaxInt64)) > 0:
		return math.MaxInt64
	case v.Cmp(big.NewInt(math.MinInt64)) < 0:
		return math.MinInt64
	}
	return v.Int64()
}

// TestAddWins: after any history, replica r1 removes (disables) what r2
// concurrently adds (enables); after the two exchange the deltas, or their
// states, the add has won on both.
func TestAddWins(t *testing.T) {
	t.Run("set", addWinsTest(setKit, func(s *Set) *Set { return s.Remove("x") },
		func(s *Set, actor string) *Set { return ok(s.Add(actor, "x")) },
		func(s *Set) bool { return s.Contains("x") }))
	t.Run("flag", addWinsTest(flagKit, (*Flag).Disable,
		func(f *Flag, actor string) *Flag { return ok(f.Enable(actor)) },
		(*Flag).Value))
	t.Run("map set field", addWinsTest(mapKit,
		func(m *Map) *Map { return ok(m.RemoveField(KindSet, "a")) },
		func(m *Map, actor string) *Map { return ok(m.AddToSet(actor, "x", "a")) },
		func(m *Map) bool { s, _ := m.SetMembers("a"); return slices.Contains(s, "x") }))
	t.Run("map nested map", addWinsTest(mapKit,
		func(m *Map) *Map { return ok(m.RemoveField(KindMap, "a")) },
		func(m *Map, actor string) *Map { return ok(m.AssignRegister(actor, "x", "a", "b")) },
		func(m *Map) bool { v, _ := m.RegisterValues("a", "b"); return slices.Contains(v, "x") }))
}

func addWinsTest[T any](k *kit[T], remove func(T) T, add func(T, string) T, present func(T) bool) func(*testing.T) {
	return func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			s := newSim(rt, k)
			s.run()
			n := len(s.reps)
			r1 := s.replica("remover")
			r2 := (r1 + 1 + rapid.IntRange(0, n-2).Draw(rt, "adder")) % n
			x, y := s.reps[r1], s.reps[r2]
			if rapid.Bool().Draw(rt, "synced first") {
				k.merge(x, y)
				k.merge(y, x)
			}
			rm, ad := remove(x), add(y, s.actor(r2))
			if rapid.Bool().Draw(rt, "by delta") {
				k.merge(x, ad)
				k.merge(y, rm)
			} else {
				k.merge(x, y)
				k.merge(y, x)
				s.same("exchanged states", x, y)
			}
			if !present(x) || !present(y) {
				rt.Fatalf("the remove won: %v at the remover, %v at the adder", present(x), present(y))
			}
		})
	}
}
