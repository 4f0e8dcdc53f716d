package crdt

import (
	"bytes"
	"maps"
)

// Hash is the value of Pando's map namespaces (a Redis hash): a Map for
// the fields that are assigned (HSET's strings) and a Tally per field for
// the increments HINCRBY makes, so that a field's increments merge as a
// counter's and an increment with a request id counts once, as in a
// counter namespace. The two merge independently: the pair is a CRDT (a
// product of a Map and a map of Tallies, each merging field by field).
//
// The zero Hash is empty. A Hash is not safe for concurrent use; its
// methods never change their arguments, and Clone shares nothing mutable.
type Hash struct {
	Map     Map
	tallies map[string]*Tally // neither the map nor a Tally modified in place
}

// Tally returns field's tally, nil if it has none. The caller must not
// change it.
func (h *Hash) Tally(field string) *Tally { return h.tallies[field] }

// Tallies returns the names of the fields that have a tally, sorted.
func (h *Hash) Tallies() []string { return sortedKeys(h.tallies) }

// IncrementField adds delta to field's tally as actor, under request id if
// id is not empty (see Tally.IncrementOnce: false if the tally has seen id,
// and nothing changes), keeping at most keep ids in the field's log.
func (h *Hash) IncrementField(field, actor, id string, delta int64, atMs int64, keep int) (bool, error) {
	t := &Tally{}
	if cur := h.tallies[field]; cur != nil {
		t = cur.Clone()
	}
	applied := true
	var err error
	if id == "" {
		err = t.Increment(actor, delta)
	} else {
		applied, err = t.IncrementOnce(actor, id, delta, atMs)
		t.Prune(keep)
	}
	if err != nil || !applied {
		return false, err
	}
	h.set(field, t)
	return true, nil
}

// ResetField takes away everything field's tally holds (Tally.Reset): an
// increment it has not seen survives with its own effect.
func (h *Hash) ResetField(field string) {
	cur := h.tallies[field]
	if cur == nil || !cur.Live() {
		return
	}
	t := cur.Clone()
	t.Reset()
	h.set(field, t)
}

func (h *Hash) set(field string, t *Tally) {
	out := maps.Clone(h.tallies)
	if out == nil {
		out = map[string]*Tally{}
	}
	out[field] = t
	h.tallies = out
}

// Merge joins o into h.
func (h *Hash) Merge(o *Hash) {
	h.Map.Merge(&o.Map)
	if len(o.tallies) == 0 {
		return
	}
	out := maps.Clone(h.tallies)
	if out == nil {
		out = make(map[string]*Tally, len(o.tallies))
	}
	for f, t := range o.tallies {
		if cur, ok := out[f]; ok {
			m := cur.Clone()
			m.Merge(t)
			t = m
		}
		out[f] = t
	}
	h.tallies = out
}

// Clone returns a copy of h that shares nothing mutable with it.
func (h *Hash) Clone() *Hash { return &Hash{Map: *h.Map.Clone(), tallies: h.tallies} }

// Equal reports whether h and o are the same state.
func (h *Hash) Equal(o *Hash) bool { return bytes.Equal(h.Encode(), o.Encode()) }

// Encode returns the deterministic encoding: the header (format version,
// KindHash), the Map's encoding (length-prefixed), then the tally count
// and, by field name in byte order, the name and the Tally's encoding
// (length-prefixed).
func (h *Hash) Encode() []byte {
	b := newEncoder(KindHash).buf
	b = appendString(b, string(h.Map.Encode()))
	b = appendUvarint(b, uint64(len(h.tallies)))
	for _, f := range sortedKeys(h.tallies) {
		b = appendString(appendString(b, f), string(h.tallies[f].Encode()))
	}
	return b
}

// DecodeHash decodes an encoding made by Encode, or a Map's (a Hash
// without tallies), refusing anything else with an error wrapping
// ErrCorrupt.
func DecodeHash(b []byte) (*Hash, error) {
	if len(b) >= 2 && Kind(b[1]) == KindMap {
		m, err := DecodeMap(b)
		if err != nil {
			return nil, err
		}
		return &Hash{Map: *m}, nil
	}
	d, err := newDecoder(b, KindHash)
	if err != nil {
		return nil, err
	}
	enc, err := d.string()
	if err != nil {
		return nil, corrupt("hash: map: %v", err)
	}
	m, err := DecodeMap([]byte(enc))
	if err != nil {
		return nil, err
	}
	h := &Hash{Map: *m}
	n, err := d.count(2) // name, tally
	if err != nil {
		return nil, corrupt("hash: tallies: %v", err)
	}
	if n > 0 {
		h.tallies = make(map[string]*Tally, n)
	}
	prev := ""
	for i := range n {
		f, err := d.key(i, prev)
		if err != nil {
			return nil, corrupt("hash: tallies: %v", err)
		}
		enc, err := d.string()
		if err != nil {
			return nil, corrupt("hash: tally %q: %v", f, err)
		}
		t, err := DecodeTally([]byte(enc))
		if err != nil {
			return nil, err
		}
		h.tallies[f], prev = t, f
	}
	return h, d.end()
}
