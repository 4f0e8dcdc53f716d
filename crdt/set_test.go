package crdt

import (
	"slices"
	"testing"
)

// TestSetSemantics: the add-wins observed-remove set (Shapiro et al.'s
// OR-Set; Bieniusa et al.). Two replicas a and b (actors "a" and "b") run
// the steps, then exchange states; both must then hold want.
func TestSetSemantics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps func(a, b *Set)
		want  []string
	}{
		{"add then remove", func(a, b *Set) {
			ok(a.Add("a", "x"))
			a.Remove("x")
		}, nil},
		{"concurrent remove and add of a shared element: the add wins", func(a, b *Set) {
			ok(a.Add("a", "x"))
			b.Merge(a)
			a.Remove("x")
			ok(b.Add("b", "x"))
		}, []string{"x"}},
		{"a remove of an add it did not observe does nothing", func(a, b *Set) {
			ok(a.Add("a", "x"))
			b.Remove("x")
		}, []string{"x"}},
		{"a remove that observed the add beats the stale copy", func(a, b *Set) {
			ok(a.Add("a", "x"))
			b.Merge(a)
			b.Remove("x")
		}, nil},
		{"a remove removes the adds it observed, not a later one", func(a, b *Set) {
			ok(a.Add("a", "x"))
			b.Merge(a)
			ok(a.Add("a", "x")) // supersedes the first add, concurrent with the remove
			b.Remove("x")
		}, []string{"x"}},
		{"concurrent adds, then a remove that saw both", func(a, b *Set) {
			ok(a.Add("a", "x"))
			ok(b.Add("b", "x"))
			b.Merge(a)
			b.Remove("x")
			a.Merge(b)
		}, nil},
		{"re-add after remove", func(a, b *Set) {
			ok(a.Add("a", "x"))
			b.Merge(a)
			b.Remove("x")
			a.Merge(b)
			ok(a.Add("a", "x"))
		}, []string{"x"}},
		{"members in byte order", func(a, b *Set) {
			ok(a.Add("a", "b"))
			ok(b.Add("b", "a"))
			ok(b.Add("b", ""))
		}, []string{"", "a", "b"}},
	} {
		a, b := &Set{}, &Set{}
		tc.steps(a, b)
		a.Merge(b)
		b.Merge(a)
		for _, s := range []*Set{a, b} {
			if got := s.Members(); !slices.Equal(got, tc.want) || s.Len() != len(tc.want) {
				t.Errorf("%s: members %q, want %q", tc.name, got, tc.want)
			}
			for _, e := range tc.want {
				if !s.Contains(e) {
					t.Errorf("%s: does not contain %q", tc.name, e)
				}
			}
		}
		if !a.Equal(b) {
			t.Errorf("%s: replicas differ after exchanging states", tc.name)
		}
	}
}

// TestSetRemoveBeforeAdd: a replica that receives a remove's delta before
// the add it removed drops the add when it comes, though it keeps no
// tombstone for the element: the remove's context is enough.
func TestSetRemoveBeforeAdd(t *testing.T) {
	a, c := &Set{}, &Set{}
	add := ok(a.Add("a", "x"))
	rm := a.Remove("x")
	c.Merge(rm)
	if len(c.c.store) != 0 || !c.c.ctx.contains(dot{"a", 1}) {
		t.Fatalf("after the remove: store %v, context %v", c.c.store, c.c.ctx)
	}
	c.Merge(add)
	if c.Contains("x") || !c.Equal(a) {
		t.Errorf("the add came back: %q", c.Members())
	}
}

// TestSetAddSupersedes: an add replaces the element's earlier events, so an
// element keeps one event per concurrent add, not one per add.
func TestSetAddSupersedes(t *testing.T) {
	s := &Set{}
	for range 3 {
		ok(s.Add("a", "x"))
	}
	if got := s.c.store["x"]; len(got) != 1 || got[0].d != (dot{"a", 3}) {
		t.Errorf("events of x: %v, want a:3 only", got)
	}
	if _, err := s.Add("", "x"); err != ErrEmptyActor {
		t.Errorf("empty actor: %v", err)
	}
}
