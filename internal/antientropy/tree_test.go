package antientropy

import (
	"fmt"
	"testing"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"pgregory.net/rapid"
)

func TestLayoutTilesThePositionSpace(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := Layout{Partitions: 1 << rapid.IntRange(0, 14).Draw(t, "k")}
		pos := rapid.Uint64().Draw(t, "pos")
		p, b := l.Locate(pos)
		lo, hi, last := l.Range(p, b)
		if pos < lo || (!last && pos >= hi) {
			t.Fatalf("position %x in partition %d bucket %d, whose range is [%x, %x) last=%v", pos, p, b, lo, hi, last)
		}
		if b+1 < Buckets {
			if nlo, _, _ := l.Range(p, b+1); nlo != hi {
				t.Fatalf("bucket %d ends at %x, the next starts at %x", b, hi, nlo)
			}
		}
	})
}

// store is a replica on real Pebble whose writes mark trees dirty.
func store(t *testing.T, watch func([]byte)) *replica.Store {
	t.Helper()
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	s, err := replica.New(replica.Config{Engine: eng, Watch: watch})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *replica.Store, key, value string) {
	t.Helper()
	_, err := s.Update("ns", []byte(key), func(cur replica.Record, _ bool) (replica.Record, bool, error) {
		return replica.Record{Set: dvv.Update(cur.Set.Context(), cur.Set, "n1", replica.EncodeSibling(false, 0, 1, []byte(value)))}, true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTreesFollowWritesAndFindTheDifference(t *testing.T) {
	layout := Layout{Partitions: 4}
	var ta, tb *Trees
	a := store(t, func(k []byte) { ta.Touch(k) })
	b := store(t, func(k []byte) { tb.Touch(k) })
	fixed := func() Layout { return layout }
	ta, tb = NewTrees(a, fixed), NewTrees(b, fixed)
	for i := range 500 {
		put(t, a, fmt.Sprint("k", i), "v")
		put(t, b, fmt.Sprint("k", i), "v")
	}
	for p := range layout.Partitions {
		ha, err := ta.Hashes(ID{"ns", p})
		if err != nil {
			t.Fatal(err)
		}
		hb, _ := tb.Hashes(ID{"ns", p})
		sa, sb := SegmentHashes(&ha), SegmentHashes(&hb)
		if ha != hb || Root(&sa) != Root(&sb) {
			t.Fatalf("partition %d: replicas with the same records have different trees", p)
		}
	}
	// One replica takes a write the other misses: exactly its bucket
	// differs, and its listing names the key.
	put(t, a, "k7", "newer")
	pos := storage.Hash("ns", []byte("k7"))
	p, bucket := layout.Locate(pos)
	ha, _ := ta.Hashes(ID{"ns", p})
	hb, _ := tb.Hashes(ID{"ns", p})
	var differ []int
	for i := range ha {
		if ha[i] != hb[i] {
			differ = append(differ, i)
		}
	}
	if len(differ) != 1 || differ[0] != bucket {
		t.Fatalf("buckets that differ: %v, want only %d", differ, bucket)
	}
	sa, sb := SegmentHashes(&ha), SegmentHashes(&hb)
	for s := range sa {
		if (sa[s] != sb[s]) != (s == bucket/SegmentBuckets) {
			t.Fatalf("segment %d: differs %v, want only the segment of bucket %d to differ", s, sa[s] != sb[s], bucket)
		}
	}
	la, _ := ta.Bucket(ID{"ns", p}, bucket)
	lb, _ := tb.Bucket(ID{"ns", p}, bucket)
	found := false
	for i := range la {
		if string(la[i].Key) == "k7" {
			found = la[i].Hash != lb[i].Hash
		}
	}
	if len(la) != len(lb) || !found {
		t.Fatalf("the bucket listings do not show k7 differing: %d and %d records", len(la), len(lb))
	}
	// Without the mark of a write, a tree does not see it: the marks are
	// what keeps trees current without rescanning everything.
	tb.Forget(ID{"ns", p})
	if _, err := tb.Hashes(ID{"ns", p}); err != nil {
		t.Fatal(err)
	}
	stale := NewTrees(b, fixed)
	before, _ := stale.Hashes(ID{"ns", p})
	put(t, b, "k7", "newer") // b's watch marks tb's tree, not stale's
	after, _ := stale.Hashes(ID{"ns", p})
	fresh, _ := tb.Hashes(ID{"ns", p})
	if before != after || fresh == before {
		t.Fatal("a tree changed without a mark, or the marked one did not")
	}
	if fresh != ha {
		t.Fatal("after the same write, the two replicas' trees still differ")
	}
}
