package dvv

import (
	"cmp"
	"slices"
)

// Dot identifies one event: the Counter-th write coordinated by Node.
type Dot struct {
	Node    string
	Counter uint64
}

// VersionEntry is one component of a version vector: Node's events 1..Counter.
type VersionEntry struct {
	Node    string
	Counter uint64
}

// Context is a version vector, sorted by Node, without zero counters: the
// causal history a client saw when it read a key (dvvset's join/1). The nil
// Context is the empty history. Clients treat it as an opaque token (see
// Context.String and ParseContext).
type Context []VersionEntry

// NewContext returns the canonical Context of the given entries: sorted by
// node, duplicates merged by taking the larger counter, zero counters dropped.
func NewContext(entries ...VersionEntry) Context {
	var c Context
	for _, e := range entries {
		if e.Counter > 0 {
			c = append(c, e)
		}
	}
	// Larger counter first within a node, so Compact keeps the maximum.
	slices.SortFunc(c, func(a, b VersionEntry) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(b.Counter, a.Counter))
	})
	return slices.CompactFunc(c, func(a, b VersionEntry) bool { return a.Node == b.Node })
}

// Get returns the number of events of node that c covers (0 if none).
func (c Context) Get(node string) uint64 {
	i, ok := slices.BinarySearchFunc(c, node, func(e VersionEntry, n string) int {
		return cmp.Compare(e.Node, n)
	})
	if !ok {
		return 0
	}
	return c[i].Counter
}

// Covers reports whether the event d is in c's causal history.
func (c Context) Covers(d Dot) bool {
	return c.Get(d.Node) >= d.Counter
}

// Merge returns the pointwise maximum of c and o (the union of the two
// histories).
func (c Context) Merge(o Context) Context {
	out := make(Context, 0, max(len(c), len(o)))
	i, j := 0, 0
	for i < len(c) && j < len(o) {
		switch cmp.Compare(c[i].Node, o[j].Node) {
		case -1:
			out = append(out, c[i])
			i++
		case 1:
			out = append(out, o[j])
			j++
		default:
			out = append(out, VersionEntry{c[i].Node, max(c[i].Counter, o[j].Counter)})
			i++
			j++
		}
	}
	out = append(out, c[i:]...)
	out = append(out, o[j:]...)
	if len(out) == 0 {
		return nil
	}
	return out
}

// Descends reports whether c's history includes o's (c >= o pointwise).
// Every context descends from itself and from the empty context.
func (c Context) Descends(o Context) bool {
	_, oAhead := compareVectors(len(c), len(o), c.at, o.at)
	return !oAhead
}

// at returns the i-th entry as a pair, for compareVectors.
func (c Context) at(i int) (string, uint64) { return c[i].Node, c[i].Counter }

// isCanonical reports whether c is sorted by node without duplicates or zero
// counters.
func (c Context) isCanonical() bool {
	for i, e := range c {
		if e.Counter == 0 || (i > 0 && c[i-1].Node >= e.Node) {
			return false
		}
	}
	return true
}

// canonical returns c if it is canonical and a canonical copy otherwise, so
// that operations accept hand-built contexts as dvvset's new/2 does.
func (c Context) canonical() Context {
	if c.isCanonical() {
		return c
	}
	return NewContext(c...)
}

// compareVectors walks two version vectors sorted by node, given by their
// lengths and accessors, and reports whether a has an event b lacks (aAhead)
// and whether b has an event a lacks (bAhead). Missing nodes count as 0.
//
//	aAhead && bAhead:   concurrent
//	!aAhead && !bAhead: equal histories
//	!aAhead && bAhead:  a < b
func compareVectors(na, nb int, a, b func(int) (string, uint64)) (aAhead, bAhead bool) {
	i, j := 0, 0
	for i < na && j < nb {
		an, ac := a(i)
		bn, bc := b(j)
		switch cmp.Compare(an, bn) {
		case -1:
			aAhead = aAhead || ac > 0
			i++
		case 1:
			bAhead = bAhead || bc > 0
			j++
		default:
			aAhead = aAhead || ac > bc
			bAhead = bAhead || bc > ac
			i++
			j++
		}
	}
	for ; i < na; i++ {
		_, ac := a(i)
		aAhead = aAhead || ac > 0
	}
	for ; j < nb; j++ {
		_, bc := b(j)
		bAhead = bAhead || bc > 0
	}
	return aAhead, bAhead
}
