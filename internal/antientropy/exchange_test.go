package antientropy

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pandodb/pando/internal/replica"
)

// side is one replica in these tests: its store and trees, reached
// in-process (the network is not what is under test here).
type side struct {
	store *replica.Store
	trees *Trees
	// blind drops the marks of committed writes: a tree that misses them.
	blind atomic.Bool
}

func newSide(t *testing.T, layout Layout) *side {
	s := &side{}
	s.store = store(t, func(k []byte) {
		if !s.blind.Load() {
			s.trees.Touch(k)
		}
	})
	s.trees = NewTrees(s.store, func() Layout { return layout })
	return s
}

func (s *side) Record(ns string, key []byte) ([]byte, error) {
	rec, found, err := s.store.Read(ns, key)
	if err != nil || !found {
		return nil, err
	}
	return replica.AppendRecord(nil, &rec), nil
}

func (s *side) Merge(ns string, keys, records [][]byte) error {
	return s.store.MergeEncoded(ns, keys, records)
}

func (s *side) Settle(ns string, key []byte, hash uint64, cutoff int64) (bool, int64, error) {
	return s.store.Settle(ns, key, func(rec []byte) bool { return RecordHash(key, rec) == hash }, cutoff)
}

func (s *side) Settleable(ns string, key []byte, hash uint64) (int64, bool, error) {
	return s.store.Settleable(ns, key, func(rec []byte) bool { return RecordHash(key, rec) == hash })
}

func (s *side) SettleRecords(_ context.Context, ns string, keys [][]byte, hashes []uint64, cutoff int64) ([]bool, error) {
	out := make([]bool, len(keys))
	for i, k := range keys {
		var err error
		if out[i], _, err = s.Settle(ns, k, hashes[i], cutoff); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *side) Compare(_ context.Context, id ID, root uint64) (bool, *[Segments]uint64, error) {
	h, err := s.trees.Hashes(id)
	segs := SegmentHashes(&h)
	return Root(&segs) == root, &segs, err
}

func (s *side) Hashes(_ context.Context, id ID, segments []int) ([]uint64, error) {
	h, err := s.trees.Hashes(id)
	var out []uint64
	for _, seg := range segments {
		out = append(out, h[seg*SegmentBuckets:(seg+1)*SegmentBuckets]...)
	}
	return out, err
}

func (s *side) Buckets(_ context.Context, id ID, asks []Ask) ([]Listing, error) {
	out := make([]Listing, len(asks))
	for i, a := range asks {
		list, err := s.trees.Bucket(id, a.Bucket)
		if err != nil {
			return nil, err
		}
		if !a.Whole {
			out[i].Hashes = list
			continue
		}
		for _, kh := range list {
			rec, err := s.Record(id.NS, kh.Key)
			if err != nil {
				return nil, err
			}
			out[i].Records = append(out[i].Records, Entry{kh.Key, rec})
		}
	}
	return out, nil
}

func (s *side) Read(_ context.Context, ns string, keys [][]byte) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		var err error
		if out[i], err = s.Record(ns, k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func exchangeAll(t *testing.T, a, b *side, layout Layout) Result {
	t.Helper()
	var total Result
	for p := range layout.Partitions {
		res, err := Exchange(context.Background(), a.trees, a, "b", b, ID{"ns", p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		total.Pulled += res.Pulled
		total.Bytes += res.Bytes
		total.Overhead += res.Overhead
		total.Stale += res.Stale
		if !res.Equal {
			total.Buckets += res.Buckets
		}
	}
	return total
}

func TestExchangesRepairEachSide(t *testing.T) {
	layout := Layout{Partitions: 4}
	a, b := newSide(t, layout), newSide(t, layout)
	for i := range 300 {
		put(t, a.store, fmt.Sprint("both", i), "v")
		put(t, b.store, fmt.Sprint("both", i), "v")
	}
	divergent := 0
	for i := range 50 {
		put(t, a.store, fmt.Sprint("a", i), "only on a")
		put(t, b.store, fmt.Sprint("b", i), "only on b")
		rec, _ := a.Record("ns", []byte(fmt.Sprint("a", i)))
		divergent += 2 * len(rec)
	}
	res := exchangeAll(t, a, b, layout)
	back := exchangeAll(t, b, a, layout)
	if res.Pulled != 50 || back.Pulled != 50 {
		t.Fatalf("a pulled %d and b pulled %d records, want 50 each", res.Pulled, back.Pulled)
	}
	t.Logf("moved %d bytes of records, %d of hashes and listings, for %d bytes of divergent records",
		res.Bytes+back.Bytes, res.Overhead+back.Overhead, divergent)
	for _, pair := range [][2]*side{{a, b}, {b, a}} {
		if again := exchangeAll(t, pair[0], pair[1], layout); again.Pulled != 0 || again.Buckets != 0 {
			t.Fatalf("a second exchange still found %d buckets and moved %d records", again.Buckets, again.Pulled)
		}
	}
	for i := range 50 {
		for _, s := range []*side{a, b} {
			for _, k := range []string{fmt.Sprint("a", i), fmt.Sprint("b", i)} {
				if rec, _ := s.Record("ns", []byte(k)); rec == nil {
					t.Fatalf("%s missing after the exchange", k)
				}
			}
		}
	}
}

// A tree whose bucket hash no longer matches its records (a bit flipped in
// memory, a mark lost) is found when an exchange sees the bucket differ
// while its records agree, and the bucket is recomputed from storage.
func TestStaleBucketIsDetectedAndRecomputed(t *testing.T) {
	layout := Layout{Partitions: 1}
	a, b := newSide(t, layout), newSide(t, layout)
	for i := range 100 {
		put(t, a.store, fmt.Sprint("k", i), "v")
		put(t, b.store, fmt.Sprint("k", i), "v")
	}
	id := ID{"ns", 0}
	if _, err := a.trees.Hashes(id); err != nil {
		t.Fatal(err)
	}
	tr := a.trees.get(id)
	tr.mu.Lock()
	tr.hashes[7] ^= 1 // the corruption
	tr.mu.Unlock()
	res := exchangeAll(t, a, b, layout)
	if res.Stale != 1 || res.Pulled != 0 {
		t.Fatalf("stale buckets %d, records moved %d: want the corrupt bucket found and nothing moved", res.Stale, res.Pulled)
	}
	if again := exchangeAll(t, a, b, layout); again.Buckets != 0 {
		t.Fatalf("after the recompute the trees still differ in %d buckets", again.Buckets)
	}
}

// One differing record costs the segment hashes, the bucket hashes of one
// segment and the listing of one bucket: well under the 8 KB of a whole
// tree's bucket hashes.
func TestOneDifferenceWalksOneSegment(t *testing.T) {
	layout := Layout{Partitions: 1}
	a, b := newSide(t, layout), newSide(t, layout)
	for i := range 1000 {
		put(t, a.store, fmt.Sprint("k", i), "v")
		put(t, b.store, fmt.Sprint("k", i), "v")
	}
	put(t, a.store, "k500", "newer")
	res := exchangeAll(t, b, a, layout)
	if res.Pulled != 1 || res.Buckets != 1 {
		t.Fatalf("b pulled %d records from %d buckets: want the one key from one bucket", res.Pulled, res.Buckets)
	}
	if limit := 8*Segments + 8*SegmentBuckets + 200; res.Overhead > limit {
		t.Fatalf("finding one differing record cost %d bytes, more than %d", res.Overhead, limit)
	}
	if rec, _ := b.Record("ns", []byte("k500")); rec == nil || !bytes.Contains(rec, []byte("newer")) {
		t.Fatalf("b's record of k500 after the exchange: %q", rec)
	}
}
