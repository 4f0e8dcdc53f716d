package storage

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/pandodb/pando/ring"
)

// Keyspace prefixes: the first byte of every key.
const (
	prefixMeta   byte = 'm'
	prefixData   byte = 'd'
	prefixExpiry byte = 'x'
	prefixRaft   byte = 'r'
	prefixHint   byte = 'h'
	prefixStrong byte = 's'
)

// MaxNamespaceLen is the longest namespace name a data key can hold.
const MaxNamespaceLen = 255

// Hash is the 64-bit position of a key in hash space: its Redis Cluster
// hash slot (ring.Slot: CRC16 of the key or its hash tag) in the top 14
// bits, then the top 50 bits of xxhash64 of the namespace, a zero byte and
// the key. The ring places partitions on it (a partition is a range of
// slots) and data keys sort by it, so a slot, and so a partition, is one
// range of the data keyspace.
func Hash(ns string, key []byte) uint64 {
	d := xxhash.New()
	_, _ = d.WriteString(ns)
	_, _ = d.Write([]byte{0})
	_, _ = d.Write(key)
	return uint64(ring.Slot(key))<<(64-ring.SlotBits) | d.Sum64()>>ring.SlotBits
}

// DataKey returns the storage key of record key in namespace ns, appended to
// dst.
func DataKey(dst []byte, ns string, key []byte) []byte {
	return DataKeyHashed(dst, ns, Hash(ns, key), key)
}

// DataKeyHashed is DataKey for a caller that already has h = Hash(ns, key).
func DataKeyHashed(dst []byte, ns string, h uint64, key []byte) []byte {
	if dst == nil {
		dst = make([]byte, 0, 2+len(ns)+8+len(key))
	}
	dst = namespacePrefix(dst, ns)
	dst = binary.BigEndian.AppendUint64(dst, h)
	return append(dst, key...)
}

func namespacePrefix(dst []byte, ns string) []byte {
	if len(ns) > MaxNamespaceLen {
		panic(fmt.Sprintf("storage: namespace name of %d bytes", len(ns)))
	}
	dst = append(dst, prefixData, byte(len(ns)))
	return append(dst, ns...)
}

// DataSpan returns the bounds [lower, upper) of namespace ns's records whose
// hash is at least from. Upper is exclusive and covers the rest of the
// namespace.
func DataSpan(ns string, from uint64) (lower, upper []byte) {
	p := namespacePrefix(nil, ns)
	lower = binary.BigEndian.AppendUint64(append([]byte(nil), p...), from)
	upper = prefixEnd(p)
	return lower, upper
}

// DataSpanAll returns the bounds of every record of namespace ns.
func DataSpanAll(ns string) (lower, upper []byte) {
	p := namespacePrefix(nil, ns)
	return p, prefixEnd(p)
}

// DataSpanTo returns the bounds of namespace ns's records whose hash is
// below to.
func DataSpanTo(ns string, to uint64) (lower, upper []byte) {
	p := namespacePrefix(nil, ns)
	return p, binary.BigEndian.AppendUint64(append([]byte(nil), p...), to)
}

// ParseDataKey splits a data key into namespace, hash and record key. The
// returned slices alias k.
func ParseDataKey(k []byte) (ns string, h uint64, key []byte, err error) {
	if len(k) < 2 || k[0] != prefixData {
		return "", 0, nil, fmt.Errorf("storage: not a data key: %q", k)
	}
	n := int(k[1])
	if len(k) < 2+n+8 {
		return "", 0, nil, fmt.Errorf("storage: short data key: %q", k)
	}
	ns = string(k[2 : 2+n])
	h = binary.BigEndian.Uint64(k[2+n:])
	return ns, h, k[2+n+8:], nil
}

// ExpiryKey returns the expiry-index entry of a data key that expires at
// expireAt (unix milliseconds).
func ExpiryKey(dst []byte, expireAt int64, dataKey []byte) []byte {
	dst = append(dst, prefixExpiry)
	dst = binary.BigEndian.AppendUint64(dst, uint64(expireAt))
	return append(dst, dataKey...)
}

// ExpirySpan returns the bounds of expiry-index entries for times before
// until (unix milliseconds).
func ExpirySpan(until int64) (lower, upper []byte) {
	lower = []byte{prefixExpiry}
	upper = binary.BigEndian.AppendUint64([]byte{prefixExpiry}, uint64(until))
	return lower, upper
}

// ParseExpiryKey splits an expiry-index key into its time and data key.
func ParseExpiryKey(k []byte) (expireAt int64, dataKey []byte, err error) {
	if len(k) < 9 || k[0] != prefixExpiry {
		return 0, nil, fmt.Errorf("storage: not an expiry key: %q", k)
	}
	return int64(binary.BigEndian.Uint64(k[1:9])), k[9:], nil
}

// MetaKey returns the key of a node-local fact.
func MetaKey(name string) []byte {
	return append([]byte{prefixMeta, 0}, name...)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// RaftKey returns the key of a Raft group's record: 'r' | group (8 bytes) |
// kind | suffix. Kinds: 'e' log entries (suffix: index, 8 bytes big
// endian), 'h' hard state, 's' snapshot.
func RaftKey(group uint64, kind byte, suffix ...byte) []byte {
	k := binary.BigEndian.AppendUint64([]byte{prefixRaft}, group)
	k = append(k, kind)
	return append(k, suffix...)
}

// RaftEntryKey is the key of log entry index of a group.
func RaftEntryKey(group, index uint64) []byte {
	return RaftKey(group, 'e', binary.BigEndian.AppendUint64(nil, index)...)
}

// HintKey returns the key of a hint for node target: 'h' | len(target) |
// target | created (unix ms, 8 bytes big endian) | seq (8 bytes big endian).
// A target's hints sort oldest first.
func HintKey(target string, created int64, seq uint64) []byte {
	k := hintPrefix(nil, target)
	k = binary.BigEndian.AppendUint64(k, uint64(created))
	return binary.BigEndian.AppendUint64(k, seq)
}

func hintPrefix(dst []byte, target string) []byte {
	if len(target) > 255 {
		panic(fmt.Sprintf("storage: node id of %d bytes", len(target)))
	}
	dst = append(dst, prefixHint, byte(len(target)))
	return append(dst, target...)
}

// HintSpan returns the bounds of target's hints; with target empty, of
// every hint.
func HintSpan(target string) (lower, upper []byte) {
	if target == "" {
		return []byte{prefixHint}, []byte{prefixHint + 1}
	}
	p := hintPrefix(nil, target)
	return p, prefixEnd(p)
}

// ParseHintKey splits a hint key into its target, creation time and
// sequence number.
func ParseHintKey(k []byte) (target string, created int64, seq uint64, err error) {
	if len(k) < 2 || k[0] != prefixHint || len(k) != 2+int(k[1])+16 {
		return "", 0, 0, fmt.Errorf("storage: not a hint key: %q", k)
	}
	n := int(k[1])
	return string(k[2 : 2+n]), int64(binary.BigEndian.Uint64(k[2+n:])), binary.BigEndian.Uint64(k[2+n+8:]), nil
}

// Kinds of a strong partition's keys, after 's' | group.
const (
	strongApplied byte = 'a'
	strongIDs     byte = 'i'
	strongData    byte = 'k'
)

// strongPrefix appends 's' | group (8 bytes, big endian) | kind to dst.
func strongPrefix(dst []byte, group uint64, kind byte) []byte {
	dst = append(dst, prefixStrong)
	dst = binary.BigEndian.AppendUint64(dst, group)
	return append(dst, kind)
}

// StrongKey returns the storage key of key in strong partition group,
// appended to dst: 's' | group (8 bytes, big endian) | 'k' | key. A group's
// keys sort together, in key order, apart from every other group's.
func StrongKey(dst []byte, group uint64, key []byte) []byte {
	if dst == nil {
		dst = make([]byte, 0, 10+len(key))
	}
	return append(strongPrefix(dst, group, strongData), key...)
}

// StrongSpan returns the bounds [lower, upper) of every key of strong
// partition group, and of nothing else (not its applied index).
func StrongSpan(group uint64) (lower, upper []byte) {
	lower = strongPrefix(nil, group, strongData)
	return lower, prefixEnd(lower)
}

// StrongAppliedKey returns the key under which strong partition group's
// state machine keeps the index of the last command it applied:
// 's' | group | 'a'. It sorts outside StrongSpan, so that replacing the
// group's keys leaves it alone.
func StrongAppliedKey(group uint64) []byte {
	return strongPrefix(nil, group, strongApplied)
}

// StrongIDKey returns the key under which strong partition group keeps a
// request id applied in window epoch: 's' | group | 'i' | epoch (8 bytes,
// big endian) | id. A group's ids sort by epoch, so that the old ones go
// with one range deletion, and outside StrongSpan.
func StrongIDKey(group, epoch uint64, id string) []byte {
	return append(binary.BigEndian.AppendUint64(strongPrefix(nil, group, strongIDs), epoch), id...)
}

// StrongIDSpan returns the bounds [lower, upper) of strong partition
// group's request ids.
func StrongIDSpan(group uint64) (lower, upper []byte) {
	lower = strongPrefix(nil, group, strongIDs)
	return lower, prefixEnd(lower)
}

// ParseStrongIDKey splits a key made by StrongIDKey into its epoch and id.
func ParseStrongIDKey(k []byte) (epoch uint64, id string, err error) {
	if len(k) < 18 || k[0] != prefixStrong || k[9] != strongIDs {
		return 0, "", fmt.Errorf("storage: not a strong request id key: %q", k)
	}
	return binary.BigEndian.Uint64(k[10:18]), string(k[18:]), nil
}

// ParseStrongKey splits a key made by StrongKey into its group and record
// key. The returned key aliases k.
func ParseStrongKey(k []byte) (group uint64, key []byte, err error) {
	if len(k) < 10 || k[0] != prefixStrong || k[9] != strongData {
		return 0, nil, fmt.Errorf("storage: not a strong partition key: %q", k)
	}
	return binary.BigEndian.Uint64(k[1:9]), k[10:], nil
}
