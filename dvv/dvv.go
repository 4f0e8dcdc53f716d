package dvv

import (
	"cmp"
	"math"
	"slices"
)

// Entry is the part of a Set about one node: the node's Counter events are
// all in the set's history, and Values holds the live values of its newest
// events, newest first (Values[i] was written by event (Node, Counter-i)).
type Entry struct {
	Node    string
	Counter uint64
	Values  [][]byte
}

// Set is a dotted version vector set: one key's causal history and its live
// values (siblings). Entries are sorted by Node. The zero Set is the empty
// set. See the package documentation for the invariants.
type Set struct {
	Entries []Entry
}

// Sibling is one live value with the dot of the write that produced it.
type Sibling struct {
	Dot   Dot
	Value []byte
}

// Update applies a client write at replica node, whose current state of the
// key is s. The client had read the key with context ctx (nil for a blind
// write). The result is s without the values ctx covers, with ctx's history
// absorbed, plus a new event on node carrying value: its counter is
// max(s's counter for node, ctx's counter for node) + 1, and value becomes the
// first of node's values. Values ctx does not cover stay as siblings.
//
// Like dvvset:update/3 it is sync(new(ctx, []), s) followed by an event.
// Update panics if node is empty, a programming error, or if node's counter
// is already math.MaxUint64, which takes 2^64 writes or a corrupt state
// (DecodeContext bounds client contexts well below it).
func Update(ctx Context, s Set, node string, value []byte) Set {
	if node == "" {
		panic("dvv: Update with an empty node id")
	}
	return event(Discard(ctx, s), node, value)
}

// Discard returns s without the values ctx covers, with ctx's history
// absorbed, and without a new event. It is how a client deletes or resolves
// the siblings it saw without writing a value of its own.
//
// Absorbing ctx (not merely filtering the values) matters: a replica that
// dropped a covered value must also record that the value's event is known,
// or the value would come back when the replica syncs with one that still
// holds it.
func Discard(ctx Context, s Set) Set {
	return Sync(fromContext(ctx.canonical()), s)
}

// fromContext returns the set with ctx's history and no values
// (dvvset:new(VV, []) without the anonymous list).
func fromContext(ctx Context) Set {
	if len(ctx) == 0 {
		return Set{}
	}
	entries := make([]Entry, len(ctx))
	for i, e := range ctx {
		entries[i] = Entry{Node: e.Node, Counter: e.Counter}
	}
	return Set{Entries: entries}
}

// Sync merges two states of the same key: the union of their histories, and
// the values neither side has seen superseded (dvvset:sync/2). It is
// commutative, associative and idempotent, and the zero Set is its identity.
func Sync(a, b Set) Set {
	if len(a.Entries) == 0 {
		return b
	}
	if len(b.Entries) == 0 {
		return a
	}
	out := make([]Entry, 0, len(a.Entries)+len(b.Entries))
	i, j := 0, 0
	for i < len(a.Entries) && j < len(b.Entries) {
		x, y := a.Entries[i], b.Entries[j]
		switch cmp.Compare(x.Node, y.Node) {
		case -1:
			out = append(out, x)
			i++
		case 1:
			out = append(out, y)
			j++
		default:
			out = append(out, mergeEntry(x, y))
			i++
			j++
		}
	}
	out = append(out, a.Entries[i:]...)
	out = append(out, b.Entries[j:]...)
	return Set{Entries: out}
}

// mergeEntry merges two entries of the same node (dvvset merge/5).
//
// An entry's events above Counter-len(Values) are live, those at or below are
// superseded, and (for the side with the smaller counter) events above
// Counter are unknown, hence not superseded there. An event is live in the
// merge if neither side superseded it: the events above the higher of the two
// floors, up to the larger counter. They are all held by the entry with the
// larger counter, as a prefix of its values. This is dvvset's rule: with
// N1 >= N2, keep L1 if N1-|L1| >= N2-|L2|, else the first N1-N2+|L2| of L1.
//
// When the counters are equal the result is the shorter list, i.e. a prefix of
// either side's values; both sides hold the same value for the same dot, so
// the choice of side does not matter.
func mergeEntry(x, y Entry) Entry {
	if x.Counter < y.Counter {
		x, y = y, x
	}
	floor := max(x.floor(), y.floor())
	keep := min(x.Counter-floor, uint64(len(x.Values))) // min only guards invalid input
	return Entry{Node: x.Node, Counter: x.Counter, Values: x.Values[:keep:keep]}
}

// floor is the newest event of e's node whose value e knows to be superseded.
func (e Entry) floor() uint64 {
	if n := uint64(len(e.Values)); n < e.Counter {
		return e.Counter - n
	}
	return 0
}

// event adds the next event of node, carrying value, to s (dvvset event/3).
func event(s Set, node string, value []byte) Set {
	i, found := slices.BinarySearchFunc(s.Entries, node, func(e Entry, n string) int {
		return cmp.Compare(e.Node, n)
	})
	entries := make([]Entry, 0, len(s.Entries)+1)
	entries = append(entries, s.Entries[:i]...)
	if found {
		old := s.Entries[i]
		if old.Counter == math.MaxUint64 {
			panic("dvv: event counter overflow at node " + node)
		}
		values := make([][]byte, 0, len(old.Values)+1)
		values = append(values, value)
		values = append(values, old.Values...)
		entries = append(entries, Entry{Node: node, Counter: old.Counter + 1, Values: values})
		i++
	} else {
		entries = append(entries, Entry{Node: node, Counter: 1, Values: [][]byte{value}})
	}
	entries = append(entries, s.Entries[i:]...)
	return Set{Entries: entries}
}

// Context returns the causal history of s as a version vector
// (dvvset:join/1). A client reads it with the values and passes it back when
// it writes.
func (s Set) Context() Context {
	if len(s.Entries) == 0 {
		return nil
	}
	c := make(Context, len(s.Entries))
	for i, e := range s.Entries {
		c[i] = VersionEntry{Node: e.Node, Counter: e.Counter}
	}
	return c
}

// Siblings returns the live values with their dots, by node and then newest
// first.
func (s Set) Siblings() []Sibling {
	out := make([]Sibling, 0, s.Len())
	for _, e := range s.Entries {
		for i, v := range e.Values {
			out = append(out, Sibling{Dot: Dot{Node: e.Node, Counter: e.Counter - uint64(i)}, Value: v})
		}
	}
	return out
}

// Values returns the live values in the order of Siblings (dvvset:values/1).
func (s Set) Values() [][]byte {
	out := make([][]byte, 0, s.Len())
	for _, e := range s.Entries {
		out = append(out, e.Values...)
	}
	return out
}

// Len returns the number of siblings (dvvset:size/1).
func (s Set) Len() int {
	n := 0
	for _, e := range s.Entries {
		n += len(e.Values)
	}
	return n
}

// IsZero reports whether s is the empty set: no history at all. A set whose
// values were all discarded still has a history and is not zero; use Len to
// ask whether there are siblings.
func (s Set) IsZero() bool { return len(s.Entries) == 0 }

// Less reports whether a's causal history is strictly contained in b's
// (dvvset:less/2): then b supersedes everything a holds. Values are ignored.
func Less(a, b Set) bool {
	aAhead, bAhead := compareVectors(len(a.Entries), len(b.Entries), a.at, b.at)
	return !aAhead && bAhead
}

// at returns the i-th entry's node and counter, for compareVectors.
func (s Set) at(i int) (string, uint64) { return s.Entries[i].Node, s.Entries[i].Counter }

// Retire returns s without the entries that hold no live value and whose
// node drop names: their events are all superseded, and forgetting them
// shrinks the version vector. It is safe only where nothing that carries
// one of those events can still arrive (see the caller), and only for a
// node that never writes again under that name, or whose next counter does
// not come from this set.
func (s Set) Retire(drop func(node string) bool) Set {
	keep := 0
	for _, e := range s.Entries {
		if len(e.Values) > 0 || !drop(e.Node) {
			keep++
		}
	}
	if keep == len(s.Entries) {
		return s
	}
	out := make([]Entry, 0, keep)
	for _, e := range s.Entries {
		if len(e.Values) > 0 || !drop(e.Node) {
			out = append(out, e)
		}
	}
	return Set{Entries: out}
}
