package dvv

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

// The property tests run random histories of one key: 2-5 replica nodes,
// clients that read a replica (possibly long ago) and write a unique value,
// or delete what they read, through any replica, and anti-entropy between
// pairs of replicas. Besides the DVVSet states, the simulation keeps a model:
// which operations each replica has heard of, and which writes each
// operation's context covered. The DVVSet must agree with the model.

// op is a client operation: a write (with a value and a dot) or a discard.
type op struct {
	id     int
	dot    Dot    // a write's event
	value  []byte // a write's value, unique; nil for a discard
	covers []bool // covers[w]: the op's context covered write w (by write number)
}

type sim struct {
	t      *rapid.T
	nodes  []string
	states []Set
	known  [][]bool       // known[r][op id]: replica r has heard of the operation
	ops    []*op          // every operation, by id
	writes []*op          // the writes, by write number
	byVal  map[string]int // value -> write number
	reads  []Context      // every context a client ever read, for stale writes
	pool   []Set          // every state ever held, for the algebraic laws
}

var nodeNames = []string{"a", "b", "node-c", "d", "n\x00e"}

func newSim(t *rapid.T) *sim {
	n := rapid.IntRange(2, 5).Draw(t, "replicas")
	s := &sim{t: t, nodes: nodeNames[:n], byVal: map[string]int{}}
	s.states = make([]Set, n)
	s.known = make([][]bool, n)
	s.pool = []Set{{}}
	return s
}

// run performs random steps, checking every replica it touches.
func (s *sim) run() {
	steps := rapid.IntRange(0, 60).Draw(s.t, "steps")
	for range steps {
		switch k := rapid.IntRange(0, 9).Draw(s.t, "kind"); {
		case k < 5:
			s.clientOp(true)
		case k < 6:
			s.clientOp(false)
		default:
			s.antiEntropy()
		}
	}
}

// readContext returns the context a client writes with: a fresh read of a
// replica, an old read, or none (a blind write).
func (s *sim) readContext() Context {
	switch rapid.IntRange(0, 3).Draw(s.t, "read") {
	case 0:
		return nil
	case 1:
		if len(s.reads) > 0 {
			return s.reads[rapid.IntRange(0, len(s.reads)-1).Draw(s.t, "stale read")]
		}
	}
	c := s.states[rapid.IntRange(0, len(s.nodes)-1).Draw(s.t, "read replica")].Context()
	// A round trip through the text token, as a client would do it.
	c2, err := ParseContext(c.String())
	if err != nil || !slices.Equal(c, c2) {
		s.t.Fatalf("context %v: round trip gave %v, %v", vec(c), vec(c2), err)
	}
	s.reads = append(s.reads, c2)
	return c2
}

func (s *sim) clientOp(isWrite bool) {
	ctx := s.readContext()
	r := rapid.IntRange(0, len(s.nodes)-1).Draw(s.t, "coordinator")
	node, old := s.nodes[r], s.states[r]
	o := &op{id: len(s.ops), covers: make([]bool, len(s.writes))}
	for w, wr := range s.writes {
		o.covers[w] = ctx.Covers(wr.dot)
	}
	if isWrite {
		o.value = []byte("w" + strconv.Itoa(len(s.writes)))
		s.states[r] = Update(ctx, old, node, o.value)
		o.dot = Dot{node, s.states[r].Context().Get(node)}
		if want := max(old.Context().Get(node), ctx.Get(node)) + 1; o.dot.Counter != want {
			s.t.Fatalf("write at %s: counter %d, want %d", node, o.dot.Counter, want)
		}
		for _, wr := range s.writes {
			if wr.dot == o.dot {
				s.t.Fatalf("dot %v reused", o.dot)
			}
		}
		s.byVal[string(o.value)] = len(s.writes)
		s.writes = append(s.writes, o)
	} else {
		s.states[r] = Discard(ctx, old)
	}
	// The history grows by the context and, for a write, the new event.
	want := old.Context().Merge(ctx)
	if isWrite {
		want = want.Merge(Context{{node, o.dot.Counter}})
	}
	if got := s.states[r].Context(); !slices.Equal(got, want) {
		s.t.Fatalf("history after op is %v, want %v", vec(got), vec(want))
	}
	s.ops = append(s.ops, o)
	s.learn(r, o.id)
	s.check(r)
}

func (s *sim) antiEntropy() {
	a := rapid.IntRange(0, len(s.nodes)-1).Draw(s.t, "from")
	b := rapid.IntRange(0, len(s.nodes)-1).Draw(s.t, "to")
	both := rapid.Bool().Draw(s.t, "both ways")
	merged := Sync(s.states[b], s.states[a])
	s.states[b] = merged
	for id, k := range s.known[a] {
		if k {
			s.learn(b, id)
		}
	}
	if both {
		s.states[a] = merged
		s.known[a] = slices.Clone(s.known[b])
	}
	s.check(b)
	s.check(a)
}

func (s *sim) learn(r, id int) {
	for len(s.known[r]) <= id {
		s.known[r] = append(s.known[r], false)
	}
	s.known[r][id] = true
}

// live returns, by write number, the writes among the operations known (by
// id) that none of those operations' contexts covered.
func (s *sim) live(known []bool) []int {
	var out []int
	for w, wr := range s.writes {
		if wr.id >= len(known) || !known[wr.id] {
			continue
		}
		covered := false
		for id, k := range known {
			if k && w < len(s.ops[id].covers) && s.ops[id].covers[w] {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, w)
		}
	}
	return out
}

// check verifies replica r against the model: valid, encodable, and holding
// exactly the values of the writes it has heard of that no operation it has
// heard of superseded, each under the dot of its write.
func (s *sim) check(r int) {
	st := s.states[r]
	s.pool = append(s.pool, st)
	s.checkSet(fmt.Sprintf("replica %s", s.nodes[r]), st, s.live(s.known[r]))
}

func (s *sim) checkSet(name string, st Set, want []int) {
	if err := st.Validate(); err != nil {
		s.t.Fatalf("%s: %v: %s", name, err, show(st))
	}
	enc := st.AppendBinary(nil)
	dec, err := DecodeSet(enc)
	if err != nil || !bytes.Equal(dec.AppendBinary(nil), enc) {
		s.t.Fatalf("%s: round trip: %v", name, err)
	}
	var got []int
	for _, sib := range st.Siblings() {
		w, ok := s.byVal[string(sib.Value)]
		if !ok {
			s.t.Fatalf("%s: unknown value %q", name, sib.Value)
		}
		if s.writes[w].dot != sib.Dot {
			s.t.Fatalf("%s: value %q under dot %v, written as %v", name, sib.Value, sib.Dot, s.writes[w].dot)
		}
		got = append(got, w)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		s.t.Fatalf("%s: holds writes %v, want %v (lost: %v, resurrected: %v)\nstate %s",
			name, got, want, minus(want, got), minus(got, want), show(st))
	}
}

func minus(a, b []int) []int {
	var out []int
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestNoConcurrentWriteLost: after any history and a full anti-entropy
// round, the siblings are exactly the writes that no operation's context
// covered: no concurrent write lost, no superseded write resurrected. Along
// the way every replica holds exactly the live writes among those it heard of
// (checked after every step).
func TestNoConcurrentWriteLost(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t)
		s.run()
		order := rapid.Permutation(s.states).Draw(t, "final sync order")
		var final Set
		for _, st := range order {
			final = Sync(final, st)
		}
		var reverse Set
		for _, st := range slices.Backward(order) {
			reverse = Sync(st, reverse)
		}
		if !sameSet(final, reverse) {
			t.Fatalf("sync order matters: %s vs %s", show(final), show(reverse))
		}
		all := make([]bool, len(s.ops))
		for i := range all {
			all[i] = true
		}
		s.checkSet("final", final, s.live(all))
		// After the final sync every write that was live anywhere is live.
		var want Context
		for _, st := range s.states {
			want = want.Merge(st.Context())
		}
		if !slices.Equal(final.Context(), want) {
			t.Fatalf("final history %v, want %v", vec(final.Context()), vec(want))
		}
	})
}

// draw3 returns three states of one random history.
func draw3(t *rapid.T) (a, b, c Set) {
	s := newSim(t)
	s.run()
	pick := func(label string) Set { return s.pool[rapid.IntRange(0, len(s.pool)-1).Draw(t, label)] }
	return pick("a"), pick("b"), pick("c")
}

func requireSame(t *rapid.T, law string, x, y Set) {
	if !sameSet(x, y) {
		t.Fatalf("%s: %s != %s", law, show(x), show(y))
	}
}

func TestSyncLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := draw3(t)
		requireSame(t, "commutative", Sync(a, b), Sync(b, a))
		requireSame(t, "associative", Sync(Sync(a, b), c), Sync(a, Sync(b, c)))
		requireSame(t, "idempotent", Sync(a, a), a)
		requireSame(t, "absorbing", Sync(Sync(a, b), b), Sync(a, b))
		requireSame(t, "identity", Sync(a, Set{}), a)
		requireSame(t, "identity", Sync(Set{}, a), a)
		if err := Sync(a, b).Validate(); err != nil {
			t.Fatal(err)
		}
		// The history of a merge is the union of the histories.
		if got, want := Sync(a, b).Context(), a.Context().Merge(b.Context()); !slices.Equal(got, want) {
			t.Fatalf("history of sync %v, want %v", vec(got), vec(want))
		}
		// Discard(ctx, s) is Sync with the context's history and no values.
		requireSame(t, "discard", Discard(b.Context(), a), Sync(a, fromContext(b.Context())))
	})
}

func TestLessLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, _ := draw3(t)
		if Less(a, a) {
			t.Fatalf("Less is reflexive on %s", show(a))
		}
		if Less(a, b) && Less(b, a) {
			t.Fatalf("Less is symmetric on %s, %s", show(a), show(b))
		}
		ab := Sync(a, b)
		if got, want := Less(a, ab), !a.Context().Descends(b.Context()); got != want {
			t.Fatalf("Less(a, Sync(a,b)) = %v, want %v: a %s, b %s", got, want, show(a), show(b))
		}
		if Less(ab, a) || Less(ab, b) {
			t.Fatalf("a merge is older than one of its parts")
		}
		// Less agrees with the version vectors.
		if got, want := Less(a, b), b.Context().Descends(a.Context()) && !a.Context().Descends(b.Context()); got != want {
			t.Fatalf("Less(a,b) = %v, vectors say %v", got, want)
		}
		// A write made with a's context is newer than a.
		if !Less(a, Update(a.Context(), Set{}, "a", []byte("x"))) {
			t.Fatalf("a write that read a is not newer than a")
		}
	})
}

func genContext(t *rapid.T) Context {
	ent := rapid.Custom(func(t *rapid.T) VersionEntry {
		return VersionEntry{
			Node:    rapid.SampledFrom(nodeNames).Draw(t, "node"),
			Counter: uint64(rapid.IntRange(0, 6).Draw(t, "counter")),
		}
	})
	return NewContext(rapid.SliceOf(ent).Draw(t, "entries")...)
}

func TestContextLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := genContext(t), genContext(t), genContext(t)
		if !a.isCanonical() {
			t.Fatalf("NewContext not canonical: %v", vec(a))
		}
		eq := func(law string, x, y Context) {
			if !slices.Equal(x, y) {
				t.Fatalf("%s: %v != %v", law, vec(x), vec(y))
			}
		}
		eq("commutative", a.Merge(b), b.Merge(a))
		eq("associative", a.Merge(b).Merge(c), a.Merge(b.Merge(c)))
		eq("idempotent", a.Merge(a), a)
		eq("identity", a.Merge(nil), a)
		if !a.Merge(b).Descends(a) || !a.Merge(b).Descends(b) {
			t.Fatalf("merge does not descend its parts")
		}
		if got, want := a.Descends(b), slices.Equal(a.Merge(b), a); got != want {
			t.Fatalf("Descends = %v but merge says %v", got, want)
		}
		for _, x := range b {
			d := Dot{x.Node, x.Counter}
			if got, want := a.Covers(d), a.Get(x.Node) >= x.Counter; got != want {
				t.Fatalf("Covers(%v) = %v in %v", d, got, vec(a))
			}
		}
		dec, err := DecodeContext(a.Encode())
		if err != nil {
			t.Fatal(err)
		}
		eq("encode round trip", dec, a)
		parsed, err := ParseContext(a.String())
		if err != nil {
			t.Fatal(err)
		}
		eq("string round trip", parsed, a)
	})
}
