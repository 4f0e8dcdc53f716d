package ring

import (
	"fmt"
	"math/bits"
	"slices"
)

// NodeID names a node. It is never empty.
type NodeID = string

// maxPartitions is the largest partition count a ring can have: one
// partition per hash slot.
const maxPartitions = Slots

// Ring is an immutable assignment of P partitions to owner nodes. Partition i
// covers the hashes whose top log2(P) bits equal i. A Ring is safe for
// concurrent use: no method modifies it.
type Ring struct {
	partitions int
	shift      uint     // 64 - log2(partitions): Partition(h) = h >> shift
	owners     []NodeID // owners[i] owns partition i
	nodes      []NodeID // sorted distinct owners, derived from owners
}

// newRing builds a Ring from a complete owner table whose length is a valid
// partition count. It keeps owners (callers hand over a fresh slice).
func newRing(owners []NodeID) *Ring {
	p := len(owners)
	nodes := slices.Clone(owners)
	slices.Sort(nodes)
	return &Ring{
		partitions: p,
		shift:      uint(64 - bits.TrailingZeros(uint(p))),
		owners:     owners,
		nodes:      slices.Compact(nodes),
	}
}

// validPartitions reports whether p is a power of two in [1, maxPartitions].
func validPartitions(p int) bool {
	return p >= 1 && p <= maxPartitions && p&(p-1) == 0
}

// Partitions returns P, the number of partitions.
func (r *Ring) Partitions() int { return r.partitions }

// Partition returns the partition that hash falls in: its top log2(P) bits.
func (r *Ring) Partition(hash uint64) int {
	// A shift by 64 (P = 1) yields 0 in Go, as it should.
	return int(hash >> r.shift)
}

// Range returns the hashes of partition as [lo, hi). For the last partition hi
// would be 2^64, which does not fit: Range returns hi = 0 and last = true,
// meaning "from lo to the end of hash space".
func (r *Ring) Range(partition int) (lo, hi uint64, last bool) {
	r.check(partition)
	lo = uint64(partition) << r.shift
	if partition == r.partitions-1 {
		return lo, 0, true
	}
	return lo, uint64(partition+1) << r.shift, false
}

// Owner returns the node that owns partition.
func (r *Ring) Owner(partition int) NodeID {
	r.check(partition)
	return r.owners[partition]
}

// Owners returns a copy of the owner table: element i owns partition i.
func (r *Ring) Owners() []NodeID { return slices.Clone(r.owners) }

// Nodes returns the distinct owners in sorted order. A node that was claimed
// for but owns no partition (possible only with more nodes than partitions)
// is not among them.
func (r *Ring) Nodes() []NodeID { return slices.Clone(r.nodes) }

// NumNodes is len(r.Nodes()), without the copy.
func (r *Ring) NumNodes() int { return len(r.nodes) }

// PartitionsOf returns the partitions node owns, in increasing order; nil if
// it owns none.
func (r *Ring) PartitionsOf(node NodeID) []int {
	var ps []int
	for i, o := range r.owners {
		if o == node {
			ps = append(ps, i)
		}
	}
	return ps
}

// Preference returns the nodes that replicate partition for replication
// factor n: the first n distinct owners met walking forward from partition,
// in walk order, so the first is Owner(partition). It returns fewer than n
// nodes only when the ring has fewer than n nodes, and nil for n < 1.
func (r *Ring) Preference(partition, n int) []NodeID {
	r.check(partition)
	if n < 1 {
		return nil
	}
	return r.walk(partition, n)
}

// Fallbacks returns the nodes after the preference list of partition for
// replication factor n: every other node of the ring, in the order the walk
// forward from partition meets them. They stand in, in that order, for
// preference-list nodes that are down.
func (r *Ring) Fallbacks(partition, n int) []NodeID {
	r.check(partition)
	all := r.walk(partition, len(r.nodes))
	if n < 1 {
		return all
	}
	if n >= len(all) {
		return nil
	}
	return all[n:]
}

// walk returns the first limit distinct owners met walking forward from
// partition.
func (r *Ring) walk(partition, limit int) []NodeID {
	limit = min(limit, len(r.nodes))
	out := make([]NodeID, 0, limit)
	var seen map[NodeID]bool // only for long walks; short ones scan out
	if limit > 16 {
		seen = make(map[NodeID]bool, limit)
	}
	for k := 0; k < r.partitions && len(out) < limit; k++ {
		o := r.owners[(partition+k)&(r.partitions-1)]
		if seen != nil {
			if seen[o] {
				continue
			}
			seen[o] = true
		} else if slices.Contains(out, o) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// Equal reports whether r and o have the same partitions and owners.
func (r *Ring) Equal(o *Ring) bool {
	if r == nil || o == nil {
		return r == o
	}
	return r.partitions == o.partitions && slices.Equal(r.owners, o.owners)
}

// check panics if partition is out of range, as indexing a slice would, but
// with a message that says which ring.
func (r *Ring) check(partition int) {
	if partition < 0 || partition >= r.partitions {
		panic(fmt.Sprintf("ring: partition %d out of range [0, %d)", partition, r.partitions))
	}
}
