package crdt

import (
	"slices"
	"testing"
)

// TestRegisterSemantics: the multi-value register (Shapiro et al.'s
// MV-Register, as Dynamo's siblings). Replicas a and b run the steps
// and exchange states.
func TestRegisterSemantics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps func(a, b *Register)
		want  []string
	}{
		{"an assign supersedes what it observed", func(a, b *Register) {
			ok(a.Assign("a", "v1"))
			b.Merge(a)
			ok(b.Assign("b", "v2"))
		}, []string{"v2"}},
		{"concurrent assigns are siblings", func(a, b *Register) {
			ok(a.Assign("a", "v1"))
			ok(b.Assign("b", "v2"))
		}, []string{"v1", "v2"}},
		{"an assign that saw the siblings resolves them", func(a, b *Register) {
			ok(a.Assign("a", "v1"))
			ok(b.Assign("b", "v2"))
			a.Merge(b)
			ok(a.Assign("a", "v3"))
		}, []string{"v3"}},
		{"equal siblings show once", func(a, b *Register) {
			ok(a.Assign("a", "v"))
			ok(b.Assign("b", "v"))
		}, []string{"v"}},
		{"a concurrent assign survives a clear", func(a, b *Register) {
			ok(a.Assign("a", "v1"))
			b.Merge(a)
			b.Clear()
			ok(a.Assign("a", "v2"))
		}, []string{"v2"}},
		{"a clear that saw the assign empties the register", func(a, b *Register) {
			ok(a.Assign("a", "v1"))
			b.Merge(a)
			b.Clear()
		}, []string{}},
	} {
		a, b := &Register{}, &Register{}
		tc.steps(a, b)
		a.Merge(b)
		b.Merge(a)
		if got := a.Values(); !slices.Equal(got, tc.want) || !a.Equal(b) {
			t.Errorf("%s: values %q, want %q (replicas equal: %v)", tc.name, got, tc.want, a.Equal(b))
		}
	}
}

// TestFlagSemantics: the enable-wins flag (Almeida et al.'s EWFlag).
func TestFlagSemantics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps func(a, b *Flag)
		want  bool
	}{
		{"enable", func(a, b *Flag) { ok(a.Enable("a")) }, true},
		{"enable then disable", func(a, b *Flag) {
			ok(a.Enable("a"))
			a.Disable()
		}, false},
		{"concurrent enable and disable: enable wins", func(a, b *Flag) {
			ok(a.Enable("a"))
			b.Merge(a)
			b.Disable()
			ok(a.Enable("a"))
		}, true},
		{"a disable of an enable it did not observe does nothing", func(a, b *Flag) {
			ok(a.Enable("a"))
			b.Disable()
		}, true},
		{"a disable that saw every enable", func(a, b *Flag) {
			ok(a.Enable("a"))
			ok(b.Enable("b"))
			b.Merge(a)
			b.Disable()
		}, false},
	} {
		a, b := &Flag{}, &Flag{}
		tc.steps(a, b)
		a.Merge(b)
		b.Merge(a)
		if a.Value() != tc.want || !a.Equal(b) {
			t.Errorf("%s: %v, want %v (replicas equal: %v)", tc.name, a.Value(), tc.want, a.Equal(b))
		}
	}
}

// TestRegisterDeltasOutOfOrder: the package documentation's caveat. A
// replica that gets an assign's delta before the delta of the assign it
// replaced shows the replaced value as a sibling until the delta in between
// arrives; then it holds what the writer holds.
func TestRegisterDeltasOutOfOrder(t *testing.T) {
	w, r := &Register{}, &Register{}
	d1 := ok(w.Assign("a", "v1"))
	d2 := ok(w.Assign("a", "v2"))
	d3 := ok(w.Assign("a", "v3"))
	r.Merge(d3)
	r.Merge(d1)
	if got := r.Values(); !slices.Equal(got, []string{"v1", "v3"}) {
		t.Errorf("before the middle delta: %q", got)
	}
	r.Merge(d2)
	if got := r.Values(); !slices.Equal(got, []string{"v3"}) || !r.Equal(w) {
		t.Errorf("after every delta: %q, equal to the writer: %v", got, r.Equal(w))
	}
}
