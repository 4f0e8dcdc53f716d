package crdt

import "bytes"

// ResetCounter is a PN-Counter with an observed reset, the value of
// Pando's counter namespaces, where DEL must bring a counter back to zero.
// It holds two counters: counts, every actor's totals, and reset, the
// totals that resets saw. The value is their difference; both merge as
// counters do, so the pair is a CRDT (a product of two).
//
// Reset takes away exactly what its replica has seen: an increment it did
// not see (concurrent, or still on its way) survives with its own effect
// alone, and resets that saw the same increments take away the same
// totals, however many there are. Each actor's reset totals never exceed
// its counts. A reset counter at zero still holds its actors; it is as
// large as a counter that never reset.
//
// The zero ResetCounter is 0.
type ResetCounter struct {
	counts, reset Counter
}

// Increment adds delta as actor and returns the delta state to ship. It
// fails with ErrEmptyActor, or with ErrOverflow if the value would leave
// the int64 range (merges can still pass it; see Counter.Value).
func (r *ResetCounter) Increment(actor string, delta int64) (*ResetCounter, error) {
	if actor == "" {
		return nil, ErrEmptyActor
	}
	if delta == 0 {
		return &ResetCounter{}, nil
	}
	x, err := r.counts.totals[actor].add(delta, r.exact())
	if err != nil {
		return nil, err
	}
	d := &ResetCounter{counts: Counter{totals: map[string]pn{actor: x}}}
	r.Merge(d)
	return d, nil
}

// Reset takes away every total r holds, making its value 0, and returns
// the delta state to ship: the totals it took away, as counts and as
// resets, so that a replica that merges it holds no reset above its counts.
func (r *ResetCounter) Reset() *ResetCounter {
	d := &ResetCounter{counts: *r.counts.Clone(), reset: *r.counts.Clone()}
	r.reset.Merge(&d.reset)
	return d
}

// Merge joins o into r.
func (r *ResetCounter) Merge(o *ResetCounter) {
	r.counts.Merge(&o.counts)
	r.reset.Merge(&o.reset)
}

// Value returns the counts less the resets, saturated at the int64 range.
func (r *ResetCounter) Value() int64 { return r.exact().clamp() }

func (r *ResetCounter) exact() wide {
	w := r.counts.exact()
	for _, x := range r.reset.totals {
		w = w.plus(x.n, x.p)
	}
	return w
}

// Clone returns a copy of r that shares nothing mutable with it.
func (r *ResetCounter) Clone() *ResetCounter {
	return &ResetCounter{counts: *r.counts.Clone(), reset: *r.reset.Clone()}
}

// Equal reports whether r and o are the same state.
func (r *ResetCounter) Equal(o *ResetCounter) bool { return bytes.Equal(r.Encode(), o.Encode()) }

// Encode returns the deterministic encoding: the header (format version,
// KindResetCounter), then the counts and the resets, each as a Counter's
// encoding without its header.
func (r *ResetCounter) Encode() []byte {
	e := newEncoder(KindResetCounter)
	e.buf = r.reset.appendBody(r.counts.appendBody(e.buf))
	return e.buf
}

// DecodeResetCounter decodes an encoding made by Encode. It refuses
// anything else with an error wrapping ErrCorrupt, including a reset that
// exceeds an actor's counts.
func DecodeResetCounter(b []byte) (*ResetCounter, error) {
	d, err := newDecoder(b, KindResetCounter)
	if err != nil {
		return nil, err
	}
	r, err := d.resetCounter()
	if err != nil {
		return nil, err
	}
	return r, d.end()
}

// resetCounter reads a reset counter's encoding after its header.
func (d *decoder) resetCounter() (*ResetCounter, error) {
	counts, err := d.counter()
	if err != nil {
		return nil, err
	}
	reset, err := d.counter()
	if err != nil {
		return nil, err
	}
	for a, x := range reset.totals {
		if c := counts.totals[a]; x.p > c.p || x.n > c.n {
			return nil, corrupt("reset counter: actor %q reset past its counts", a)
		}
	}
	return &ResetCounter{counts: *counts, reset: *reset}, nil
}
