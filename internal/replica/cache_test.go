package replica

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/storage"
)

// TestCacheNeverServesAReplacedValue runs writers that count a key upwards
// and readers that check every value they read is at least the last one
// acknowledged before the read began. A cache that re-inserted a stale
// record after an invalidation would serve an older count.
func TestCacheNeverServesAReplacedValue(t *testing.T) {
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	// A tiny cache, so entries are evicted and re-read all the time.
	s, err := New(Config{Engine: eng, Clock: clock.NewManual(t0), CacheBytes: 64 * 1024})
	if err != nil {
		t.Fatal(err)
	}
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
				var err error
				if i%3 == 0 {
					_, err = s.Put(ctx, "default", key, []byte(strconv.FormatInt(i, 10)), api.PutOptions{Cond: api.IfPresent})
				} else {
					err = s.PutMany(ctx, "default", []api.KeyValue{{Key: key, Value: []byte(strconv.FormatInt(i, 10))}})
				}
				if err != nil {
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
				e, err := s.Get(ctx, "default", []byte("counter"+strconv.Itoa(k)))
				if errors.Is(err, api.ErrNotFound) {
					if floor > 0 {
						t.Errorf("key %d: not found after %d was acknowledged", k, floor)
						return
					}
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				got, _ := strconv.ParseInt(string(e.Value), 10, 64)
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
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	s, err := New(Config{Engine: eng, CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	if s.cache != nil {
		t.Fatal("cache present with CacheBytes -1")
	}
	if _, err := s.Put(ctx, "default", []byte("k"), []byte("v"), api.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Get(ctx, "default", []byte("k")); err != nil || string(e.Value) != "v" {
		t.Fatalf("get without cache: %q %v", e.Value, err)
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
