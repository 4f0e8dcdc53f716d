package crdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// formatVersion is the first byte of every encoding.
const formatVersion = 1

// MaxDepth is the deepest a field may be nested in a Map: a path has at most
// MaxDepth names. Map operations refuse deeper paths and decoders refuse
// deeper nesting, so every state a Map can reach decodes.
const MaxDepth = 16

// Encodings (see the package documentation) start with a two-byte header:
// formatVersion and the Kind. Integers are uvarints, strings are a uvarint
// length and the bytes. Every count in the input is checked against the bytes
// that remain, so a decoder allocates at most in proportion to its input.

func appendUvarint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }

func appendString(dst []byte, s string) []byte {
	return append(appendUvarint(dst, uint64(len(s))), s...)
}

func sortedKeys[M ~map[string]V, V any](m M) []string { return slices.Sorted(maps.Keys(m)) }

// encoder appends an encoding to buf. After context, index gives each actor
// of the context its position, by which dots name it.
type encoder struct {
	buf   []byte
	index map[string]uint64
}

func newEncoder(k Kind) *encoder { return &encoder{buf: []byte{formatVersion, byte(k)}} }

// context appends a causal context: the actor count, then per actor in byte
// order its id, the top of its contiguous events, the count of its other
// events and those events in increasing order.
func (e *encoder) context(c causalContext) {
	actors := c.actors()
	e.index = make(map[string]uint64, len(actors))
	e.buf = appendUvarint(e.buf, uint64(len(actors)))
	for i, a := range actors {
		e.index[a] = uint64(i)
		k := c[a]
		e.buf = appendUvarint(appendString(e.buf, a), k.max)
		e.buf = appendUvarint(e.buf, uint64(len(k.extra)))
		for _, n := range k.extra {
			e.buf = appendUvarint(e.buf, n)
		}
	}
}

// encodeFun appends a dotFun: the entry count, then per entry in dot order
// the actor's position in the context, the event counter and the payload.
func encodeFun[V payload[V]](e *encoder, f dotFun[V]) {
	e.buf = appendUvarint(e.buf, uint64(len(f)))
	for _, x := range f {
		e.buf = appendUvarint(appendUvarint(e.buf, e.index[x.d.actor]), x.d.n)
		e.buf = x.v.appendTo(e.buf)
	}
}

// encodeMap appends a dotMap: the key count, then per key in byte order the
// key and its store.
func encodeMap[V store[V]](e *encoder, m dotMap[V], encodeV func(*encoder, V)) {
	e.buf = appendUvarint(e.buf, uint64(len(m)))
	for _, k := range sortedKeys(m) {
		e.buf = appendString(e.buf, k)
		encodeV(e, m[k])
	}
}

// encodeCausal returns the encoding of a causal CRDT's state.
func encodeCausal[S store[S]](k Kind, c causal[S], encodeS func(*encoder, S)) []byte {
	e := newEncoder(k)
	e.context(c.ctx)
	encodeS(e, c.store)
	return e.buf
}

// decoder reads an encoding from buf, consuming it. After context, actors
// and ctx hold the decoded context, against which dots are read and checked.
type decoder struct {
	buf    []byte
	actors []string
	ctx    causalContext
	depth  int // of the fields being read; the root's are at 1
}

func newDecoder(b []byte, k Kind) (*decoder, error) {
	switch {
	case len(b) < 2:
		return nil, corrupt("%d bytes, shorter than the header", len(b))
	case b[0] != formatVersion:
		return nil, corrupt("unknown format version %d", b[0])
	case Kind(b[1]) != k:
		return nil, corrupt("kind %v, want %v", Kind(b[1]), k)
	}
	return &decoder{buf: b[2:], depth: 1}, nil
}

// uvarint reads a minimally encoded uvarint.
func (d *decoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.buf)
	switch {
	case n == 0:
		return 0, errors.New("truncated varint")
	case n < 0:
		return 0, errors.New("varint overflows 64 bits")
	case n > 1 && d.buf[n-1] == 0:
		return 0, errors.New("non-minimal varint")
	}
	d.buf = d.buf[n:]
	return v, nil
}

// count reads an element count and checks that the rest of the input can
// hold that many elements of at least minLen bytes each.
func (d *decoder) count(minLen int) (int, error) {
	n, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(d.buf)/minLen) {
		return 0, fmt.Errorf("count %d exceeds the %d bytes left", n, len(d.buf))
	}
	return int(n), nil
}

// string reads a length-prefixed string.
func (d *decoder) string() (string, error) {
	n, err := d.uvarint()
	if err != nil {
		return "", err
	}
	if n > uint64(len(d.buf)) {
		return "", fmt.Errorf("length %d exceeds the %d bytes left", n, len(d.buf))
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s, nil
}

// key reads the i-th key of a sorted list whose previous key is prev.
func (d *decoder) key(i int, prev string) (string, error) {
	k, err := d.string()
	if err != nil {
		return "", fmt.Errorf("key %d: %w", i, err)
	}
	if i > 0 && k <= prev {
		return "", fmt.Errorf("key %d: %q out of order", i, k)
	}
	return k, nil
}

// actor reads the i-th actor of a sorted list: a non-empty key.
func (d *decoder) actor(i int, prev string) (string, error) {
	a, err := d.key(i, prev)
	if err == nil && a == "" {
		err = fmt.Errorf("key %d: empty actor", i)
	}
	return a, err
}

// pn reads an actor's totals, which are never both zero.
func (d *decoder) pn() (pn, error) {
	p, err := d.uvarint()
	if err != nil {
		return pn{}, err
	}
	n, err := d.uvarint()
	if err != nil {
		return pn{}, err
	}
	if p == 0 && n == 0 {
		return pn{}, errors.New("zero totals")
	}
	return pn{p, n}, nil
}

func (d *decoder) text() (text, error) {
	s, err := d.string()
	return text(s), err
}

func (d *decoder) unit() (unit, error) { return unit{}, nil }

// context reads a causal context in the form context appends, compacted:
// an actor has events, its other events are increasing and none of them
// could join the contiguous ones.
func (d *decoder) context() error {
	n, err := d.count(4) // id length, id byte, top, count
	if err != nil {
		return fmt.Errorf("actor count: %w", err)
	}
	d.actors = make([]string, n)
	d.ctx = make(causalContext, n)
	for i := range d.actors {
		a, err := d.actor(i, d.actors[max(i-1, 0)])
		if err != nil {
			return err
		}
		k, err := d.clock()
		if err != nil {
			return fmt.Errorf("actor %q: %w", a, err)
		}
		d.actors[i], d.ctx[a] = a, k
	}
	return nil
}

func (d *decoder) clock() (clock, error) {
	var k clock
	var err error
	if k.max, err = d.uvarint(); err != nil {
		return k, err
	}
	n, err := d.count(1)
	if err != nil {
		return k, fmt.Errorf("event count: %w", err)
	}
	if n == 0 && k.max == 0 {
		return k, errors.New("no events")
	}
	if n > 0 {
		k.extra = make([]uint64, n)
	}
	for i := range k.extra {
		x, err := d.uvarint()
		if err != nil {
			return k, fmt.Errorf("event %d: %w", i, err)
		}
		switch {
		case i == 0 && (k.max == math.MaxUint64 || x <= k.max+1):
			return k, fmt.Errorf("event %d: %d not compacted above %d", i, x, k.max)
		case i > 0 && x <= k.extra[i-1]:
			return k, fmt.Errorf("event %d: %d out of order", i, x)
		}
		k.extra[i] = x
	}
	return k, nil
}

// dot reads a dot, which must be in the context.
func (d *decoder) dot() (dot, error) {
	i, err := d.uvarint()
	if err != nil {
		return dot{}, err
	}
	if i >= uint64(len(d.actors)) {
		return dot{}, fmt.Errorf("actor %d of %d", i, len(d.actors))
	}
	n, err := d.uvarint()
	if err != nil {
		return dot{}, err
	}
	x := dot{d.actors[i], n}
	if !d.ctx.contains(x) {
		return dot{}, fmt.Errorf("event %s:%d not in the context", x.actor, x.n)
	}
	return x, nil
}

func decodeFun[V payload[V]](d *decoder, readV func(*decoder) (V, error)) (dotFun[V], error) {
	n, err := d.count(2) // actor, counter
	if err != nil {
		return nil, fmt.Errorf("event count: %w", err)
	}
	var f dotFun[V]
	if n > 0 {
		f = make(dotFun[V], n)
	}
	for i := range f {
		x, err := d.dot()
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		if i > 0 && f[i-1].d.compare(x) >= 0 {
			return nil, fmt.Errorf("event %d: %s:%d out of order", i, x.actor, x.n)
		}
		v, err := readV(d)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		f[i] = entry[V]{x, v}
	}
	return f, nil
}

func decodeMap[V store[V]](d *decoder, readV func(*decoder) (V, error)) (dotMap[V], error) {
	n, err := d.count(3) // key length, and a non-empty store's count and dot
	if err != nil {
		return nil, fmt.Errorf("key count: %w", err)
	}
	var m dotMap[V]
	if n > 0 {
		m = make(dotMap[V], n)
	}
	prev := ""
	for i := range n {
		k, err := d.key(i, prev)
		if err != nil {
			return nil, err
		}
		v, err := readV(d)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		if v.empty() {
			return nil, fmt.Errorf("key %q: empty", k)
		}
		m[k], prev = v, k
	}
	return m, nil
}

// funReader and mapReader adapt the generic decoders to readV arguments.
func funReader[V payload[V]](readV func(*decoder) (V, error)) func(*decoder) (dotFun[V], error) {
	return func(d *decoder) (dotFun[V], error) { return decodeFun(d, readV) }
}

func mapReader[V store[V]](readV func(*decoder) (V, error)) func(*decoder) (dotMap[V], error) {
	return func(d *decoder) (dotMap[V], error) { return decodeMap(d, readV) }
}

// decodeCausal decodes a causal CRDT's state of kind k, and returns it
// wrapped in its type.
func decodeCausal[S store[S], T any](b []byte, k Kind, readS func(*decoder) (S, error), wrap func(causal[S]) *T) (*T, error) {
	d, err := newDecoder(b, k)
	if err != nil {
		return nil, err
	}
	if err := d.context(); err != nil {
		return nil, corrupt("%v: context: %v", k, err)
	}
	s, err := readS(d)
	if err != nil {
		return nil, corrupt("%v: %v", k, err)
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return wrap(causal[S]{ctx: d.ctx, store: s}), nil
}

// end checks that the whole input was consumed.
func (d *decoder) end() error {
	if len(d.buf) != 0 {
		return corrupt("%d trailing bytes", len(d.buf))
	}
	return nil
}
