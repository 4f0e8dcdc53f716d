package crdt

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestMapUpdateWins: a field removed at one replica and concurrently updated
// at another survives with the update's effect only (update wins, as in
// Riak's maps; Almeida et al.'s ORMap). Replicas a and b start from the
// same map, a removes the field, b updates it; after exchanging states both
// show want.
func TestMapUpdateWins(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(m *Map) // at a, before b syncs
		remove func(m *Map) // at a
		update func(m *Map) // at b, concurrently
		want   string       // showMap of both replicas
	}{
		{
			"set: the concurrent add survives, the observed elements do not",
			func(m *Map) {
				ok(m.AddToSet("a", "x", "tags"))
				ok(m.AddToSet("a", "y", "tags"))
			},
			func(m *Map) { ok(m.RemoveField(KindSet, "tags")) },
			func(m *Map) { ok(m.AddToSet("b", "z", "tags")) },
			"tags:set=z",
		},
		{
			"counter: the incrementing actor's whole total survives, other actors' do not",
			func(m *Map) {
				ok(m.IncrementCounter("a", 5, "n"))
				ok(m.IncrementCounter("b", 3, "n"))
			},
			func(m *Map) { ok(m.RemoveField(KindCounter, "n")) },
			func(m *Map) { ok(m.IncrementCounter("b", 1, "n")) },
			"n:counter=4",
		},
		{
			"register: the concurrent assign survives",
			func(m *Map) { ok(m.AssignRegister("a", "old", "r")) },
			func(m *Map) { ok(m.RemoveField(KindRegister, "r")) },
			func(m *Map) { ok(m.AssignRegister("b", "new", "r")) },
			"r:register=new",
		},
		{
			"flag: the concurrent enable survives a disable",
			func(m *Map) { ok(m.EnableFlag("a", "f")) },
			func(m *Map) { ok(m.DisableFlag("f")) },
			func(m *Map) { ok(m.EnableFlag("b", "f")) },
			"f:flag=true",
		},
		{
			"nested map: the concurrently updated field survives, the others do not",
			func(m *Map) {
				ok(m.IncrementCounter("a", 1, "m", "c"))
				ok(m.AssignRegister("a", "v", "m", "r"))
				ok(m.AddToSet("a", "x", "m", "inner", "s"))
			},
			func(m *Map) { ok(m.RemoveField(KindMap, "m")) },
			func(m *Map) { ok(m.AddToSet("b", "y", "m", "inner", "s")) },
			"m/inner/s:set=y",
		},
		{
			"a remove of a field it never saw does nothing",
			func(m *Map) {},
			func(m *Map) { ok(m.RemoveField(KindSet, "tags")) },
			func(m *Map) { ok(m.AddToSet("b", "x", "tags")) },
			"tags:set=x",
		},
		{
			"without a concurrent update the field is gone",
			func(m *Map) {
				ok(m.AddToSet("a", "x", "tags"))
				ok(m.IncrementCounter("a", 2, "n"))
			},
			func(m *Map) { ok(m.RemoveField(KindSet, "tags")) },
			func(m *Map) { ok(m.IncrementCounter("b", 1, "n")) },
			"n:counter=3",
		},
		{
			"a field of another kind is another field",
			func(m *Map) { ok(m.AddToSet("a", "x", "f")) },
			func(m *Map) { ok(m.RemoveField(KindCounter, "f")) },
			func(m *Map) { ok(m.IncrementCounter("b", 7, "f")) },
			"f:counter=7\nf:set=x",
		},
	} {
		a, b := &Map{}, &Map{}
		tc.setup(a)
		b.Merge(a)
		tc.remove(a)
		tc.update(b)
		a.Merge(b)
		b.Merge(a)
		if got := showMap(a); got != tc.want || !a.Equal(b) {
			t.Errorf("%s:\n%s\nwant\n%s\n(replicas equal: %v)", tc.name, got, tc.want, a.Equal(b))
		}
	}
}

// TestMapFields: reads, empty fields, and a field after a remove that saw
// everything starts afresh.
func TestMapFields(t *testing.T) {
	m := &Map{}
	ok(m.IncrementCounter("a", 5, "n"))
	ok(m.AddToSet("a", "x", "s"))
	ok(m.AssignRegister("a", "v", "p", "r"))
	ok(m.EnableFlag("a", "p", "f"))
	want := []Field{{"n", KindCounter}, {"p", KindMap}, {"s", KindSet}}
	if got := m.Fields(); !slices.Equal(got, want) {
		t.Errorf("Fields() = %v, want %v", got, want)
	}
	if got, want := m.Fields("p"), []Field{{"f", KindFlag}, {"r", KindRegister}}; !slices.Equal(got, want) {
		t.Errorf(`Fields("p") = %v, want %v`, got, want)
	}
	if v, ok := m.CounterValue("n"); v != 5 || !ok {
		t.Errorf("counter n = %d, %v", v, ok)
	}
	if v, ok := m.RegisterValues("p", "r"); !slices.Equal(v, []string{"v"}) || !ok {
		t.Errorf("register p/r = %q, %v", v, ok)
	}
	if !m.FlagValue("p", "f") || m.FlagValue("f") {
		t.Errorf("flags p/f = %v, f = %v", m.FlagValue("p", "f"), m.FlagValue("f"))
	}
	// Emptied fields are absent fields.
	ok(m.RemoveFromSet("x", "s"))
	ok(m.DisableFlag("p", "f"))
	if s, ok := m.SetMembers("s"); ok || len(s) != 0 {
		t.Errorf("emptied set: %q, %v", s, ok)
	}
	if got := m.Fields("p"); !slices.Equal(got, []Field{{"r", KindRegister}}) {
		t.Errorf(`after disabling, Fields("p") = %v`, got)
	}
	// A counter removed after everything was seen restarts from zero.
	ok(m.RemoveField(KindCounter, "n"))
	if _, ok := m.CounterValue("n"); ok {
		t.Errorf("removed counter still there")
	}
	ok(m.IncrementCounter("a", 1, "n"))
	if v, _ := m.CounterValue("n"); v != 1 {
		t.Errorf("counter after remove and increment = %d, want 1", v)
	}
	if _, ok := m.CounterValue(); ok {
		t.Errorf("a read with no path found something")
	}
}

func TestMapPathErrors(t *testing.T) {
	m := &Map{}
	deep := strings.Split(strings.Repeat("d/", MaxDepth), "/") // MaxDepth+1 names
	for name, err := range map[string]error{
		"no path":       second(m.IncrementCounter("a", 1)),
		"too deep":      second(m.AddToSet("a", "x", deep...)),
		"unknown kind":  second(m.RemoveField(Kind(9), "f")),
		"no path again": second(m.RemoveFromSet("x")),
	} {
		if !errors.Is(err, ErrPath) {
			t.Errorf("%s: %v, want ErrPath", name, err)
		}
	}
	if _, err := m.EnableFlag("", "f"); !errors.Is(err, ErrEmptyActor) {
		t.Errorf("empty actor: %v", err)
	}
	// The deepest path works, and its state decodes.
	ok(m.AssignRegister("a", "v", deep[:MaxDepth]...))
	if _, err := DecodeMap(m.Encode()); err != nil {
		t.Errorf("deepest map: %v", err)
	}
	if len(m.Fields()) != 1 {
		t.Errorf("Fields() = %v", m.Fields())
	}
}

func second[T any](_ T, err error) error { return err }
