package crdt

import "bytes"

// Flag is an enable-wins flag (Almeida et al.'s EWFlag): the events of the
// enables that no disable has observed. It is enabled while it has one. A
// disable forgets the events it observed; an enable concurrent with it makes
// an event the disable did not see, so the enable wins. The zero Flag is
// disabled.
//
// A Flag is not safe for concurrent use. Its methods change the receiver,
// never their arguments, and results share no mutable memory with either.
type Flag struct {
	c causal[dotSet]
}

// Enable enables the flag as actor and returns the delta to ship. It fails
// only with ErrEmptyActor or ErrClockExhausted.
func (f *Flag) Enable(actor string) (*Flag, error) {
	s, ctx, err := write(f.c.ctx, actor, unit{}, f.c.store.appendDots(nil))
	if err != nil {
		return nil, err
	}
	return &Flag{f.c.apply(causal[dotSet]{ctx, s})}, nil
}

// Disable disables the flag as far as this replica has seen it enabled, and
// returns the delta to ship.
func (f *Flag) Disable() *Flag {
	return &Flag{f.c.apply(removal[dotSet](f.c.store.appendDots(nil)))}
}

// Merge joins o into f.
func (f *Flag) Merge(o *Flag) { f.c.merge(o.c) }

// Value reports whether the flag is enabled.
func (f *Flag) Value() bool { return len(f.c.store) > 0 }

// Clone returns a copy of f that shares nothing mutable with it.
func (f *Flag) Clone() *Flag { return &Flag{f.c} }

// Equal reports whether f and o are the same state.
func (f *Flag) Equal(o *Flag) bool { return bytes.Equal(f.Encode(), o.Encode()) }

// Encode returns the flag's deterministic encoding: the header (format
// version, KindFlag), the causal context, then the events of its enables.
func (f *Flag) Encode() []byte { return encodeCausal(KindFlag, f.c, encodeFun[unit]) }

// DecodeFlag decodes an encoding made by Encode. It refuses anything else
// with an error wrapping ErrCorrupt.
func DecodeFlag(b []byte) (*Flag, error) {
	return decodeCausal(b, KindFlag, readEnables, func(c causal[dotSet]) *Flag { return &Flag{c} })
}

var readEnables = funReader((*decoder).unit)
