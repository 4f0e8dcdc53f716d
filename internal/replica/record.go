package replica

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/sabotage"
)

// Record encoding versions (a record's first byte).
const (
	recordV1 = 1 // one value, no causality (single-node Pando); read only
	recordV2 = 2 // a dotted version vector set of siblings
)

// LegacyNode is the node id given to the one value of a version 1 record,
// so that it has a dot and the first write after an upgrade supersedes it.
const LegacyNode = "~v1"

// Sibling flags.
const (
	flagTombstone = 1 << 0
	flagStamp     = 1 << 1 // a stamp follows the expiry
)

// ErrCorruptRecord is returned for a record that cannot be decoded.
var ErrCorruptRecord = errors.New("replica: corrupt record")

// Sibling is one of the concurrent values of a key.
type Sibling struct {
	Dot       dvv.Dot
	Tombstone bool
	// ExpireAt is the value's expiry in Unix milliseconds; 0 means never.
	ExpireAt int64
	// Stamp is when the write was made, in Unix microseconds by its
	// coordinator's clock; 0 for writes from before stamps. Causality, not
	// the stamp, decides what supersedes what; the stamp only orders
	// concurrent siblings for Pick.
	Stamp int64
	Value []byte
}

// Expired reports whether the sibling's expiry is at or before now.
func (s Sibling) Expired(nowMs int64) bool { return s.ExpireAt != 0 && s.ExpireAt <= nowMs }

// Live reports whether a reader at now sees the sibling.
func (s Sibling) Live(nowMs int64) bool { return !s.Tombstone && !s.Expired(nowMs) }

// EncodeSibling is the form of a sibling inside a DVV set:
//
//	byte     flags (bit 0: tombstone, bit 1: stamped)
//	uvarint  expire-at, Unix ms (0: never)
//	uvarint  the stamp, Unix µs, if stamped (a stamp of 0 is not written)
//	...      the value
func EncodeSibling(tombstone bool, expireAt, stamp int64, value []byte) []byte {
	var flags byte
	if tombstone {
		flags |= flagTombstone
	}
	if stamp > 0 {
		flags |= flagStamp
	}
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(value))
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(expireAt))
	if stamp > 0 {
		b = binary.AppendUvarint(b, uint64(stamp))
	}
	return append(b, value...)
}

func decodeSibling(dot dvv.Dot, b []byte) (Sibling, error) {
	if len(b) < 2 || b[0]&^(flagTombstone|flagStamp) != 0 {
		return Sibling{}, fmt.Errorf("%w: bad sibling header", ErrCorruptRecord)
	}
	flags, rest := b[0], b[1:]
	exp, n := binary.Uvarint(rest)
	if n <= 0 || exp > 1<<62 {
		return Sibling{}, fmt.Errorf("%w: bad sibling expiry", ErrCorruptRecord)
	}
	rest = rest[n:]
	var stamp uint64
	if flags&flagStamp != 0 {
		if stamp, n = binary.Uvarint(rest); n <= 0 || stamp == 0 || stamp > 1<<62 {
			return Sibling{}, fmt.Errorf("%w: bad sibling stamp", ErrCorruptRecord)
		}
		rest = rest[n:]
	}
	return Sibling{Dot: dot, Tombstone: flags&flagTombstone != 0, ExpireAt: int64(exp), Stamp: int64(stamp), Value: rest}, nil
}

// Record is what the data keyspace holds for a key: the key's causal
// history and its concurrent values (siblings), as a DVV set whose values
// are encoded siblings.
//
// Encoding (version 2): byte 2, then dvv.Set.AppendBinary.
// Version 1 (byte 1, flags, uvarint expiry, uvarint-prefixed causal bytes,
// value) is still read, as one sibling with the dot (LegacyNode, 1).
type Record struct {
	Set dvv.Set
}

// AppendRecord appends r's encoding to dst.
func AppendRecord(dst []byte, r *Record) []byte {
	return r.Set.AppendBinary(append(dst, recordV2))
}

// DecodeRecord decodes b into r. r's values alias b.
func DecodeRecord(b []byte, r *Record) error {
	if len(b) < 1 {
		return fmt.Errorf("%w: empty", ErrCorruptRecord)
	}
	switch b[0] {
	case recordV2:
		s, err := dvv.DecodeSet(b[1:])
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorruptRecord, err)
		}
		for _, e := range s.Entries {
			for i, v := range e.Values {
				if _, err := decodeSibling(dvv.Dot{Node: e.Node, Counter: e.Counter - uint64(i)}, v); err != nil {
					return err
				}
			}
		}
		*r = Record{Set: s}
		return nil
	case recordV1:
		return decodeV1(b, r)
	}
	return fmt.Errorf("%w: unknown version %d", ErrCorruptRecord, b[0])
}

func decodeV1(b []byte, r *Record) error {
	if len(b) < 2 || b[1]&^flagTombstone != 0 {
		return fmt.Errorf("%w: bad version 1 header", ErrCorruptRecord)
	}
	rest := b[2:]
	exp, n := binary.Uvarint(rest)
	if n <= 0 || exp > 1<<62 {
		return fmt.Errorf("%w: bad expiry", ErrCorruptRecord)
	}
	rest = rest[n:]
	cl, n := binary.Uvarint(rest)
	if n <= 0 || cl > uint64(len(rest)-n) {
		return fmt.Errorf("%w: bad causal metadata length", ErrCorruptRecord)
	}
	value := rest[n+int(cl):]
	sib := EncodeSibling(b[1]&flagTombstone != 0, int64(exp), 0, value)
	*r = Record{Set: dvv.Set{Entries: []dvv.Entry{{Node: LegacyNode, Counter: 1, Values: [][]byte{sib}}}}}
	return nil
}

// Siblings returns the record's values with their metadata, in the DVV
// set's deterministic order.
func (r *Record) Siblings() []Sibling {
	sibs := r.Set.Siblings()
	out := make([]Sibling, 0, len(sibs))
	for _, s := range sibs {
		sib, err := decodeSibling(s.Dot, s.Value)
		if err != nil {
			continue // DecodeRecord validated every sibling
		}
		out = append(out, sib)
	}
	return out
}

// Live returns the siblings a reader at now sees: neither deleted nor
// expired.
func (r *Record) Live(nowMs int64) []Sibling {
	var out []Sibling
	for _, s := range r.Siblings() {
		if s.Live(nowMs) {
			out = append(out, s)
		}
	}
	return out
}

// Pick is the rule by which every node chooses the same one value among
// siblings where an API can return only one: the sibling with the latest
// stamp, ties (and siblings from before stamps) broken by the higher dot
// counter, then the greater node id. Siblings are writes that did not see
// each other: causality cannot order them, so the stamps, which record
// when their coordinators made them, do. A stamp is only ever read here;
// every sibling stays, in SIBLINGS, whatever the clocks said. The rule is
// deterministic: every node holds the same stamps.
func Pick(sibs []Sibling) (Sibling, bool) {
	if len(sibs) == 0 {
		return Sibling{}, false
	}
	stamps := !sabotage.Is("local-writes") // as Pando picked before stamps
	best := sibs[0]
	for _, s := range sibs[1:] {
		byStamp := 0
		if stamps {
			byStamp = cmp.Compare(s.Stamp, best.Stamp)
		}
		if cmp.Or(byStamp, cmp.Compare(s.Dot.Counter, best.Dot.Counter), cmp.Compare(s.Dot.Node, best.Dot.Node)) > 0 {
			best = s
		}
	}
	return best, true
}

// reclaimAt is when the whole record may be removed from disk: when its last
// value expires, if every sibling is a value with an expiry. Zero means
// never (a sibling never expires, or is a tombstone that must be kept for
// causality).
func (r *Record) reclaimAt() int64 {
	var at int64
	sibs := r.Siblings()
	if len(sibs) == 0 {
		return 0
	}
	for _, s := range sibs {
		if s.Tombstone || s.ExpireAt == 0 {
			return 0
		}
		at = max(at, s.ExpireAt)
	}
	return at
}

// tombstoneExpired returns r with every sibling that has expired by now
// turned into a tombstone: the same dot, without the value. Both forms are
// dead to every reader whose clock has passed the expiry, so replicas that
// hold one or the other for a dot agree on what is live.
func (r *Record) tombstoneExpired(nowMs int64) Record {
	entries := make([]dvv.Entry, len(r.Set.Entries))
	for i, e := range r.Set.Entries {
		values := make([][]byte, len(e.Values))
		for j, v := range e.Values {
			values[j] = v
			sib, err := decodeSibling(dvv.Dot{}, v)
			if err == nil && !sib.Tombstone && sib.Expired(nowMs) {
				values[j] = EncodeSibling(true, 0, sib.Stamp, nil)
			}
		}
		entries[i] = dvv.Entry{Node: e.Node, Counter: e.Counter, Values: values}
	}
	return Record{Set: dvv.Set{Entries: entries}}
}

// sameRecord reports whether two encoded records are equal.
func sameRecord(a, b []byte) bool { return slices.Equal(a, b) }

// SameRecord reports whether two records are equal.
func SameRecord(a, b *Record) bool { return sameRecord(AppendRecord(nil, a), AppendRecord(nil, b)) }

// DigestSize is the length of a record's digest.
const DigestSize = 16

// Digest is a record's fingerprint: replicas whose digests of a key's
// record are equal hold the same record (the encoding is canonical, as
// SameRecord relies on). A truncated SHA-256, so that keys and values a
// client chooses cannot make two records collide.
type Digest [DigestSize]byte

// DigestOf returns r's digest.
func DigestOf(r *Record) Digest {
	sum := sha256.Sum256(AppendRecord(nil, r))
	return Digest(sum[:DigestSize])
}
