package antientropy

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/pandodb/pando/internal/storage"
)

// Buckets is the number of buckets of a tree: the leaves under its root.
// They are grouped in Segments of SegmentBuckets each, so that an exchange
// walks down only the segments that differ.
const (
	Buckets        = 1 << bucketBits
	Segments       = 32
	SegmentBuckets = Buckets / Segments
)

const bucketBits = 10

// ID names a tree: a namespace's storage name and a partition.
type ID struct {
	NS        string
	Partition int
}

func (id ID) String() string { return fmt.Sprintf("%s/%d", id.NS, id.Partition) }

// Layout maps positions to partitions and buckets, for a ring of a fixed
// number of partitions (a power of two).
type Layout struct {
	Partitions int
}

func (l Layout) bits() uint { return uint(bits.TrailingZeros(uint(l.Partitions))) }

// Locate returns the partition and bucket of a position.
func (l Layout) Locate(pos uint64) (partition, bucket int) {
	k := l.bits()
	if k > 0 {
		partition = int(pos >> (64 - k))
	}
	return partition, int(pos << k >> (64 - bucketBits))
}

// Range returns the positions of a bucket: [lo, hi), or from lo to the end
// of the position space when last is set.
func (l Layout) Range(partition, bucket int) (lo, hi uint64, last bool) {
	k := l.bits()
	width := uint64(1) << (64 - k - bucketBits)
	if k > 0 {
		lo = uint64(partition) << (64 - k)
	}
	lo += uint64(bucket) * width
	hi = lo + width // wraps to 0 after the last bucket of the last partition
	return lo, hi, hi == 0
}

// Source reads the records a replica holds in a range of positions of a
// namespace (its storage name): the key and the record as encoded.
type Source interface {
	Records(ns string, from, to uint64, toEnd bool, fn func(key, record []byte) error) error
}

// RecordHash is a record's contribution to its bucket's hash.
func RecordHash(key, record []byte) uint64 {
	d := xxhash.New()
	var n [binary.MaxVarintLen64]byte
	_, _ = d.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	_, _ = d.Write(key)
	_, _ = d.Write(record)
	return d.Sum64()
}

// agreement is what exchanges with one replica found about a tree's
// buckets: each bucket's hash when last found equal, and since when
// (Unix µs) it has been found equal at that hash.
type agreement struct {
	hash  [Buckets]uint64
	since [Buckets]int64
}

// tree is one partition's buckets on this replica.
type tree struct {
	mu     sync.Mutex
	hashes [Buckets]uint64
	dirty  [Buckets]bool
	// agreed holds, for each other replica, every bucket's hash when an
	// exchange last found it equal to that replica's (0: never): a bucket
	// whose hash is still the one agreed with every replica holds
	// records that every replica held too.
	agreed map[string]*agreement
	// swept is each bucket's hash when the purge last looked at it, and
	// sweepAt when it must look again even if the bucket has not changed
	// (a tombstone's grace ends; 0: never).
	swept   [Buckets]uint64
	sweepAt [Buckets]int64
}

func newTree() *tree {
	t := &tree{}
	for i := range t.dirty {
		t.dirty[i] = true
	}
	return t
}

// Trees are a replica's trees, made when first needed.
type Trees struct {
	src    Source
	layout func() Layout // fixed once the cluster has formed
	// Now dates agreements, by the clock the purge's cutoff is read from
	// (default time.Now). Set it before the first exchange.
	Now func() time.Time

	mu    sync.Mutex
	trees map[ID]*tree
}

// NewTrees returns the trees of the records src holds. layout gives the
// ring's partitions, 0 until the cluster has formed.
func NewTrees(src Source, layout func() Layout) *Trees {
	return &Trees{src: src, layout: layout, trees: map[ID]*tree{}}
}

func (ts *Trees) now() time.Time {
	if ts.Now != nil {
		return ts.Now()
	}
	return time.Now()
}

// Touch marks the bucket of a data key dirty: a write of it committed.
func (ts *Trees) Touch(dataKey []byte) {
	ns, pos, _, err := storage.ParseDataKey(dataKey)
	if err != nil {
		return
	}
	l := ts.layout()
	if l.Partitions == 0 {
		return // no tree yet
	}
	p, b := l.Locate(pos)
	ts.mu.Lock()
	t := ts.trees[ID{ns, p}]
	ts.mu.Unlock()
	if t == nil {
		return // every bucket is dirty when it is made
	}
	t.mu.Lock()
	t.dirty[b] = true
	t.mu.Unlock()
}

// Recompute marks one bucket of a tree for recomputing from storage.
func (ts *Trees) Recompute(id ID, bucket int) {
	t := ts.get(id)
	t.mu.Lock()
	t.dirty[bucket] = true
	t.mu.Unlock()
}

// agree records that buckets of tree id, at the hashes given, were found
// equal to node's.
func (ts *Trees) agree(id ID, node string, hashes *[Buckets]uint64, buckets func(yield func(int) bool)) {
	t := ts.get(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.agreed == nil {
		t.agreed = map[string]*agreement{}
	}
	a := t.agreed[node]
	if a == nil {
		a = &agreement{}
		t.agreed[node] = a
	}
	now := ts.now().UnixMicro()
	for b := range buckets {
		if a.hash[b] != hashes[b] {
			a.hash[b], a.since[b] = hashes[b], now
		}
	}
}

// agreedAll reports whether bucket b of tree id was last found equal to
// every one of nodes at hash h, and since when (Unix µs) it has been with
// all of them.
func (t *tree) agreedAll(nodes []string, b int, h uint64) (since int64, ok bool) {
	for _, n := range nodes {
		a := t.agreed[n]
		if a == nil || a.hash[b] != h {
			return 0, false
		}
		since = max(since, a.since[b])
	}
	return since, len(nodes) > 0
}

// Rescan marks every bucket of a tree for recomputing from storage, and
// keeps what exchanges agreed on: a bucket that comes out as it was stays
// agreed. It finds what a lost mark or a changed record on disk hid from
// the tree.
func (ts *Trees) Rescan(id ID) {
	t := ts.get(id)
	t.mu.Lock()
	for b := range t.dirty {
		t.dirty[b] = true
	}
	t.mu.Unlock()
}

// Forget drops a tree, so that it is rebuilt from storage when next
// needed: after corruption is suspected, or when its namespace is gone.
func (ts *Trees) Forget(id ID) {
	ts.mu.Lock()
	delete(ts.trees, id)
	ts.mu.Unlock()
}

func (ts *Trees) get(id ID) *tree {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.trees[id]
	if t == nil {
		t = newTree()
		ts.trees[id] = t
	}
	return t
}

// Hashes returns the bucket hashes of a tree, recomputing the dirty ones
// from storage first.
func (ts *Trees) Hashes(id ID) ([Buckets]uint64, error) {
	t := ts.get(id)
	var todo []int
	t.mu.Lock()
	for b, d := range t.dirty {
		if d {
			todo = append(todo, b)
			t.dirty[b] = false // a write from now on marks it again
		}
	}
	t.mu.Unlock()
	for _, b := range todo {
		h, err := ts.scan(id, b, nil)
		if err != nil {
			t.mu.Lock()
			t.dirty[b] = true
			t.mu.Unlock()
			return [Buckets]uint64{}, err
		}
		t.mu.Lock()
		t.hashes[b] = h
		t.mu.Unlock()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hashes, nil
}

// SegmentHashes returns the hashes of a tree's segments, each over its
// buckets' hashes.
func SegmentHashes(hashes *[Buckets]uint64) [Segments]uint64 {
	var segs [Segments]uint64
	b := make([]byte, 8*SegmentBuckets)
	for s := range segs {
		for i, h := range hashes[s*SegmentBuckets : (s+1)*SegmentBuckets] {
			binary.LittleEndian.PutUint64(b[8*i:], h)
		}
		segs[s] = xxhash.Sum64(b)
	}
	return segs
}

// Root is a tree's hash as a whole, over its segments' hashes: equal roots
// mean equal buckets.
func Root(segs *[Segments]uint64) uint64 {
	b := make([]byte, 8*Segments)
	for i, h := range segs {
		binary.LittleEndian.PutUint64(b[8*i:], h)
	}
	return xxhash.Sum64(b)
}

// KeyHash is one record of a bucket: its key and RecordHash.
type KeyHash struct {
	Key  []byte
	Hash uint64
}

// Bucket lists the records of one bucket, in storage order, with their
// hashes.
func (ts *Trees) Bucket(id ID, bucket int) ([]KeyHash, error) {
	var out []KeyHash
	_, err := ts.scan(id, bucket, func(kh KeyHash) { out = append(out, kh) })
	return out, err
}

// scan reads a bucket from storage and returns its hash, handing each
// record to each if it is set.
func (ts *Trees) scan(id ID, bucket int, each func(KeyHash)) (uint64, error) {
	lo, hi, last := ts.layout().Range(id.Partition, bucket)
	var h uint64
	err := ts.src.Records(id.NS, lo, hi, last, func(key, record []byte) error {
		rh := RecordHash(key, record)
		h ^= rh
		if each != nil {
			each(KeyHash{Key: append([]byte(nil), key...), Hash: rh})
		}
		return nil
	})
	return h, err
}
