package ring

import "errors"

var (
	// ErrPartitions means the partition count is not a power of two in
	// [1, 16384], one partition per hash slot at most.
	ErrPartitions = errors.New("ring: partitions must be a power of two between 1 and 16384")
	// ErrNoNodes means the node set is empty.
	ErrNoNodes = errors.New("ring: no nodes")
	// ErrEmptyNode means a node id is the empty string.
	ErrEmptyNode = errors.New("ring: empty node id")
	// ErrDuplicateNode means a node id appears twice in the node set.
	ErrDuplicateNode = errors.New("ring: duplicate node")
	// ErrReplicas means the replication factor n is below 1.
	ErrReplicas = errors.New("ring: n must be at least 1")
	// ErrSubstitute means a replacement names a node that owns nothing, or
	// one that owns partitions already.
	ErrSubstitute = errors.New("ring: invalid substitution")
	// ErrVersion means an encoded ring has a format version this package does
	// not know.
	ErrVersion = errors.New("ring: unsupported encoding version")
	// ErrCorrupt means an encoded ring is malformed.
	ErrCorrupt = errors.New("ring: corrupt encoding")
)
