package replica

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/storage"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCacheNeverServesAReplacedValue runs writers that count keys upwards and
// readers that check every value they read is at least the last one
// acknowledged before the read began. A cache that put back a stale record
// after a write, or stored writes out of commit order, would serve an older
// count.
func TestCacheNeverServesAReplacedValue(t *testing.T) {
	s, _, _ := newStore(t, 64*1024) // tiny: entries are evicted and re-read all the time
	const keys = 8
	var acked [keys]atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for k := range keys {
		wg.Add(1)
		go func() { // one writer per key: its values are ordered
			defer wg.Done()
			key := []byte("counter" + strconv.Itoa(k))
			for i := int64(1); i <= 300; i++ {
				if _, err := s.Update("ns", key, overwrite("n1", []byte(strconv.FormatInt(i, 10)), 0)); err != nil {
					t.Error(err)
					return
				}
				acked[k].Store(i)
			}
		}()
	}
	var reads atomic.Int64
	var rg sync.WaitGroup
	for r := range 4 {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for i := r; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := i % keys
				floor := acked[k].Load()
				rec, found, err := s.Read("ns", []byte("counter"+strconv.Itoa(k)))
				if err != nil {
					t.Error(err)
					return
				}
				if !found {
					if floor > 0 {
						t.Errorf("key %d: not found after %d was acknowledged", k, floor)
						return
					}
					continue
				}
				p, _ := Pick(rec.Live(0))
				got, _ := strconv.ParseInt(string(p.Value), 10, 64)
				if got < floor {
					t.Errorf("key %d: read %d after %d was acknowledged", k, got, floor)
					return
				}
				reads.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	if reads.Load() < 100 {
		t.Fatalf("only %d reads checked", reads.Load())
	}
}

func TestCacheDisabled(t *testing.T) {
	s, _, _ := newStore(t, -1)
	if s.cache != nil {
		t.Fatal("cache present with CacheBytes -1")
	}
	if _, err := s.Update("ns", []byte("k"), overwrite("n1", []byte("v"), 0)); err != nil {
		t.Fatal(err)
	}
	if v, _ := value(t, s, "k"); v != "v" {
		t.Fatalf("read without cache: %q", v)
	}
}

func TestCacheStaysWithinBudget(t *testing.T) {
	c := newRecordCache(64 * 1024)
	for i := range 10000 {
		k := []byte("key" + strconv.Itoa(i))
		c.put(uint64(i)*0x9e3779b97f4a7c15, k, make([]byte, 100), 0)
	}
	var total int64
	for i := range c.shards {
		total += c.shards[i].bytes
	}
	if total > 64*1024 {
		t.Fatalf("cache holds %d bytes, budget 65536", total)
	}
	if total < 32*1024 {
		t.Fatalf("cache holds only %d bytes of a 65536 budget", total)
	}
}

// TestCacheRemembersAbsentKeys checks that a key read while absent is then
// answered from the cache, and that a write, and the reaper's deletion,
// replace what the cache says of it.
func TestCacheRemembersAbsentKeys(t *testing.T) {
	s, clk, eng := newStore(t, 0)
	h := storage.Hash("ns", []byte("k"))
	dk := storage.DataKey(nil, "ns", []byte("k"))
	if _, found := value(t, s, "k"); found {
		t.Fatal("a key never written was found")
	}
	if raw, _, hit := s.cache.get(h, dk); !hit || raw != nil {
		t.Fatalf("after reading an absent key the cache has hit=%v raw=%x, want it known absent", hit, raw)
	}
	hits := testutil.ToFloat64(s.hits)
	if _, found := value(t, s, "k"); found {
		t.Fatal("absent key found on the second read")
	}
	if got := testutil.ToFloat64(s.hits); got != hits+1 {
		t.Fatalf("second read of an absent key: %v cache hits, want %v", got, hits+1)
	}

	// A write replaces the absence.
	exp := s.Now() + 1000
	if _, err := s.Update("ns", []byte("k"), overwrite("n1", []byte("v"), exp)); err != nil {
		t.Fatal(err)
	}
	if v, _ := value(t, s, "k"); v != "v" {
		t.Fatalf("after a write of an absent-cached key: %q", v)
	}

	// The reaper turns it into a tombstone on disk; the cache must not keep
	// serving the value, and a new write after that must be seen.
	clk.Advance(2 * time.Second)
	if n, err := s.ReapOnce(); err != nil || n != 1 {
		t.Fatalf("reaped %d, %v", n, err)
	}
	if sibs := onDisk(t, eng, dk); len(sibs) != 1 || !sibs[0].Tombstone || len(sibs[0].Value) != 0 {
		t.Fatalf("reaped record on disk: %+v, want one tombstone without a value", sibs)
	}
	if _, found := value(t, s, "k"); found {
		t.Fatal("reaped key found")
	}
	if _, err := s.Update("ns", []byte("k"), overwrite("n1", []byte("w"), 0)); err != nil {
		t.Fatal(err)
	}
	if v, _ := value(t, s, "k"); v != "w" {
		t.Fatalf("after reap and rewrite: %q", v)
	}
}
