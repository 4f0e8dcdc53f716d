package crdt

import (
	"bytes"
	"maps"
)

// Counter is a PN-Counter (Shapiro et al.): per actor, the total it
// added and the total it subtracted; the value is the sum of the differences,
// and merging keeps each actor's larger totals. The zero Counter is 0.
//
// A Counter is not safe for concurrent use; Merge and Increment change the
// receiver, never their arguments, and share no mutable memory with them.
type Counter struct {
	totals map[string]pn // never modified in place
}

// Increment adds delta (negative to subtract) to the counter as actor and
// returns the delta state to ship: actor's new totals. It fails with
// ErrEmptyActor, or with ErrOverflow, leaving c unchanged, if the value would
// overflow (see Value). A zero delta changes nothing and returns an empty
// Counter.
func (c *Counter) Increment(actor string, delta int64) (*Counter, error) {
	if actor == "" {
		return nil, ErrEmptyActor
	}
	if delta == 0 {
		return &Counter{}, nil
	}
	x, err := c.totals[actor].add(delta, c.exact())
	if err != nil {
		return nil, err
	}
	d := &Counter{totals: map[string]pn{actor: x}}
	c.Merge(d)
	return d, nil
}

// Merge joins o into c: each actor's larger totals.
func (c *Counter) Merge(o *Counter) {
	if len(o.totals) == 0 {
		return
	}
	out := maps.Clone(c.totals)
	if out == nil {
		out = make(map[string]pn, len(o.totals))
	}
	for a, x := range o.totals {
		out[a] = out[a].lub(x)
	}
	c.totals = out
}

// Value returns the counter's value. Increment refuses to leave the int64
// range, but merging concurrent increments can: two actors that each add
// math.MaxInt64 merge to twice that. Value then saturates at math.MaxInt64 (or
// math.MinInt64); the exact value is kept, and decrements that bring it
// back are accepted.
func (c *Counter) Value() int64 { return c.exact().clamp() }

func (c *Counter) exact() wide {
	var w wide
	for _, x := range c.totals {
		w = w.plus(x.p, x.n)
	}
	return w
}

// Clone returns a copy of c that shares nothing mutable with it.
func (c *Counter) Clone() *Counter { return &Counter{totals: c.totals} }

// Equal reports whether c and o are the same state.
func (c *Counter) Equal(o *Counter) bool { return bytes.Equal(c.Encode(), o.Encode()) }

// Encode returns the counter's deterministic encoding: the header (format
// version, KindCounter), the uvarint actor count, then per actor in byte
// order its length-prefixed id and its uvarint totals added and subtracted.
func (c *Counter) Encode() []byte {
	e := newEncoder(KindCounter)
	e.buf = c.appendBody(e.buf)
	return e.buf
}

// DecodeCounter decodes an encoding made by Encode. It refuses anything
// else, including unsorted actors and all-zero totals, with an error wrapping
// ErrCorrupt.
func DecodeCounter(b []byte) (*Counter, error) {
	d, err := newDecoder(b, KindCounter)
	if err != nil {
		return nil, err
	}
	c, err := d.counter()
	if err != nil {
		return nil, err
	}
	return c, d.end()
}

// appendBody appends the counter's encoding without its header.
func (c *Counter) appendBody(b []byte) []byte {
	b = appendUvarint(b, uint64(len(c.totals)))
	for _, a := range sortedKeys(c.totals) {
		b = c.totals[a].appendTo(appendString(b, a))
	}
	return b
}

// counter reads a counter's encoding after its header.
func (d *decoder) counter() (*Counter, error) {
	n, err := d.count(4) // actor length, actor byte, two totals
	if err != nil {
		return nil, corrupt("counter: actor count: %v", err)
	}
	c := &Counter{}
	if n > 0 {
		c.totals = make(map[string]pn, n)
	}
	prev := ""
	for i := range n {
		a, err := d.actor(i, prev)
		if err != nil {
			return nil, corrupt("counter: %v", err)
		}
		x, err := d.pn()
		if err != nil {
			return nil, corrupt("counter: actor %q: %v", a, err)
		}
		if x == (pn{}) {
			return nil, corrupt("counter: actor %q has zero totals", a)
		}
		c.totals[a], prev = x, a
	}
	return c, nil
}
