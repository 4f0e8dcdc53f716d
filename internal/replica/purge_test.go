package replica

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/pandodb/pando/dvv"
)

func tombstoneAt(stamp int64) UpdateFunc {
	return func(cur Record, _ bool) (Record, bool, error) {
		return Record{Set: dvv.Update(cur.Set.Context(), cur.Set, "n1", EncodeSibling(true, 0, stamp, nil))}, true, nil
	}
}

// Settle purges a record only if it is all tombstones, old enough, and
// still the one the caller knows; the cache forgets it too.
func TestSettlePurgesOnlyKnownOldTombstones(t *testing.T) {
	for _, cache := range []int64{-1, 1 << 20} {
		s, _, _ := newStore(t, cache)
		key := []byte("k")
		rec, err := s.Update("ns", key, overwrite("n1", []byte("v"), 0))
		if err != nil {
			t.Fatal(err)
		}
		enc := AppendRecord(nil, &rec)
		same := func(b []byte) bool { return bytes.Equal(b, enc) }
		if ok, _, err := s.Settle("ns", key, same, 1<<62); ok || err != nil {
			t.Fatalf("a live value was purged (%v)", err)
		}
		if rec, err = s.Update("ns", key, tombstoneAt(5000)); err != nil {
			t.Fatal(err)
		}
		enc = AppendRecord(nil, &rec)
		if ok, youngest, err := s.Settle("ns", key, same, 4999); ok || youngest != 5000 || err != nil {
			t.Fatalf("a young tombstone: purged %v, youngest %d, %v", ok, youngest, err)
		}
		if ok, _, _ := s.Settle("ns", key, func([]byte) bool { return false }, 5000); ok {
			t.Fatal("a tombstone other than the one the caller knows was purged")
		}
		if youngest, only, err := s.Settleable("ns", key, same); !only || youngest != 5000 || err != nil {
			t.Fatalf("Settleable: %d %v %v", youngest, only, err)
		}
		if ok, _, err := s.Settle("ns", key, same, 5000); !ok || err != nil {
			t.Fatalf("an old tombstone, agreed on, was not purged: %v", err)
		}
		if _, found, _ := s.Read("ns", key); found {
			t.Fatal("the purged record is still read")
		}
	}
}

// A key written by one node across restarts (one epoch each) keeps one
// entry per node once settled; entries that carry a live value stay.
func TestRetireEpochsKeepsOneEntryPerNode(t *testing.T) {
	var rec Record
	write := func(actor, v string) {
		rec = Record{Set: dvv.Update(rec.Set.Context(), rec.Set, actor, EncodeSibling(false, 0, 1, []byte(v)))}
	}
	for epoch := 1; epoch <= 100; epoch++ {
		write("n1."+strconv.Itoa(epoch), "v")
	}
	write("n2.7", "w")
	// A concurrent write by n1's earlier life: its value is live.
	rec = Record{Set: dvv.Sync(rec.Set, dvv.Update(nil, dvv.Set{}, "n3.1", EncodeSibling(false, 0, 1, []byte("x"))))}
	if len(rec.Set.Entries) != 102 {
		t.Fatalf("%d entries before settling, want 102", len(rec.Set.Entries))
	}
	next, changed := rec.RetireEpochs()
	if !changed || len(next.Set.Entries) != 3 {
		t.Fatalf("after RetireEpochs: changed %v, entries %v", changed, next.Set.Entries)
	}
	if a, b := len(rec.Siblings()), len(next.Siblings()); a != b {
		t.Fatalf("siblings before %d, after %d", a, b)
	}
	if _, again := next.RetireEpochs(); again {
		t.Fatal("a settled record settled again")
	}
	// The next write of n1, in a new life, supersedes what it saw.
	next = Record{Set: dvv.Update(next.Set.Context(), next.Set, "n1.101", EncodeSibling(false, 0, 1, []byte("z")))}
	if vs := next.Set.Values(); len(vs) != 1 {
		t.Fatalf("a write over the settled record's context left %d values", len(vs))
	}
}
