package crdt

import "bytes"

// Set is an add-wins observed-remove set of strings, in the optimized form
// of Bieniusa et al. and Almeida et al.'s AWORSet: each present element maps
// to the events of the adds that put it there, and a causal context records
// every event seen. Remove forgets the element's events; a replica that has
// not seen them learns of the removal from the context, so there are no
// tombstones. An add concurrent with a remove makes a new event the remove
// did not observe: the add wins. The zero Set is empty.
//
// A Set is not safe for concurrent use. Its methods change the receiver,
// never their arguments, and results share no mutable memory with either.
type Set struct {
	c causal[dotMap[dotSet]]
}

// Add adds elem as actor and returns the delta to ship: the element under a
// new event of actor, with a context of that event and the element's events
// it supersedes. It fails only with ErrEmptyActor or ErrClockExhausted.
func (s *Set) Add(actor, elem string) (*Set, error) {
	f, ctx, err := write(s.c.ctx, actor, unit{}, s.c.store[elem].appendDots(nil))
	if err != nil {
		return nil, err
	}
	return &Set{s.c.apply(causal[dotMap[dotSet]]{ctx, dotMap[dotSet]{elem: f}})}, nil
}

// Remove removes elem as far as this replica has seen it, and returns the
// delta to ship: no elements, and the context of the element's events here.
// Adds of elem this replica has not seen survive the remove wherever they
// meet it. Removing an absent element returns an empty delta.
func (s *Set) Remove(elem string) *Set {
	return &Set{s.c.apply(removal[dotMap[dotSet]](s.c.store[elem].appendDots(nil)))}
}

// Merge joins o into s.
func (s *Set) Merge(o *Set) { s.c.merge(o.c) }

// Contains reports whether elem is in the set.
func (s *Set) Contains(elem string) bool { return len(s.c.store[elem]) > 0 }

// Len returns the number of elements.
func (s *Set) Len() int { return len(s.c.store) }

// Members returns the elements in byte order.
func (s *Set) Members() []string { return sortedKeys(s.c.store) }

// Clone returns a copy of s that shares nothing mutable with it.
func (s *Set) Clone() *Set { return &Set{s.c} }

// Equal reports whether s and o are the same state (the same elements and
// the same causal history).
func (s *Set) Equal(o *Set) bool { return bytes.Equal(s.Encode(), o.Encode()) }

// Encode returns the set's deterministic encoding: the header (format
// version, KindSet), the causal context, then the elements in byte order,
// each with its events.
func (s *Set) Encode() []byte { return encodeCausal(KindSet, s.c, encodeElems) }

func encodeElems(e *encoder, m dotMap[dotSet]) { encodeMap(e, m, encodeFun[unit]) }

// DecodeSet decodes an encoding made by Encode. It refuses anything else
// with an error wrapping ErrCorrupt.
func DecodeSet(b []byte) (*Set, error) {
	return decodeCausal(b, KindSet, readElems, func(c causal[dotMap[dotSet]]) *Set { return &Set{c} })
}

var readElems = mapReader(funReader((*decoder).unit))
