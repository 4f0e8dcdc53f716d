package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/storage"
	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newStore(t testing.TB) (*Store, *clock.Manual, *storage.Engine) {
	t.Helper()
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	clk := clock.NewManual(t0)
	s, err := New(Config{Engine: eng, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, eng
}

var ctx = context.Background()

func mustGet(t *testing.T, s *Store, key string) (string, bool) {
	t.Helper()
	e, err := s.Get(ctx, "default", []byte(key))
	if errors.Is(err, api.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(e.Value), true
}

func put(t *testing.T, s *Store, key, val string, o api.PutOptions) api.PutResult {
	t.Helper()
	r, err := s.Put(ctx, "default", []byte(key), []byte(val), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPutConditions(t *testing.T) {
	s, _, _ := newStore(t)
	if r := put(t, s, "k", "a", api.PutOptions{Cond: api.IfPresent}); r.Applied {
		t.Fatal("XX on a missing key applied")
	}
	if _, ok := mustGet(t, s, "k"); ok {
		t.Fatal("XX on a missing key wrote it")
	}
	if r := put(t, s, "k", "a", api.PutOptions{Cond: api.IfAbsent}); !r.Applied {
		t.Fatal("NX on a missing key did not apply")
	}
	if r := put(t, s, "k", "b", api.PutOptions{Cond: api.IfAbsent, ReturnOld: true}); r.Applied || !r.OldFound || string(r.Old.Value) != "a" {
		t.Fatalf("NX on a present key: %+v", r)
	}
	if r := put(t, s, "k", "c", api.PutOptions{Cond: api.IfPresent, ReturnOld: true}); !r.Applied || string(r.Old.Value) != "a" {
		t.Fatalf("XX on a present key: %+v", r)
	}
	if v, _ := mustGet(t, s, "k"); v != "c" {
		t.Fatalf("got %q, want c", v)
	}
}

func TestExpiryIsExactForReaders(t *testing.T) {
	s, clk, eng := newStore(t)
	now := t0.UnixMilli()
	put(t, s, "ttl", "v", api.PutOptions{ExpireAt: now + 1000})
	clk.Advance(999 * time.Millisecond)
	if _, ok := mustGet(t, s, "ttl"); !ok {
		t.Fatal("key vanished before its expiry")
	}
	clk.Advance(time.Millisecond)
	if _, ok := mustGet(t, s, "ttl"); ok {
		t.Fatal("key readable at its expiry time")
	}
	// Still on disk until the reaper runs; then gone.
	dk := storage.DataKey(nil, "default", []byte("ttl"))
	if err := eng.Get(dk, func([]byte) error { return nil }); err != nil {
		t.Fatalf("record reclaimed before the reaper ran: %v", err)
	}
	if n, err := s.ReapOnce(); err != nil || n != 1 {
		t.Fatalf("reap: n=%d err=%v", n, err)
	}
	if err := eng.Get(dk, func([]byte) error { return nil }); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("record still on disk after reaping: %v", err)
	}
}

func TestReaperSparesOverwrittenKey(t *testing.T) {
	s, clk, _ := newStore(t)
	now := t0.UnixMilli()
	put(t, s, "k", "old", api.PutOptions{ExpireAt: now + 10})
	put(t, s, "k", "new", api.PutOptions{}) // no expiry now; the old index entry lingers
	clk.Advance(time.Second)
	if _, err := s.ReapOnce(); err != nil {
		t.Fatal(err)
	}
	if v, ok := mustGet(t, s, "k"); !ok || v != "new" {
		t.Fatalf("overwritten key: got %q, %v; want new", v, ok)
	}
}

func TestKeepTTL(t *testing.T) {
	s, _, _ := newStore(t)
	at := t0.UnixMilli() + 5000
	put(t, s, "k", "a", api.PutOptions{ExpireAt: at})
	put(t, s, "k", "b", api.PutOptions{KeepTTL: true})
	e, err := s.Get(ctx, "default", []byte("k"))
	if err != nil || e.ExpireAt != at || string(e.Value) != "b" {
		t.Fatalf("KEEPTTL: got %+v, %v", e, err)
	}
}

func TestSetExpiry(t *testing.T) {
	s, _, _ := newStore(t)
	now := t0.UnixMilli()
	put(t, s, "k", "v", api.PutOptions{})
	cases := []struct {
		at   int64
		cond api.ExpireCond
		want bool
	}{
		{now + 100, api.ExpireIfSome, false}, // no expiry yet
		{now + 100, api.ExpireIfNone, true},
		{now + 50, api.ExpireIfGreater, false},
		{now + 200, api.ExpireIfGreater, true},
		{now + 300, api.ExpireIfLess, false},
		{now + 150, api.ExpireIfLess, true},
		{0, api.ExpireAlways, true}, // PERSIST
		{now + 10, api.ExpireIfLess, true},
	}
	for i, c := range cases {
		got, err := s.SetExpiry(ctx, "default", []byte("k"), c.at, c.cond)
		if err != nil || got != c.want {
			t.Fatalf("case %d: got %v, %v; want %v", i, got, err, c.want)
		}
	}
	if ok, _ := s.SetExpiry(ctx, "default", []byte("missing"), now+10, api.ExpireAlways); ok {
		t.Fatal("expiry set on a missing key")
	}
	// An expiry in the past deletes the key.
	if ok, err := s.SetExpiry(ctx, "default", []byte("k"), now-1, api.ExpireAlways); !ok || err != nil {
		t.Fatalf("past expiry: %v %v", ok, err)
	}
	if _, ok := mustGet(t, s, "k"); ok {
		t.Fatal("key with past expiry still readable")
	}
}

func TestDeleteReturnsOld(t *testing.T) {
	s, _, _ := newStore(t)
	put(t, s, "k", "v", api.PutOptions{})
	old, found, err := s.Delete(ctx, "default", []byte("k"))
	if err != nil || !found || string(old.Value) != "v" {
		t.Fatalf("delete: %q %v %v", old.Value, found, err)
	}
	if _, found, _ := s.Delete(ctx, "default", []byte("k")); found {
		t.Fatal("second delete found the key")
	}
}

func TestConditionalWritesAreAtomic(t *testing.T) {
	s, _, _ := newStore(t)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Put(ctx, "default", []byte("lock"), fmt.Appendf(nil, "%d", i), api.PutOptions{Cond: api.IfAbsent})
			if err != nil {
				t.Error(err)
			}
			if r.Applied {
				wins.Add(1)
			}
		}()
		// Blind writes to another key run alongside and must not interfere.
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Put(ctx, "default", []byte("other"), []byte("x"), api.PutOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent SET NX succeeded, want exactly 1", wins.Load())
	}
}

func TestNamespacesAreSeparate(t *testing.T) {
	s, _, _ := newStore(t)
	if _, err := s.Put(ctx, "a", []byte("k"), []byte("in a"), api.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "b", []byte("k")); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("key of namespace a visible in b: %v", err)
	}
	if n, _ := s.Count(ctx, "b"); n != 0 {
		t.Fatalf("namespace b counts %d keys", n)
	}
}

// TestScanReturnsEveryKeyOnce drives SCAN to completion with random page
// sizes, with expired keys mixed in, and checks the union is exactly the live
// keys (Redis allows repeats; this implementation has none).
func TestScanReturnsEveryKeyOnce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s, _, _ := newStore(t)
		n := rapid.IntRange(0, 300).Draw(rt, "keys")
		live := map[string]bool{}
		var kvs []api.KeyValue
		for i := range n {
			k := fmt.Sprintf("key:%d", i)
			kvs = append(kvs, api.KeyValue{Key: []byte(k), Value: []byte("v")})
			live[k] = true
		}
		if err := s.PutMany(ctx, "default", kvs); err != nil {
			rt.Fatal(err)
		}
		for i := range rapid.IntRange(0, 20).Draw(rt, "expired") {
			k := fmt.Sprintf("gone:%d", i)
			if _, err := s.Put(ctx, "default", []byte(k), []byte("v"), api.PutOptions{ExpireAt: t0.UnixMilli()}); err != nil {
				rt.Fatal(err)
			}
		}
		seen := map[string]bool{}
		var cursor uint64
		for steps := 0; ; steps++ {
			if steps > 10000 {
				rt.Fatal("scan does not terminate")
			}
			page, err := s.Scan(ctx, "default", cursor, rapid.IntRange(1, 50).Draw(rt, "count"), nil)
			if err != nil {
				rt.Fatal(err)
			}
			for _, k := range page.Keys {
				if seen[string(k)] {
					rt.Fatalf("key %q returned twice", k)
				}
				if !live[string(k)] {
					rt.Fatalf("scan returned %q, which is not live", k)
				}
				seen[string(k)] = true
			}
			if page.Next == 0 {
				break
			}
			cursor = page.Next
		}
		if len(seen) != len(live) {
			rt.Fatalf("scan returned %d keys, want %d", len(seen), len(live))
		}
		if c, _ := s.Count(ctx, "default"); c != int64(len(live)) {
			rt.Fatalf("count %d, want %d", c, len(live))
		}
	})
}
