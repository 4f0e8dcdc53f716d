package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// recordVersion is the encoding version written as a record's first byte.
const recordVersion = 1

const flagTombstone = 1 << 0

// knownFlags are the flag bits this version understands; a record with any
// other bit set was written by a newer Pando.
const knownFlags = flagTombstone

// ErrCorruptRecord is returned for a record that cannot be decoded.
var ErrCorruptRecord = errors.New("replica: corrupt record")

// Record is the stored form of one key.
//
// Encoding (version 1):
//
//	byte     version (1)
//	byte     flags (bit 0: tombstone)
//	uvarint  expire-at, Unix milliseconds (0: never)
//	uvarint  length of causal metadata, then its bytes
//	...      the value: every byte to the end
type Record struct {
	Tombstone bool
	ExpireAt  int64
	// Causal is the key's causal metadata, opaque to this package.
	Causal []byte
	Value  []byte
}

// Expired reports whether the record's expiry is at or before now (Unix ms).
func (r *Record) Expired(nowMs int64) bool {
	return r.ExpireAt != 0 && r.ExpireAt <= nowMs
}

// Live reports whether a reader at now sees a value.
func (r *Record) Live(nowMs int64) bool { return !r.Tombstone && !r.Expired(nowMs) }

// AppendRecord appends r's encoding to dst.
func AppendRecord(dst []byte, r *Record) []byte {
	var flags byte
	if r.Tombstone {
		flags |= flagTombstone
	}
	dst = append(dst, recordVersion, flags)
	dst = binary.AppendUvarint(dst, uint64(r.ExpireAt))
	dst = binary.AppendUvarint(dst, uint64(len(r.Causal)))
	dst = append(dst, r.Causal...)
	return append(dst, r.Value...)
}

// DecodeRecord decodes b into r. r's slices alias b.
func DecodeRecord(b []byte, r *Record) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: %d bytes", ErrCorruptRecord, len(b))
	}
	if b[0] != recordVersion {
		return fmt.Errorf("%w: unknown version %d", ErrCorruptRecord, b[0])
	}
	flags := b[1]
	if flags&^knownFlags != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrCorruptRecord, flags)
	}
	b = b[2:]
	exp, n := binary.Uvarint(b)
	if n <= 0 || exp > 1<<62 {
		return fmt.Errorf("%w: bad expiry", ErrCorruptRecord)
	}
	b = b[n:]
	cl, n := binary.Uvarint(b)
	if n <= 0 || cl > uint64(len(b)-n) {
		return fmt.Errorf("%w: bad causal metadata length", ErrCorruptRecord)
	}
	b = b[n:]
	*r = Record{
		Tombstone: flags&flagTombstone != 0,
		ExpireAt:  int64(exp),
		Causal:    b[:cl:cl],
		Value:     b[cl:],
	}
	return nil
}
