package crdt

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
)

// dot identifies one event: the n-th event of actor that created state (a
// set add, a register assign, a flag enable, a map counter increment).
type dot struct {
	actor string
	n     uint64
}

func (d dot) compare(e dot) int {
	return cmp.Or(cmp.Compare(d.actor, e.actor), cmp.Compare(d.n, e.n))
}

// clock is one actor's part of a causal context: the events 1..max and the
// events in extra, sorted, all above max+1 (the dot cloud).
type clock struct {
	max   uint64
	extra []uint64
}

// causalContext is the set of events a state has seen, compacted as in
// Almeida et al.: a version vector plus a dot cloud. It is never modified in
// place: the methods that change it return a new one, so states may share it.
type causalContext map[string]clock

// contains reports whether the event d is in c.
func (c causalContext) contains(d dot) bool {
	k := c[d.actor]
	if d.n <= k.max {
		return d.n > 0
	}
	_, found := slices.BinarySearch(k.extra, d.n)
	return found
}

// next returns actor's next event: one above every event of actor in c.
func (c causalContext) next(actor string) (dot, error) {
	if actor == "" {
		return dot{}, ErrEmptyActor
	}
	k := c[actor]
	top := k.max
	if len(k.extra) > 0 {
		top = k.extra[len(k.extra)-1]
	}
	if top == math.MaxUint64 {
		return dot{}, fmt.Errorf("%w: %q", ErrClockExhausted, actor)
	}
	return dot{actor, top + 1}, nil
}

// merge returns the union of c and o.
func (c causalContext) merge(o causalContext) causalContext {
	if len(o) == 0 {
		return c
	}
	if len(c) == 0 {
		return o
	}
	out := maps.Clone(c)
	for a, k := range o {
		out[a] = out[a].union(k)
	}
	return out
}

// contextOf returns the context holding exactly the given events.
func contextOf(dots []dot) causalContext {
	c := make(causalContext, 1)
	for _, d := range dots {
		c[d.actor] = c[d.actor].union(clock{extra: []uint64{d.n}})
	}
	return c
}

// union returns the events of k and o, compacted: extra events that extend
// the contiguous prefix move into max.
func (k clock) union(o clock) clock {
	m := max(k.max, o.max)
	extra := slices.Concat(k.extra, o.extra)
	slices.Sort(extra)
	extra = slices.Compact(extra)
	i := 0
	for ; i < len(extra) && (extra[i] <= m || extra[i] == m+1); i++ {
		m = max(m, extra[i])
	}
	if i == len(extra) {
		return clock{max: m}
	}
	return clock{max: m, extra: extra[i:]}
}

// actors returns c's actors, sorted.
func (c causalContext) actors() []string { return slices.Sorted(maps.Keys(c)) }
