package crdt

import (
	"math"
	"math/bits"
)

// pn is one actor's running totals in a counter: everything it added (p)
// and everything it subtracted (n), as magnitudes.
type pn struct{ p, n uint64 }

// lub is the join of two totals of one actor: the later ones, since totals
// only grow.
func (a pn) lub(b pn) pn { return pn{max(a.p, b.p), max(a.n, b.n)} }

func (a pn) appendTo(dst []byte) []byte { return appendUvarint(appendUvarint(dst, a.p), a.n) }

// add returns x changed by delta, given that the counter's exact value is now
// total. It fails with ErrOverflow if an increment would take the value above
// math.MaxInt64 or a decrement below math.MinInt64, or if x's own total would
// pass 2^64-1.
func (x pn) add(delta int64, total wide) (pn, error) {
	switch {
	case delta > 0:
		u := uint64(delta)
		if x.p > math.MaxUint64-u || total.plus(u, 0).above() {
			return x, ErrOverflow
		}
		x.p += u
	case delta < 0:
		u := -uint64(delta) // the magnitude, also for math.MinInt64
		if x.n > math.MaxUint64-u || total.plus(0, u).below() {
			return x, ErrOverflow
		}
		x.n += u
	}
	return x, nil
}

// wide is a signed 128-bit integer in two's complement: the exact value of a
// counter, a sum of uint64 totals that cannot overflow it (it would take 2^63
// actors).
type wide struct{ hi, lo uint64 }

// plus returns w + p - n.
func (w wide) plus(p, n uint64) wide {
	lo, carry := bits.Add64(w.lo, p, 0)
	hi := w.hi + carry
	lo, borrow := bits.Sub64(lo, n, 0)
	return wide{hi - borrow, lo}
}

// above reports whether w > math.MaxInt64.
func (w wide) above() bool { return int64(w.hi) > 0 || (w.hi == 0 && w.lo > math.MaxInt64) }

// below reports whether w < math.MinInt64.
func (w wide) below() bool {
	return int64(w.hi) < -1 || (w.hi == math.MaxUint64 && w.lo < 1<<63)
}

// clamp returns w, or the nearest int64 if w is out of range.
func (w wide) clamp() int64 {
	switch {
	case w.above():
		return math.MaxInt64
	case w.below():
		return math.MinInt64
	}
	return int64(w.lo)
}
