package crdt

import (
	"bytes"
	"slices"
)

// Register is a multi-value register (Shapiro et al.'s MV-Register, in the dotted
// form of Almeida et al.): each value is kept with the event of the assign
// that wrote it. An assign supersedes the values it observed; concurrent
// assigns are all kept, as siblings, until an assign that observed them. The
// zero Register holds no value.
//
// A Register is not safe for concurrent use. Its methods change the
// receiver, never their arguments, and results share no mutable memory with
// either.
type Register struct {
	c causal[dotFun[text]]
}

// Assign writes value as actor and returns the delta to ship: the value
// under a new event, with a context of that event and every value it
// supersedes. It fails only with ErrEmptyActor or ErrClockExhausted.
func (r *Register) Assign(actor, value string) (*Register, error) {
	f, ctx, err := write(r.c.ctx, actor, text(value), r.c.store.appendDots(nil))
	if err != nil {
		return nil, err
	}
	return &Register{r.c.apply(causal[dotFun[text]]{ctx, f})}, nil
}

// Clear removes the values this replica holds and returns the delta to
// ship. Concurrent assigns survive it.
func (r *Register) Clear() *Register {
	return &Register{r.c.apply(removal[dotFun[text]](r.c.store.appendDots(nil)))}
}

// Merge joins o into r.
func (r *Register) Merge(o *Register) { r.c.merge(o.c) }

// Values returns the register's values, sorted and without duplicates: one
// value, or the siblings of concurrent assigns, or none.
func (r *Register) Values() []string { return values(r.c.store) }

func values(f dotFun[text]) []string {
	out := make([]string, len(f))
	for i, x := range f {
		out[i] = string(x.v)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Clone returns a copy of r that shares nothing mutable with it.
func (r *Register) Clone() *Register { return &Register{r.c} }

// Equal reports whether r and o are the same state.
func (r *Register) Equal(o *Register) bool { return bytes.Equal(r.Encode(), o.Encode()) }

// Encode returns the register's deterministic encoding: the header (format
// version, KindRegister), the causal context, then the values with their
// events, in event order.
func (r *Register) Encode() []byte { return encodeCausal(KindRegister, r.c, encodeFun[text]) }

// DecodeRegister decodes an encoding made by Encode. It refuses anything
// else with an error wrapping ErrCorrupt.
func DecodeRegister(b []byte) (*Register, error) {
	return decodeCausal(b, KindRegister, readValues, func(c causal[dotFun[text]]) *Register { return &Register{c} })
}

var readValues = funReader((*decoder).text)
