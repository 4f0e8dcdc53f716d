package dvv

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// e builds an entry; values are given as strings.
func e(node string, counter uint64, values ...string) Entry {
	ent := Entry{Node: node, Counter: counter}
	for _, v := range values {
		ent.Values = append(ent.Values, []byte(v))
	}
	return ent
}

func set(entries ...Entry) Set { return Set{Entries: entries} }

// show renders a set like dvvset's entry list: {a,2,[v2,v1]} {b,1,[]}.
func show(s Set) string {
	var parts []string
	for _, ent := range s.Entries {
		vs := make([]string, len(ent.Values))
		for i, v := range ent.Values {
			vs[i] = string(v)
		}
		parts = append(parts, fmt.Sprintf("{%s,%d,[%s]}", ent.Node, ent.Counter, strings.Join(vs, ",")))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// vec shows a context as its entries (its String method gives the token).
func vec(c Context) []VersionEntry { return c }

func sameSet(a, b Set) bool { return bytes.Equal(a.AppendBinary(nil), b.AppendBinary(nil)) }

func wantSet(t testing.TB, name string, got, want Set) {
	t.Helper()
	if !sameSet(got, want) {
		t.Errorf("%s = %s, want %s", name, show(got), show(want))
	}
	if err := got.Validate(); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func v(s string) []byte { return []byte(s) }

// write is dvvset's update(new([V]), I) and update(new(VV, [V]), I): a write
// whose coordinator starts from no state of its own.
func write(ctx Context, node, value string) Set { return Update(ctx, Set{}, node, v(value)) }

// TestJoin reproduces dvvset.erl join_test/0.
func TestJoin(t *testing.T) {
	var a Set                                    // A = new([v1]): no history
	a1 := write(nil, "a", "v1")                  // A1 = update(A, a)
	b1 := Update(a1.Context(), a1, "b", v("v2")) // B1 = update(new(join(A1),[v2]), A1, b)
	if got := a.Context(); len(got) != 0 {
		t.Errorf("join(A) = %v, want []", vec(got))
	}
	if got, want := a1.Context(), (Context{{"a", 1}}); !slices.Equal(got, want) {
		t.Errorf("join(A1) = %v, want %v", vec(got), vec(want))
	}
	if got, want := b1.Context(), (Context{{"a", 1}, {"b", 1}}); !slices.Equal(got, want) {
		t.Errorf("join(B1) = %v, want %v", vec(got), vec(want))
	}
}

// TestUpdate reproduces dvvset.erl update_test/0.
func TestUpdate(t *testing.T) {
	a0 := write(nil, "a", "v1")
	a1 := Update(a0.Context(), a0, "a", v("v2"))
	a2 := Update(a1.Context(), a1, "b", v("v3"))
	a3 := Update(a0.Context(), a1, "b", v("v4"))
	a4 := Update(a0.Context(), a1, "a", v("v5"))
	wantSet(t, "A0", a0, set(e("a", 1, "v1")))
	wantSet(t, "A1", a1, set(e("a", 2, "v2")))
	wantSet(t, "A2", a2, set(e("a", 2), e("b", 1, "v3")))
	wantSet(t, "A3", a3, set(e("a", 2, "v2"), e("b", 1, "v4")))
	wantSet(t, "A4", a4, set(e("a", 3, "v5", "v2")))
}

// TestSyncExamples reproduces dvvset.erl sync_test/0 (without the lww case,
// which needs anonymous values).
func TestSyncExamples(t *testing.T) {
	x := set(e("x", 1))
	a := write(nil, "a", "v1")
	y := write(nil, "b", "v2")
	a1 := write(a.Context(), "a", "v2")
	a3 := write(a1.Context(), "b", "v3")
	a4 := write(a1.Context(), "c", "v3")
	w := set(e("a", 1))
	z := set(e("a", 2, "v2", "v1"))

	wantSet(t, "A1", a1, set(e("a", 2, "v2")))
	wantSet(t, "sync(W,Z)", Sync(w, z), set(e("a", 2, "v2")))
	wantSet(t, "sync(Z,W)", Sync(z, w), Sync(w, z))
	wantSet(t, "sync(A1,A)", Sync(a1, a), Sync(a, a1))
	wantSet(t, "sync(A4,A3)", Sync(a4, a3), set(e("a", 2), e("b", 1, "v3"), e("c", 1, "v3")))
	wantSet(t, "sync(A3,A4)", Sync(a3, a4), Sync(a4, a3))
	wantSet(t, "sync(X,A)", Sync(x, a), set(e("a", 1, "v1"), e("x", 1)))
	wantSet(t, "sync(A,X)", Sync(a, x), Sync(x, a))
	wantSet(t, "sync(A,Y)", Sync(a, y), set(e("a", 1, "v1"), e("b", 1, "v2")))
	wantSet(t, "sync(Y,A)", Sync(y, a), Sync(a, y))
}

// TestSyncUpdate reproduces dvvset.erl syn_update_test/0, which is also the
// running client/server example of the DVVSet paper (DAIS 2014) and of the
// Dotted-Version-Vectors README: one server A, two clients.
func TestSyncUpdate(t *testing.T) {
	a0 := write(nil, "a", "v1")         // Mary writes v1 without a context
	vv1 := a0.Context()                 // Peter reads v1 with context (a,1)
	a1 := Update(nil, a0, "a", v("v2")) // Mary writes v2 without a context
	a2 := Update(vv1, a1, "a", v("v3")) // Peter writes v3 with the context of v1
	if want := (Context{{"a", 1}}); !slices.Equal(vv1, want) {
		t.Errorf("VV1 = %v, want %v", vec(vv1), vec(want))
	}
	wantSet(t, "A0", a0, set(e("a", 1, "v1")))
	// v1 and v2 are concurrent: both are kept, with dots (a,1) and (a,2).
	wantSet(t, "A1", a1, set(e("a", 2, "v2", "v1")))
	// v3 read v1, so v1 goes; v2 stays as v3's sibling.
	wantSet(t, "A2", a2, set(e("a", 3, "v3", "v2")))

	// The README's read: join gives (a,3), values [v3,v2] with dots (a,3),
	// (a,2). A client that read both and writes v4 resolves the conflict.
	wantSiblings(t, a2, []Sibling{{Dot{"a", 3}, v("v3")}, {Dot{"a", 2}, v("v2")}})
	a3 := Update(a2.Context(), a2, "a", v("v4"))
	wantSet(t, "A3", a3, set(e("a", 4, "v4")))
}

// TestEvent reproduces dvvset.erl event_test/0.
func TestEvent(t *testing.T) {
	a := write(nil, "a", "v1")
	wantSet(t, "event(A,a,v2)", event(a, "a", v("v2")), set(e("a", 2, "v2", "v1")))
	wantSet(t, "event(A,b,v2)", event(a, "b", v("v2")), set(e("a", 1, "v1"), e("b", 1, "v2")))
	wantSet(t, "event(A,0,v2)", event(a, "0", v("v2")), set(e("0", 1, "v2"), e("a", 1, "v1")))
}

// TestLessExamples reproduces dvvset.erl less_test/0. There A is made with
// update(new(v1), [a]): its id is the Erlang list [a], a node distinct from
// the atom a, rendered here as "[a]".
func TestLessExamples(t *testing.T) {
	a := write(nil, "[a]", "v1")
	b := write(a.Context(), "a", "v2")
	b2 := write(a.Context(), "b", "v2")
	b3 := write(a.Context(), "z", "v2")
	c := Update(b.Context(), a, "c", v("v3"))
	d := Update(c.Context(), b2, "d", v("v4"))
	for _, tc := range []struct {
		name string
		x, y Set
		want bool
	}{
		{"A<B", a, b, true},
		{"A<C", a, c, true},
		{"B<C", b, c, true},
		{"B<D", b, d, true},
		{"B2<D", b2, d, true},
		{"A<D", a, d, true},
		{"B2<C", b2, c, false},
		{"B<B2", b, b2, false},
		{"B2<B", b2, b, false},
		{"A<A", a, a, false},
		{"C<C", c, c, false},
		{"D<B2", d, b2, false},
		{"B3<D", b3, d, false},
	} {
		if got := Less(tc.x, tc.y); got != tc.want {
			t.Errorf("less %s = %v, want %v (%s vs %s)", tc.name, got, tc.want, show(tc.x), show(tc.y))
		}
	}
}

// TestSizeValues adapts dvvset.erl size_test/0 and ids_values_test/0
// (without anonymous values or zero-counter entries).
func TestSizeValues(t *testing.T) {
	s := set(e("a", 4, "v5", "v0"), e("b", 1), e("c", 1, "v3"))
	if got := s.Len(); got != 3 {
		t.Errorf("Len = %d, want 3", got)
	}
	if s.IsZero() || !(Set{}).IsZero() || set(e("b", 1)).IsZero() {
		t.Errorf("IsZero wrong")
	}
	if got := (Set{}).Len(); got != 0 {
		t.Errorf("Len(zero) = %d", got)
	}
	wantSiblings(t, s, []Sibling{
		{Dot{"a", 4}, v("v5")},
		{Dot{"a", 3}, v("v0")},
		{Dot{"c", 1}, v("v3")},
	})
	if got, want := s.Values(), [][]byte{v("v5"), v("v0"), v("v3")}; !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("Values = %q, want %q", got, want)
	}
}

func wantSiblings(t *testing.T, s Set, want []Sibling) {
	t.Helper()
	got := s.Siblings()
	eq := func(a, b Sibling) bool { return a.Dot == b.Dot && bytes.Equal(a.Value, b.Value) }
	if !slices.EqualFunc(got, want, eq) {
		t.Errorf("Siblings(%s) = %v, want %v", show(s), got, want)
	}
}

// TestMerge checks the per-node merge rule (dvvset merge/5) case by case.
func TestMerge(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y Entry
		want Entry
	}{
		// N1 > N2 and x superseded at least as much: keep x.
		{"x ahead, x floor higher", e("a", 5, "v5"), e("a", 3, "v3", "v2"), e("a", 5, "v5")},
		// N1 > N2, y superseded more: keep the values of x above y's floor.
		{"x ahead, y floor higher", e("a", 5, "v5", "v4", "v3", "v2"), e("a", 3, "v3"), e("a", 5, "v5", "v4", "v3")},
		{"x ahead, y superseded all", e("a", 5, "v5", "v4", "v3", "v2"), e("a", 3), e("a", 5, "v5", "v4")},
		{"x ahead, y knows nothing superseded", e("a", 4, "v4", "v3"), e("a", 2, "v2", "v1"), e("a", 4, "v4", "v3")},
		// Equal counters: the shorter list.
		{"equal, x shorter", e("a", 3, "v3"), e("a", 3, "v3", "v2"), e("a", 3, "v3")},
		{"equal, y shorter", e("a", 3, "v3", "v2"), e("a", 3, "v3"), e("a", 3, "v3")},
		{"equal, same", e("a", 3, "v3", "v2"), e("a", 3, "v3", "v2"), e("a", 3, "v3", "v2")},
		{"equal, one resolved", e("a", 3, "v3", "v2"), e("a", 3), e("a", 3)},
	} {
		for _, swap := range []bool{false, true} {
			x, y := tc.x, tc.y
			if swap {
				x, y = y, x
			}
			got := mergeEntry(x, y)
			if !sameSet(set(got), set(tc.want)) {
				t.Errorf("%s (swap %v): merge = %s, want %s", tc.name, swap, show(set(got)), show(set(tc.want)))
			}
		}
	}
}

// TestDiscard shows that discarding absorbs the context: a value a client
// deleted on one replica does not come back from a replica that still holds
// it.
func TestDiscard(t *testing.T) {
	r1 := write(nil, "a", "v1")
	r2 := r1                                          // replicated to b
	r1 = Update(nil, r1, "a", v("v2"))                // concurrent write on a
	ctx := r1.Context()                               // client reads a: v2, v1
	onB := Discard(ctx, r2)                           // and deletes both at b
	wantSet(t, "discard at b", onB, set(e("a", 2)))   // b knows (a,2) without having held v2
	wantSet(t, "sync", Sync(onB, r1), set(e("a", 2))) // v1 and v2 stay deleted
	wantSet(t, "sync", Sync(r1, onB), set(e("a", 2)))

	// Discarding with a stale context keeps what the context did not see.
	r1 = Update(nil, r1, "a", v("v3"))
	wantSet(t, "stale discard", Discard(ctx, r1), set(e("a", 3, "v3")))
	wantSet(t, "empty discard", Discard(nil, r1), r1)
}

// TestUpdateCounterFromContext: the new event's counter is above both the
// coordinator's and the context's counter for the coordinator.
func TestUpdateCounterFromContext(t *testing.T) {
	s := Update(Context{{"a", 7}}, set(e("a", 3, "v3")), "a", v("x"))
	wantSet(t, "update", s, set(e("a", 8, "x")))
	s = Update(Context{{"a", 2}}, set(e("a", 3, "v3", "v2")), "a", v("x"))
	wantSet(t, "update", s, set(e("a", 4, "x", "v3")))
	// A hand-built, unsorted context with duplicates and zeros is normalised.
	s = Update(Context{{"b", 1}, {"a", 1}, {"c", 0}, {"a", 2}}, set(e("a", 2, "v2", "v1"), e("b", 1, "w")), "c", v("x"))
	wantSet(t, "update", s, set(e("a", 2), e("b", 1), e("c", 1, "x")))
}

func TestUpdateEmptyNodePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Update with an empty node did not panic")
		}
	}()
	Update(nil, Set{}, "", v("x"))
}

func TestUpdateOverflowPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("counter overflow did not panic")
		}
	}()
	Update(nil, set(e("a", math.MaxUint64)), "a", v("x"))
}

// TestNoMutation: operations leave their arguments untouched, including the
// spare capacity of their slices.
func TestNoMutation(t *testing.T) {
	vals := make([][]byte, 2, 8)
	vals[0], vals[1] = v("v3"), v("v2")
	s := Set{Entries: append(make([]Entry, 0, 8), Entry{"a", 3, vals}, e("c", 1, "w"))}
	ctx := append(make(Context, 0, 8), VersionEntry{"a", 2}, VersionEntry{"b", 1})
	before, ctxBefore := s.AppendBinary(nil), ctx.Encode()

	u := Update(ctx, s, "a", v("x"))
	u = Update(ctx, u, "b", v("y"))
	u = Update(nil, u, "a", v("z"))
	_ = Sync(u, Discard(ctx, s))
	_ = Sync(s, u)
	_ = ctx.Merge(Context{{"z", 1}})
	_ = NewContext(ctx...)
	if !bytes.Equal(before, s.AppendBinary(nil)) || !bytes.Equal(ctxBefore, ctx.Encode()) {
		t.Fatalf("inputs modified: %s, %v", show(s), vec(ctx))
	}
	for _, x := range vals[2:cap(vals)] {
		if x != nil {
			t.Fatalf("spare capacity of an input written: %q", vals[:cap(vals)])
		}
	}
	for _, x := range s.Entries[2:cap(s.Entries)] {
		if x.Node != "" {
			t.Fatalf("spare capacity of an input written: %v", s.Entries[:cap(s.Entries)])
		}
	}
	for _, x := range ctx[2:cap(ctx)] {
		if x.Node != "" {
			t.Fatalf("spare capacity of an input written: %v", vec(ctx[:cap(ctx)]))
		}
	}
}

func TestContextHelpers(t *testing.T) {
	c := NewContext(VersionEntry{"b", 2}, VersionEntry{"a", 1}, VersionEntry{"b", 5}, VersionEntry{"c", 0}, VersionEntry{"a", 3})
	if want := (Context{{"a", 3}, {"b", 5}}); !slices.Equal(c, want) {
		t.Fatalf("NewContext = %v, want %v", vec(c), vec(want))
	}
	if NewContext() != nil || NewContext(VersionEntry{"a", 0}) != nil {
		t.Errorf("NewContext of nothing is not nil")
	}
	for node, want := range map[string]uint64{"a": 3, "b": 5, "c": 0, "": 0, "bb": 0} {
		if got := c.Get(node); got != want {
			t.Errorf("Get(%q) = %d, want %d", node, got, want)
		}
	}
	if !c.Covers(Dot{"a", 3}) || c.Covers(Dot{"a", 4}) || c.Covers(Dot{"c", 1}) || !c.Covers(Dot{"b", 1}) {
		t.Errorf("Covers wrong")
	}
	o := Context{{"a", 4}, {"c", 1}}
	if got, want := c.Merge(o), (Context{{"a", 4}, {"b", 5}, {"c", 1}}); !slices.Equal(got, want) {
		t.Errorf("Merge = %v, want %v", vec(got), vec(want))
	}
	if c.Merge(nil) == nil || Context(nil).Merge(nil) != nil {
		t.Errorf("Merge with empty wrong")
	}
	for _, tc := range []struct {
		x, y Context
		want bool
	}{
		{c, c, true},
		{c, nil, true},
		{nil, nil, true},
		{nil, c, false},
		{c, o, false},
		{o, c, false},
		{c.Merge(o), c, true},
		{c.Merge(o), o, true},
		{Context{{"a", 3}, {"b", 5}, {"c", 0}}, c, true}, // explicit zero counts as absent
		{c, Context{{"a", 3}, {"b", 5}, {"c", 0}}, true},
	} {
		if got := tc.x.Descends(tc.y); got != tc.want {
			t.Errorf("%v.Descends(%v) = %v, want %v", vec(tc.x), vec(tc.y), got, tc.want)
		}
	}
}
