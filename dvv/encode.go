package dvv

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors returned (wrapped, with a detail) by the decoders and Validate.
var (
	ErrCorruptSet     = errors.New("dvv: corrupt set")
	ErrCorruptContext = errors.New("dvv: corrupt context")
	ErrInvalidSet     = errors.New("dvv: invalid set")
)

// contextVersion is the first byte of an encoded Context.
const contextVersion = 1

// MaxContextCounter is the largest counter DecodeContext accepts. Contexts
// come from clients; bounding them keeps a forged context from pushing a
// node's counter to the end of the uint64 range, where the next event would
// overflow. Real counters never come near it.
const MaxContextCounter = 1<<63 - 1

// Minimum encoded sizes, used to bound allocations by the input length.
const (
	minSetEntryLen     = 4 // node length, >= 1 node byte, counter, value count
	minContextEntryLen = 3 // node length, >= 1 node byte, counter
)

// AppendBinary appends the binary encoding of s to dst and returns the
// extended slice. The encoding is: uvarint entry count, then per entry the
// uvarint length and bytes of the node, the uvarint counter, the uvarint
// value count, and per value its uvarint length and bytes. Valid sets that
// are equal have equal encodings.
func (s Set) AppendBinary(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s.Entries)))
	for _, e := range s.Entries {
		dst = appendString(dst, e.Node)
		dst = binary.AppendUvarint(dst, e.Counter)
		dst = binary.AppendUvarint(dst, uint64(len(e.Values)))
		for _, v := range e.Values {
			dst = binary.AppendUvarint(dst, uint64(len(v)))
			dst = append(dst, v...)
		}
	}
	return dst
}

// DecodeSet decodes a Set encoded by AppendBinary and checks its invariants.
// The result does not alias b. Any malformed input, including trailing bytes
// and non-minimal varints, yields an error wrapping ErrCorruptSet; every
// accepted input re-encodes to the same bytes.
func DecodeSet(b []byte) (Set, error) {
	d := decoder{buf: bytes.Clone(b)} // values alias the clone, not the caller's b
	n, err := d.count(minSetEntryLen)
	if err != nil {
		return Set{}, corrupt(ErrCorruptSet, "entry count: %v", err)
	}
	if n == 0 {
		return Set{}, d.end(ErrCorruptSet)
	}
	entries := make([]Entry, n)
	for i := range entries {
		e, err := d.entry()
		if err != nil {
			return Set{}, corrupt(ErrCorruptSet, "entry %d: %v", i, err)
		}
		if msg := checkEntry(entries[:i], e); msg != "" {
			return Set{}, corrupt(ErrCorruptSet, "entry %d: %s", i, msg)
		}
		entries[i] = e
	}
	if err := d.end(ErrCorruptSet); err != nil {
		return Set{}, err
	}
	return Set{Entries: entries}, nil
}

// Validate checks the invariants of s: entries sorted by node without
// duplicates or empty nodes, 0 < Counter, len(Values) <= Counter. The error
// wraps ErrInvalidSet.
func (s Set) Validate() error {
	for i, e := range s.Entries {
		if msg := checkEntry(s.Entries[:i], e); msg != "" {
			return corrupt(ErrInvalidSet, "entry %d: %s", i, msg)
		}
	}
	return nil
}

// checkEntry returns what is wrong with e following prev, or "".
func checkEntry(prev []Entry, e Entry) string {
	switch {
	case e.Node == "":
		return "empty node"
	case len(prev) > 0 && prev[len(prev)-1].Node >= e.Node:
		return fmt.Sprintf("node %q out of order", e.Node)
	case e.Counter == 0:
		return fmt.Sprintf("node %q has a zero counter", e.Node)
	case uint64(len(e.Values)) > e.Counter:
		return fmt.Sprintf("node %q has %d values for %d events", e.Node, len(e.Values), e.Counter)
	}
	return ""
}

// Encode returns the context as an opaque, versioned token: the version byte
// 1, the uvarint entry count, then per entry the uvarint length and bytes of
// the node and the uvarint counter. The empty context encodes too.
func (c Context) Encode() []byte {
	dst := []byte{contextVersion}
	dst = binary.AppendUvarint(dst, uint64(len(c)))
	for _, e := range c {
		dst = appendString(dst, e.Node)
		dst = binary.AppendUvarint(dst, e.Counter)
	}
	return dst
}

// DecodeContext decodes a token made by Encode. It requires a canonical
// context (sorted, unique, non-empty nodes; counters in 1..MaxContextCounter)
// and rejects anything else, including trailing bytes, with an error wrapping
// ErrCorruptContext; every accepted input re-encodes to the same bytes.
func DecodeContext(b []byte) (Context, error) {
	if len(b) == 0 {
		return nil, corrupt(ErrCorruptContext, "empty token")
	}
	if b[0] != contextVersion {
		return nil, corrupt(ErrCorruptContext, "unknown version %d", b[0])
	}
	d := decoder{buf: b[1:]}
	n, err := d.count(minContextEntryLen)
	if err != nil {
		return nil, corrupt(ErrCorruptContext, "entry count: %v", err)
	}
	if n == 0 {
		return nil, d.end(ErrCorruptContext)
	}
	c := make(Context, n)
	for i := range c {
		e, err := d.versionEntry()
		if err != nil {
			return nil, corrupt(ErrCorruptContext, "entry %d: %v", i, err)
		}
		switch {
		case e.Node == "":
			return nil, corrupt(ErrCorruptContext, "entry %d: empty node", i)
		case i > 0 && c[i-1].Node >= e.Node:
			return nil, corrupt(ErrCorruptContext, "entry %d: node %q out of order", i, e.Node)
		case e.Counter == 0 || e.Counter > MaxContextCounter:
			return nil, corrupt(ErrCorruptContext, "entry %d: node %q has counter %d", i, e.Node, e.Counter)
		}
		c[i] = e
	}
	if err := d.end(ErrCorruptContext); err != nil {
		return nil, err
	}
	return c, nil
}

// String returns the token of Encode in unpadded URL-safe base64, for text
// protocols (HTTP headers, Redis arguments).
func (c Context) String() string {
	return base64.RawURLEncoding.EncodeToString(c.Encode())
}

// ParseContext parses the text form made by String. The empty string is the
// empty context, so a missing header or argument can be passed straight
// through. Errors wrap ErrCorruptContext.
func ParseContext(s string) (Context, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, corrupt(ErrCorruptContext, "base64: %v", err)
	}
	return DecodeContext(b)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func corrupt(base error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", base, fmt.Sprintf(format, args...))
}

// decoder reads the encodings above from buf, consuming it.
type decoder struct {
	buf []byte
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
// hold that many elements of at least minLen bytes each, so a hostile count
// cannot make the caller allocate more than the input justifies.
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

// bytes reads a length-prefixed byte string, aliasing buf.
func (d *decoder) bytes() ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.buf)) {
		return nil, fmt.Errorf("length %d exceeds the %d bytes left", n, len(d.buf))
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b, nil
}

func (d *decoder) versionEntry() (VersionEntry, error) {
	node, err := d.bytes()
	if err != nil {
		return VersionEntry{}, fmt.Errorf("node: %w", err)
	}
	counter, err := d.uvarint()
	if err != nil {
		return VersionEntry{}, fmt.Errorf("counter: %w", err)
	}
	return VersionEntry{Node: string(node), Counter: counter}, nil
}

func (d *decoder) entry() (Entry, error) {
	ve, err := d.versionEntry()
	if err != nil {
		return Entry{}, err
	}
	n, err := d.count(1) // a value takes at least its length byte
	if err != nil {
		return Entry{}, fmt.Errorf("value count: %w", err)
	}
	if uint64(n) > ve.Counter {
		// Checked again by checkEntry; checked here before allocating.
		return Entry{}, fmt.Errorf("node %q has %d values for %d events", ve.Node, n, ve.Counter)
	}
	e := Entry{Node: ve.Node, Counter: ve.Counter}
	if n > 0 {
		e.Values = make([][]byte, n)
	}
	for i := range e.Values {
		if e.Values[i], err = d.bytes(); err != nil {
			return Entry{}, fmt.Errorf("value %d: %w", i, err)
		}
	}
	return e, nil
}

// end checks that the whole input was consumed.
func (d *decoder) end(base error) error {
	if len(d.buf) != 0 {
		return corrupt(base, "%d trailing bytes", len(d.buf))
	}
	return nil
}
