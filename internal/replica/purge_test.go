package replica

import (
	"bytes"
	"testing"

	"github.com/pandodb/pando/dvv"
)

func tombstoneAt(stamp int64) UpdateFunc {
	return func(cur Record, _ bool) (Record, bool, error) {
		return Record{Set: dvv.Update(cur.Set.Context(), cur.Set, "n1", EncodeSibling(true, 0, stamp, nil))}, true, nil
	}
}

// PurgeTombstone removes a record only if it is all tombstones, old enough,
// and still the one the caller knows; the cache forgets it too.
func TestPurgeTombstoneIsConditional(t *testing.T) {
	for _, cache := range []int64{-1, 1 << 20} {
		s, _, _ := newStore(t, cache)
		key := []byte("k")
		rec, err := s.Update("ns", key, overwrite("n1", []byte("v"), 0))
		if err != nil {
			t.Fatal(err)
		}
		enc := AppendRecord(nil, &rec)
		same := func(b []byte) bool { return bytes.Equal(b, enc) }
		if ok, _, err := s.PurgeTombstone("ns", key, same, 1<<62); ok || err != nil {
			t.Fatalf("a live value was purged (%v)", err)
		}
		if rec, err = s.Update("ns", key, tombstoneAt(5000)); err != nil {
			t.Fatal(err)
		}
		enc = AppendRecord(nil, &rec)
		if ok, youngest, err := s.PurgeTombstone("ns", key, same, 4999); ok || youngest != 5000 || err != nil {
			t.Fatalf("a young tombstone: purged %v, youngest %d, %v", ok, youngest, err)
		}
		if ok, _, _ := s.PurgeTombstone("ns", key, func([]byte) bool { return false }, 5000); ok {
			t.Fatal("a tombstone other than the one the caller knows was purged")
		}
		if youngest, only, err := s.Tombstone("ns", key, same); !only || youngest != 5000 || err != nil {
			t.Fatalf("Tombstone: %d %v %v", youngest, only, err)
		}
		if ok, _, err := s.PurgeTombstone("ns", key, same, 5000); !ok || err != nil {
			t.Fatalf("an old tombstone, agreed on, was not purged: %v", err)
		}
		if _, found, _ := s.Read("ns", key); found {
			t.Fatal("the purged record is still read")
		}
	}
}
