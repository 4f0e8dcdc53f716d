package coordinator

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/pandodb/pando/crdt"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/sabotage"
)

// mapState is a map namespace's value, a Redis hash (crdt.Hash): each
// field holds a string (a register, HSET), a count (a tally, HINCRBY), or
// both. HINCRBY of a field holding an integer string keeps the string as
// the base and counts its increments in the tally, so that increments on
// two sides of a partition add up instead of each converting the base, and
// an increment with a request id counts once, as a counter's does (ADR
// 0007). HSET and HDEL take away the count they see. The field reads as
// base plus count, or as the string when it is not an integer.
//
// Fields that HINCRBY made before tallies existed are the Map's embedded
// counters; they are read and removed like tallies and never incremented
// again.
type mapState struct{ h *crdt.Hash }

func (x *mapState) apply(b by, op api.Op) (int64, bool, error) {
	var n int64
	switch op.Kind {
	case api.OpAssign:
		for i, f := range op.Members {
			name := string(f)
			if _, ok := x.field(name); !ok {
				n++
			}
			if err := x.takeCount(name); err != nil {
				return 0, false, err
			}
			if _, err := x.h.Map.AssignRegister(b.actor, string(op.Values[i]), name); err != nil {
				return 0, false, opError(err)
			}
		}
		return n, true, nil
	case api.OpIncrement:
		name := string(op.Field)
		base, err := x.base(name)
		if err != nil {
			return 0, false, err
		}
		v, ok := add(base, x.count(name))
		if ok {
			v, ok = add(v, op.Delta)
		}
		if !ok {
			return 0, false, api.ErrOverflow
		}
		id := b.id
		if sabotage.Is("ids-ignored") {
			id = ""
		}
		applied, err := x.h.IncrementField(name, b.actor, id, op.Delta, b.now, requestKeep)
		if err != nil {
			return 0, false, opError(err)
		}
		if !applied {
			// A retry of an increment made before: nothing to add, but the
			// state is written again, so that the answer means what a
			// first answer means (see counterState).
			v, _ = add(base, x.count(name))
		}
		return v, true, nil
	case api.OpRemove:
		for _, f := range op.Members {
			name := string(f)
			if _, ok := x.field(name); !ok {
				continue
			}
			if err := x.remove(name); err != nil {
				return 0, false, err
			}
			n++
		}
		return n, n > 0, nil
	case api.OpClear:
		names := x.names()
		if len(names) == 0 {
			return 0, false, nil
		}
		for _, name := range names {
			if err := x.remove(name); err != nil {
				return 0, false, err
			}
		}
		return 1, true, nil
	}
	return 0, false, fmt.Errorf("%w: maps take field assignments, increments and removals", api.ErrWrongType)
}

// remove takes away field name's string and count.
func (x *mapState) remove(name string) error {
	if _, err := x.h.Map.RemoveField(crdt.KindRegister, name); err != nil {
		return opError(err)
	}
	return x.takeCount(name)
}

// takeCount takes away the count field name holds.
func (x *mapState) takeCount(name string) error {
	if _, ok := x.h.Map.CounterValue(name); ok {
		if _, err := x.h.Map.RemoveField(crdt.KindCounter, name); err != nil {
			return opError(err)
		}
	}
	x.h.ResetField(name)
	return nil
}

// count returns what field name's increments add up to.
func (x *mapState) count(name string) int64 {
	legacy, _ := x.h.Map.CounterValue(name)
	var n int64
	if t := x.h.Tally(name); t != nil {
		n = t.Value()
	}
	v, _ := add(legacy, n)
	return v
}

// counted reports whether field name holds a count.
func (x *mapState) counted(name string) bool {
	_, legacy := x.h.Map.CounterValue(name)
	t := x.h.Tally(name)
	return legacy || (t != nil && t.Live())
}

// base returns field name's integer string, 0 without one, or ErrNotInteger.
func (x *mapState) base(name string) (int64, error) {
	vals, ok := x.h.Map.RegisterValues(name)
	if !ok || len(vals) == 0 {
		return 0, nil
	}
	b, err := strconv.ParseInt(pick(vals), 10, 64)
	if err != nil {
		return 0, api.ErrHashNotInteger
	}
	return b, nil
}

// field returns the value a reader sees in field name.
func (x *mapState) field(name string) (string, bool) {
	vals, hasString := x.h.Map.RegisterValues(name)
	hasString = hasString && len(vals) > 0
	switch {
	case x.counted(name):
		base, err := x.base(name)
		if err != nil {
			return pick(vals), true
		}
		v, _ := add(base, x.count(name))
		return strconv.FormatInt(v, 10), true
	case hasString:
		return pick(vals), true
	}
	return "", false
}

// names returns the fields a reader sees, sorted.
func (x *mapState) names() []string {
	var out []string
	for _, f := range x.h.Map.Fields() {
		out = append(out, f.Name)
	}
	for _, name := range x.h.Tallies() {
		if x.h.Tally(name).Live() {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(name string) bool { _, ok := x.field(name); return !ok })
}

// pick chooses among a field's concurrent strings, the same on every node:
// the greatest.
func pick(vals []string) string { return vals[len(vals)-1] }

func (x *mapState) present() bool  { return len(x.names()) > 0 }
func (x *mapState) encode() []byte { return x.h.Encode() }
func (x *mapState) value() api.Value {
	v := api.Value{Type: api.TypeMap}
	for _, name := range x.names() {
		s, _ := x.field(name)
		v.Fields = append(v.Fields, api.Field{Name: []byte(name), Value: []byte(s)})
	}
	return v
}
