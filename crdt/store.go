package crdt

// Dot stores (Almeida et al.): what a causal CRDT keeps besides its
// causal context. A dotFun maps events to payloads; with the unit payload it
// is a set of events (a DotSet). A dotMap maps keys to dot stores. Each store
// is joined together with the two states' contexts: an event present on one
// side only survives unless the other side has seen it, which is how a
// remove that observed an event deletes it without a tombstone.
//
// Stores are never modified in place; join builds new ones. So states may
// share them, and Clone is a shallow copy.

// payload is what a dotFun maps events to. A dot names one event, so two
// states that both hold it hold the same payload; lub only keeps join
// commutative if forged input disagrees.
type payload[V any] interface {
	comparable
	lub(V) V
	appendTo(dst []byte) []byte
}

// unit is the payload of a set of events.
type unit struct{}

func (unit) lub(unit) unit              { return unit{} }
func (unit) appendTo(dst []byte) []byte { return dst }

// text is a register's value.
type text string

func (a text) lub(b text) text            { return max(a, b) }
func (a text) appendTo(dst []byte) []byte { return appendString(dst, string(a)) }

type entry[V payload[V]] struct {
	d dot
	v V
}

// dotFun maps events to payloads, sorted by event.
type dotFun[V payload[V]] []entry[V]

// dotSet is a set of events.
type dotSet = dotFun[unit]

// store is the interface of the dot stores, for dotMap's values.
type store[S any] interface {
	// join returns the join of the receiver (whose state's context is cs)
	// and o (whose state's context is co).
	join(o S, cs, co causalContext) S
	// empty reports whether the store is bottom: no events at all.
	empty() bool
	// appendDots appends every event of the store to dst.
	appendDots(dst []dot) []dot
}

func (f dotFun[V]) join(g dotFun[V], cf, cg causalContext) dotFun[V] {
	var out dotFun[V]
	i, j := 0, 0
	for i < len(f) || j < len(g) {
		c := 0
		switch {
		case i == len(f):
			c = 1
		case j == len(g):
			c = -1
		default:
			c = f[i].d.compare(g[j].d)
		}
		switch {
		case c < 0:
			if !cg.contains(f[i].d) {
				out = append(out, f[i])
			}
			i++
		case c > 0:
			if !cf.contains(g[j].d) {
				out = append(out, g[j])
			}
			j++
		default:
			out = append(out, entry[V]{f[i].d, f[i].v.lub(g[j].v)})
			i++
			j++
		}
	}
	return out
}

func (f dotFun[V]) empty() bool { return len(f) == 0 }

func (f dotFun[V]) appendDots(dst []dot) []dot {
	for _, e := range f {
		dst = append(dst, e.d)
	}
	return dst
}

// dotMap maps keys (set elements, map field names) to dot stores; keys whose
// store is empty are absent.
type dotMap[V store[V]] map[string]V

func (m dotMap[V]) join(o dotMap[V], cm, co causalContext) dotMap[V] {
	var out dotMap[V]
	put := func(k string, v V) {
		if v.empty() {
			return
		}
		if out == nil {
			out = make(dotMap[V], max(len(m), len(o)))
		}
		out[k] = v
	}
	for k, v := range m {
		put(k, v.join(o[k], cm, co))
	}
	for k, v := range o {
		if _, ok := m[k]; !ok {
			var zero V
			put(k, zero.join(v, cm, co))
		}
	}
	return out
}

func (m dotMap[V]) empty() bool { return len(m) == 0 }

func (m dotMap[V]) appendDots(dst []dot) []dot {
	for _, v := range m {
		dst = v.appendDots(dst)
	}
	return dst
}

// causal is a causal CRDT's state: a causal context and a dot store whose
// events are all in the context.
type causal[S store[S]] struct {
	ctx   causalContext
	store S
}

// merge joins o into c.
func (c *causal[S]) merge(o causal[S]) {
	c.store = c.store.join(o.store, c.ctx, o.ctx)
	c.ctx = c.ctx.merge(o.ctx)
}

// apply merges the delta into c and returns it.
func (c *causal[S]) apply(delta causal[S]) causal[S] {
	c.merge(delta)
	return delta
}

// write returns the store and context of a delta that records v under
// actor's next event and supersedes the events old: ({d: v}, {d} ∪ old).
// It is every "add" of the delta-state paper (AWORSet add, MVRegister write,
// EWFlag enable).
func write[V payload[V]](ctx causalContext, actor string, v V, old []dot) (dotFun[V], causalContext, error) {
	d, err := ctx.next(actor)
	if err != nil {
		return nil, nil, err
	}
	return dotFun[V]{{d, v}}, contextOf(append(old[:len(old):len(old)], d)), nil
}

// removal returns the delta that removes the events old, and nothing else:
// an empty store with old as its context.
func removal[S store[S]](old []dot) causal[S] {
	return causal[S]{ctx: contextOf(old)}
}
