package replica

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/storage"
	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newStore(t testing.TB, cacheBytes int64) (*Store, *clock.Manual, *storage.Engine) {
	t.Helper()
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	clk := clock.NewManual(t0)
	s, err := New(Config{Engine: eng, Clock: clk, CacheBytes: cacheBytes})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, eng
}

// overwrite writes v at node, superseding what the replica holds.
func overwrite(node string, v []byte, exp int64) UpdateFunc {
	return func(cur Record, _ bool) (Record, bool, error) {
		return Record{Set: dvv.Update(cur.Set.Context(), cur.Set, node, EncodeSibling(false, exp, 0, v))}, true, nil
	}
}

func value(t *testing.T, s *Store, key string) (string, bool) {
	t.Helper()
	r, found, err := s.Read("ns", []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return "", false
	}
	p, ok := Pick(r.Live(s.Now()))
	return string(p.Value), ok
}

func TestUpdateAndRead(t *testing.T) {
	s, _, _ := newStore(t, 0)
	if _, err := s.Update("ns", []byte("k"), overwrite("n1", []byte("v1"), 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update("ns", []byte("k"), overwrite("n1", []byte("v2"), 0)); err != nil {
		t.Fatal(err)
	}
	if v, ok := value(t, s, "k"); !ok || v != "v2" {
		t.Fatalf("got %q %v", v, ok)
	}
	r, _, _ := s.Read("ns", []byte("k"))
	if r.Set.Len() != 1 || r.Set.Context().Get("n1") != 2 {
		t.Fatalf("record after two superseding writes: %+v", r.Set)
	}
	// write=false leaves the key alone.
	got, err := s.Update("ns", []byte("k"), func(cur Record, found bool) (Record, bool, error) {
		return Record{}, false, nil
	})
	if err != nil || got.Set.Len() != 1 {
		t.Fatalf("no-op update: %+v %v", got, err)
	}
	if _, found, _ := s.Read("other", []byte("k")); found {
		t.Fatal("namespaces are not separate")
	}
}

func TestUpdateManySeesEarlierUpdatesOfTheSameKey(t *testing.T) {
	s, _, _ := newStore(t, 0)
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("a")}
	recs, err := s.UpdateMany("ns", keys, func(i int, cur Record, found bool) (Record, bool, error) {
		return Record{Set: dvv.Update(cur.Set.Context(), cur.Set, "n1", EncodeSibling(false, 0, 0, []byte(strconv.Itoa(i))))}, true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if recs[2].Set.Len() != 1 || recs[2].Set.Context().Get("n1") != 2 {
		t.Fatalf("second update of a in one batch: %+v", recs[2].Set)
	}
	if v, _ := value(t, s, "a"); v != "2" {
		t.Fatalf("a = %q, want 2", v)
	}
}

// TestConcurrentUpdatesAreAtomic: read-modify-write increments from many
// goroutines lose none.
func TestConcurrentUpdatesAreAtomic(t *testing.T) {
	s, _, _ := newStore(t, 0)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				_, err := s.Update("ns", []byte("n"), func(cur Record, found bool) (Record, bool, error) {
					n := 0
					if p, ok := Pick(cur.Live(0)); ok {
						n, _ = strconv.Atoi(string(p.Value))
					}
					return Record{Set: dvv.Update(cur.Set.Context(), cur.Set, "n1", EncodeSibling(false, 0, 0, []byte(strconv.Itoa(n+1))))}, true, nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if v, _ := value(t, s, "n"); v != "200" {
		t.Fatalf("200 increments gave %s", v)
	}
}

func TestMergeKeepsConcurrentWritesAndIsIdempotent(t *testing.T) {
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	var writes atomic.Int64 // committed record writes, seen through Watch
	s, err := New(Config{Engine: eng, Clock: clock.NewManual(t0), Watch: func([]byte) { writes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update("ns", []byte("k"), overwrite("n1", []byte("from n1"), 0)); err != nil {
		t.Fatal(err)
	}
	other := dvv.Update(nil, dvv.Set{}, "n2", EncodeSibling(false, 0, 0, []byte("from n2")))
	merged, err := s.Merge("ns", []byte("k"), other)
	if err != nil || merged.Set.Len() != 2 {
		t.Fatalf("merge of concurrent writes: %d siblings, %v", merged.Set.Len(), err)
	}
	before := writes.Load()
	if _, err := s.Merge("ns", []byte("k"), other); err != nil {
		t.Fatal(err)
	}
	if writes.Load() != before {
		t.Fatal("merging what is already held wrote to disk")
	}
	// A write that saw both supersedes both.
	if _, err := s.Update("ns", []byte("k"), overwrite("n1", []byte("resolved"), 0)); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.Read("ns", []byte("k")); r.Set.Len() != 1 {
		t.Fatalf("resolution left %d siblings", r.Set.Len())
	}
}

func TestScanRangeReturnsEveryLiveKeyOnce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s, _, _ := newStore(t, 0)
		n := rapid.IntRange(0, 200).Draw(rt, "keys")
		var keys [][]byte
		for i := range n {
			keys = append(keys, fmt.Appendf(nil, "key:%d", i))
		}
		if len(keys) > 0 {
			if _, err := s.UpdateMany("ns", keys, func(i int, cur Record, _ bool) (Record, bool, error) {
				exp := int64(0)
				if i%7 == 0 {
					exp = t0.UnixMilli() // already expired: not live
				}
				return Record{Set: dvv.Update(nil, cur.Set, "n1", EncodeSibling(false, exp, 0, []byte("v")))}, true, nil
			}); err != nil {
				rt.Fatal(err)
			}
		}
		want := 0
		for i := range n {
			if i%7 != 0 {
				want++
			}
		}
		// Split hash space at a random point; scan both halves in pages.
		split := rapid.Uint64().Draw(rt, "split")
		seen := map[string]bool{}
		var counted int64
		for _, part := range []struct {
			from, to uint64
			end      bool
		}{{0, split, false}, {split, 0, true}} {
			cur := part.from
			for steps := 0; ; steps++ {
				if steps > 1000 {
					rt.Fatal("scan does not end")
				}
				res, err := s.ScanRange("ns", cur, part.to, part.end, rapid.IntRange(1, 30).Draw(rt, "count"), false)
				if err != nil {
					rt.Fatal(err)
				}
				for _, k := range res.Keys {
					if seen[string(k)] {
						rt.Fatalf("%q returned twice", k)
					}
					seen[string(k)] = true
				}
				counted += res.Count
				if res.Done {
					break
				}
				cur = res.Next
			}
		}
		if len(seen) != want || counted != int64(want) {
			rt.Fatalf("scanned %d keys (counted %d), want %d", len(seen), counted, want)
		}
	})
}

func TestReaperReclaimsOnlyFullyExpiredRecords(t *testing.T) {
	s, clk, eng := newStore(t, 0)
	now := t0.UnixMilli()
	mustUpdate := func(key string, fn UpdateFunc) {
		if _, err := s.Update("ns", []byte(key), fn); err != nil {
			t.Fatal(err)
		}
	}
	mustUpdate("ttl", overwrite("n1", []byte("v"), now+1000))
	mustUpdate("mixed", overwrite("n1", []byte("v"), now+1000))
	mustUpdate("mixed", func(cur Record, _ bool) (Record, bool, error) { // a concurrent value without expiry
		return Record{Set: dvv.Update(nil, cur.Set, "n2", EncodeSibling(false, 0, 0, []byte("forever")))}, true, nil
	})
	mustUpdate("renewed", overwrite("n1", []byte("v"), now+1000))
	mustUpdate("renewed", overwrite("n1", []byte("v"), now+5000))
	clk.Advance(999 * time.Millisecond)
	if _, ok := value(t, s, "ttl"); !ok {
		t.Fatal("expired early")
	}
	clk.Advance(time.Millisecond)
	if _, ok := value(t, s, "ttl"); ok {
		t.Fatal("readable at its expiry")
	}
	if _, err := s.ReapOnce(); err != nil {
		t.Fatal(err)
	}
	disk := func(key string) []Sibling { return onDisk(t, eng, storage.DataKey(nil, "ns", []byte(key))) }
	// The expired value's bytes are gone; its dot stays, as a tombstone, so
	// an older copy elsewhere cannot come back.
	if sibs := disk("ttl"); len(sibs) != 1 || !sibs[0].Tombstone || len(sibs[0].Value) != 0 || sibs[0].Dot != (dvv.Dot{Node: "n1", Counter: 1}) {
		t.Fatalf("fully expired record on disk: %+v, want a tombstone with its dot", sibs)
	}
	for _, key := range []string{"mixed", "renewed"} {
		for _, sib := range disk(key) {
			if sib.Tombstone {
				t.Fatalf("%s: a record with a live value was reclaimed: %+v", key, sib)
			}
		}
	}
	if v, _ := value(t, s, "mixed"); v != "forever" {
		t.Fatalf("mixed = %q", v)
	}
}

// onDisk returns the siblings of the record stored under dataKey, read from
// the engine itself (not the cache).
func onDisk(t *testing.T, eng *storage.Engine, dataKey []byte) []Sibling {
	t.Helper()
	var rec Record
	err := eng.Get(dataKey, func(v []byte) error { return DecodeRecord(slices.Clone(v), &rec) })
	if err != nil {
		t.Fatalf("record %q on disk: %v", dataKey, err)
	}
	return rec.Siblings()
}

// TestPurgeRange: a purge deletes exactly the records of one namespace
// whose positions are in its range, from storage and the cache alike; a
// write that follows it builds on nothing it deleted, also while writers
// run during it.
func TestPurgeRange(t *testing.T) {
	s, _, _ := newStore(t, 1<<20)
	mid := uint64(1) << 63
	var in, out []string
	for i := range 400 {
		k := fmt.Sprintf("k%d", i)
		if _, err := s.Update("ns", []byte(k), overwrite("n1", []byte("old"), 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update("other", []byte(k), overwrite("n1", []byte("old"), 0)); err != nil {
			t.Fatal(err)
		}
		if storage.Hash("ns", []byte(k)) < mid {
			in = append(in, k)
		} else {
			out = append(out, k)
		}
		value(t, s, k) // cached
	}
	// Writers of the keys outside the range go on through the purge.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := out[(i*2+g)%len(out)]
				if _, err := s.Update("ns", []byte(k), overwrite("n1", []byte("new"), 0)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	if err := s.PurgeRange("ns", 0, mid, false); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	for _, k := range in {
		if v, ok := value(t, s, k); ok {
			t.Fatalf("%s in the purged range still reads %q", k, v)
		}
		// A write after the purge builds on nothing: one sibling, its own.
		r, err := s.Update("ns", []byte(k), overwrite("n2", []byte("fresh"), 0))
		if err != nil {
			t.Fatal(err)
		}
		if r.Set.Len() != 1 || r.Set.Context().Get("n1") != 0 {
			t.Fatalf("%s: the write after the purge built on a purged record: %+v", k, r.Set)
		}
	}
	for _, k := range out {
		if v, ok := value(t, s, k); !ok || (v != "old" && v != "new") {
			t.Fatalf("%s outside the range reads %q %v", k, v, ok)
		}
	}
	for _, k := range append(in, out...) {
		if _, found, _ := s.Read("other", []byte(k)); !found {
			t.Fatalf("%s of another namespace was purged", k)
		}
	}
}
