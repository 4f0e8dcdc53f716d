package crdt

import (
	"bytes"
	"fmt"
)

// Map is a map of embedded CRDTs: counters, sets, registers, flags and
// nested maps, each in a field identified by name and kind (see Field). All
// fields share the map's causal context, and a field exists while its value
// holds an event: the empty value and the absent field are the same state.
//
// Update wins over a concurrent remove, as in Riak's maps: RemoveField
// removes only the events it observed in the field, so an update the remove
// did not see survives it, and the field stays with the update's effect:
// a concurrently added element or assigned value, an enable, the
// concurrently updated fields of a nested map, or the whole total of the
// actor that concurrently incremented a counter (a counter keeps one total
// per actor, as riak_dt_emcntr does). A remove that saw every update empties
// the field for good; a later update starts it afresh.
//
// Operations name a field by its path: the names of the nested maps that
// lead to it, then its own name; missing nested maps are created. Paths have
// 1 to MaxDepth names; operations refuse others with ErrPath, and reads find
// nothing there.
//
// A Map is not safe for concurrent use. Its methods change the receiver,
// never their arguments, and results share no mutable memory with either.
// The zero Map is empty.
type Map struct {
	c causal[*fields]
}

func splitPath(path []string) (parent []string, name string, err error) {
	if len(path) == 0 || len(path) > MaxDepth {
		return nil, "", fmt.Errorf("%w: %d names, want 1 to %d", ErrPath, len(path), MaxDepth)
	}
	return path[:len(path)-1], path[len(path)-1], nil
}

// parent returns the fields of the map that holds the field at path, and
// the field's name.
func (m *Map) parent(path []string) (*fields, string, error) {
	parent, name, err := splitPath(path)
	if err != nil {
		return &fields{}, "", err
	}
	return m.c.store.at(parent), name, nil
}

// update applies and returns the delta with context ctx whose fields, in the
// nested map at path's parent, are leaf.
func (m *Map) update(path []string, ctx causalContext, leaf *fields) *Map {
	return &Map{m.c.apply(causal[*fields]{ctx, nest(path[:len(path)-1], leaf)})}
}

// remove applies and returns the delta that removes the events dots.
func (m *Map) remove(dots []dot) *Map {
	return &Map{m.c.apply(removal[*fields](dots))}
}

// IncrementCounter adds delta to the counter at path as actor and returns
// the delta to ship: actor's new totals under a new event. It fails like
// Counter.Increment, and with ErrPath.
func (m *Map) IncrementCounter(actor string, delta int64, path ...string) (*Map, error) {
	p, name, err := m.parent(path)
	if err != nil {
		return nil, err
	}
	if actor == "" {
		return nil, ErrEmptyActor
	}
	if delta == 0 {
		return &Map{}, nil
	}
	var x pn
	var total wide
	var old []dot
	for _, e := range p.counters[name] {
		total = total.plus(e.v.p, e.v.n)
		if e.d.actor == actor {
			x, old = x.lub(e.v), append(old, e.d)
		}
	}
	if x, err = x.add(delta, total); err != nil {
		return nil, err
	}
	f, ctx, err := write(m.c.ctx, actor, x, old)
	if err != nil {
		return nil, err
	}
	return m.update(path, ctx, &fields{counters: dotMap[dotFun[pn]]{name: f}}), nil
}

// AddToSet adds elem to the set at path as actor (see Set.Add).
func (m *Map) AddToSet(actor, elem string, path ...string) (*Map, error) {
	p, name, err := m.parent(path)
	if err != nil {
		return nil, err
	}
	f, ctx, err := write(m.c.ctx, actor, unit{}, p.sets[name][elem].appendDots(nil))
	if err != nil {
		return nil, err
	}
	return m.update(path, ctx, &fields{sets: dotMap[dotMap[dotSet]]{name: {elem: f}}}), nil
}

// RemoveFromSet removes elem from the set at path (see Set.Remove).
func (m *Map) RemoveFromSet(elem string, path ...string) (*Map, error) {
	p, name, err := m.parent(path)
	if err != nil {
		return nil, err
	}
	return m.remove(p.sets[name][elem].appendDots(nil)), nil
}

// AssignRegister assigns value to the register at path as actor (see
// Register.Assign).
func (m *Map) AssignRegister(actor, value string, path ...string) (*Map, error) {
	p, name, err := m.parent(path)
	if err != nil {
		return nil, err
	}
	f, ctx, err := write(m.c.ctx, actor, text(value), p.registers[name].appendDots(nil))
	if err != nil {
		return nil, err
	}
	return m.update(path, ctx, &fields{registers: dotMap[dotFun[text]]{name: f}}), nil
}

// EnableFlag enables the flag at path as actor (see Flag.Enable).
func (m *Map) EnableFlag(actor string, path ...string) (*Map, error) {
	p, name, err := m.parent(path)
	if err != nil {
		return nil, err
	}
	f, ctx, err := write(m.c.ctx, actor, unit{}, p.flags[name].appendDots(nil))
	if err != nil {
		return nil, err
	}
	return m.update(path, ctx, &fields{flags: dotMap[dotSet]{name: f}}), nil
}

// DisableFlag disables the flag at path (see Flag.Disable). A disabled flag
// is an absent field.
func (m *Map) DisableFlag(path ...string) (*Map, error) {
	return m.RemoveField(KindFlag, path...)
}

// RemoveField removes the field of kind k at path as far as this replica
// has seen it (see Map for what survives), and returns the delta to ship:
// no fields, and the context of the field's events here. Removing an absent
// field returns an empty delta.
func (m *Map) RemoveField(k Kind, path ...string) (*Map, error) {
	p, name, err := m.parent(path)
	if err != nil {
		return nil, err
	}
	dots, ok := p.dotsOf(k, name)
	if !ok {
		return nil, fmt.Errorf("%w: unknown kind %v", ErrPath, k)
	}
	return m.remove(dots), nil
}

// Merge joins o into m.
func (m *Map) Merge(o *Map) { m.c.merge(o.c) }

// Fields returns the fields of the map at path (the root with no path),
// sorted by name, then kind.
func (m *Map) Fields(path ...string) []Field {
	return m.c.store.at(path).list()
}

// CounterValue returns the value of the counter at path (see Counter.Value),
// and whether the field exists.
func (m *Map) CounterValue(path ...string) (int64, bool) {
	p, name, _ := m.parent(path)
	f := p.counters[name]
	var total wide
	for _, e := range f {
		total = total.plus(e.v.p, e.v.n)
	}
	return total.clamp(), len(f) > 0
}

// SetMembers returns the elements of the set at path in byte order, and
// whether the field exists (it does while the set has elements).
func (m *Map) SetMembers(path ...string) ([]string, bool) {
	p, name, _ := m.parent(path)
	s := p.sets[name]
	return sortedKeys(s), len(s) > 0
}

// RegisterValues returns the values of the register at path (see
// Register.Values), and whether the field exists.
func (m *Map) RegisterValues(path ...string) ([]string, bool) {
	p, name, _ := m.parent(path)
	f := p.registers[name]
	return values(f), len(f) > 0
}

// FlagValue reports whether the flag at path is enabled (exists).
func (m *Map) FlagValue(path ...string) bool {
	p, name, _ := m.parent(path)
	return len(p.flags[name]) > 0
}

// Clone returns a copy of m that shares nothing mutable with it.
func (m *Map) Clone() *Map { return &Map{m.c} }

// Equal reports whether m and o are the same state.
func (m *Map) Equal(o *Map) bool { return bytes.Equal(m.Encode(), o.Encode()) }

// Encode returns the map's deterministic encoding: the header (format
// version, KindMap), the causal context, then the fields (see the package
// documentation).
func (m *Map) Encode() []byte { return encodeCausal(KindMap, m.c, encodeFields) }

// DecodeMap decodes an encoding made by Encode. It refuses anything else,
// including maps nested deeper than MaxDepth, with an error wrapping
// ErrCorrupt.
func DecodeMap(b []byte) (*Map, error) {
	return decodeCausal(b, KindMap, readFields, func(c causal[*fields]) *Map { return &Map{c} })
}
