package ring

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// encodingVersion is the first byte of every encoded ring.
const encodingVersion = 1

// Encode returns the ring in a compact binary form for the cluster's
// metadata log. Format version 1:
//
//	byte     version (1)
//	byte     log2(P), 0..16
//	uvarint  M, the number of distinct owners
//	M times  uvarint length, then the bytes of a node id; ids strictly ascending
//	P times  uvarint index into the ids of the owner of partition 0, 1, ...
//
// Every id owns at least one partition and varints are minimal, so each ring
// has exactly one encoding.
func (r *Ring) Encode() []byte {
	index := make(map[NodeID]uint64, len(r.nodes))
	b := []byte{encodingVersion, byte(bits.TrailingZeros(uint(r.partitions)))}
	b = binary.AppendUvarint(b, uint64(len(r.nodes)))
	for i, id := range r.nodes {
		index[id] = uint64(i)
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	for _, o := range r.owners {
		b = binary.AppendUvarint(b, index[o])
	}
	return b
}

// Decode parses the output of Encode. It returns an error, never panics, for
// any other input: an unknown version, a truncated or overlong encoding, an
// invalid partition count, unsorted, duplicate or empty ids, an index out of
// range, an id that owns nothing, or a non-minimal varint.
func Decode(b []byte) (*Ring, error) {
	d := decoder{b: b}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if v := d.byte(); v != encodingVersion {
		return nil, fmt.Errorf("%w %d", ErrVersion, v)
	}
	k := d.byte()
	if d.err == nil && k > 16 {
		return nil, fmt.Errorf("%w: log2 of partitions is %d", ErrCorrupt, k)
	}
	p := 1 << k
	m := d.uvarint()
	if d.err == nil && (m < 1 || m > uint64(p)) {
		return nil, fmt.Errorf("%w: %d nodes for %d partitions", ErrCorrupt, m, p)
	}
	var ids []NodeID
	for i := uint64(0); d.err == nil && i < m; i++ {
		id := d.string()
		switch {
		case d.err != nil:
		case id == "":
			d.err = fmt.Errorf("%w: %w", ErrCorrupt, ErrEmptyNode)
		case len(ids) > 0 && ids[len(ids)-1] >= id:
			d.err = fmt.Errorf("%w: node ids not in ascending order at %q", ErrCorrupt, id)
		}
		ids = append(ids, id)
	}
	owners := make([]NodeID, 0, p)
	used := make([]bool, len(ids))
	for i := 0; d.err == nil && i < p; i++ {
		x := d.uvarint()
		if d.err == nil && x >= uint64(len(ids)) {
			d.err = fmt.Errorf("%w: owner %d of partition %d out of range", ErrCorrupt, x, i)
		}
		if d.err == nil {
			used[x] = true
			owners = append(owners, ids[x])
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) > 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	for i, u := range used {
		if !u {
			return nil, fmt.Errorf("%w: node %q owns no partition", ErrCorrupt, ids[i])
		}
	}
	r := newRing(owners)
	if !bytes.Equal(r.Encode(), b) {
		// Everything else checked out, so a varint was not minimal.
		return nil, fmt.Errorf("%w: not in canonical form", ErrCorrupt)
	}
	return r, nil
}

// decoder reads b from the front; after the first error it reads zeros and
// keeps that error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or bad %s", ErrCorrupt, what)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("header")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("node id")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
