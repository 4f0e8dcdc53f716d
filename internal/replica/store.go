package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Store.
type Config struct {
	Engine *storage.Engine
	// Clock decides expiry. Default: the real clock.
	Clock clock.Clock
	// ReapInterval is how often the reaper reclaims expired records
	// (default 1s).
	ReapInterval time.Duration
	// ReapBatch is the most records one reaper pass examines (default 1000);
	// a pass that hits it runs again at once.
	ReapBatch int
	// CacheBytes bounds the in-memory cache of recently read records
	// (default 32 MiB; negative disables it).
	CacheBytes int64
	Logger     *slog.Logger
	// Registerer, if set, receives the replica metrics.
	Registerer prometheus.Registerer
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.Engine == nil {
		return errors.New("replica: no storage engine")
	}
	if c.ReapInterval < 0 || c.ReapBatch < 0 {
		return errors.New("replica: negative reaper settings")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.ReapInterval == 0 {
		c.ReapInterval = time.Second
	}
	if c.ReapBatch == 0 {
		c.ReapBatch = 1000
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = 32 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

const stripes = 1024

// Store serves api.KV from the node's own storage.
type Store struct {
	cfg     Config
	eng     *storage.Engine
	clock   clock.Clock
	log     *slog.Logger
	locks   [stripes]sync.RWMutex
	cache   *recordCache // nil when disabled
	hits    prometheus.Counter
	misses  prometheus.Counter
	reaped  prometheus.Counter
	bufPool sync.Pool
}

var _ api.KV = (*Store)(nil)

// New returns a Store over cfg.Engine. Call Run to reclaim expired records.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Store{
		cfg:   cfg,
		eng:   cfg.Engine,
		clock: cfg.Clock,
		log:   cfg.Logger.With("subsystem", "replica"),
		cache: newRecordCache(cfg.CacheBytes),
		reaped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_expired_records_reclaimed_total",
			Help: "Expired records deleted from disk by the background reaper.",
		}),
	}
	s.bufPool.New = func() any { b := make([]byte, 0, 256); return &b }
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pando_record_cache_lookups_total",
		Help: "Record cache lookups by result (hit or miss).",
	}, []string{"result"})
	s.hits, s.misses = lookups.WithLabelValues("hit"), lookups.WithLabelValues("miss")
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.reaped, lookups} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("replica: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

func (s *Store) lockFor(h uint64) *sync.RWMutex { return &s.locks[h&(stripes-1)] }

func (s *Store) now() int64 { return clock.UnixMilli(s.clock) }

// read returns the record at dataKey through the cache. found is false if
// none is stored. The record's slices must not be modified: they may be the
// cache's.
func (s *Store) read(h uint64, dataKey []byte) (rec Record, found bool, err error) {
	var epoch uint64
	if s.cache != nil {
		raw, e, hit := s.cache.get(h, dataKey)
		if !hit {
			s.misses.Inc()
		} else {
			s.hits.Inc()
			if err := DecodeRecord(raw, &rec); err != nil {
				return Record{}, false, fmt.Errorf("key %q: %w", dataKey, err)
			}
			return rec, true, nil
		}
		epoch = e
	}
	err = s.eng.Get(dataKey, func(v []byte) error {
		if s.cache != nil {
			s.cache.put(h, dataKey, v, epoch)
		}
		var r Record
		if err := DecodeRecord(v, &r); err != nil {
			return fmt.Errorf("key %q: %w", dataKey, err)
		}
		// Copy out of storage's buffer, which is valid only in here.
		rec = Record{Tombstone: r.Tombstone, ExpireAt: r.ExpireAt, Causal: slices.Clone(r.Causal), Value: slices.Clone(r.Value)}
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return Record{}, false, nil
	}
	return rec, err == nil, err
}

// cached is the commit hook of every write: it records in the cache what a
// commit wrote (kr = dataKey || record, as returned by write), or drops the
// key when kr is nil (a delete). Hooks run in commit order, before the writer
// answers, so the cache never holds an older version than the newest
// acknowledged write. A failed commit drops the key: its outcome on disk is
// unknown.
func (s *Store) cached(b *storage.Batch, h uint64, dataKey, kr []byte) {
	if s.cache == nil {
		return
	}
	b.OnCommit(func(err error) {
		if err != nil || kr == nil {
			s.cache.invalidate(h, dataKey)
			return
		}
		s.cache.store(h, kr, len(dataKey))
	})
}

// Get implements api.KV.
func (s *Store) Get(ctx context.Context, ns string, key []byte) (api.Entry, error) {
	bp := s.bufPool.Get().(*[]byte)
	defer s.bufPool.Put(bp)
	h := storage.Hash(ns, key)
	*bp = storage.DataKeyHashed((*bp)[:0], ns, h, key)
	rec, found, err := s.read(h, *bp)
	if err != nil {
		return api.Entry{}, err
	}
	if !found || !rec.Live(s.now()) {
		return api.Entry{}, api.ErrNotFound
	}
	return api.Entry{Value: rec.Value, ExpireAt: rec.ExpireAt}, nil
}

// write adds the record and its expiry-index entry to b. It returns
// dataKey || encoded record in one allocation, which the record cache adopts.
func write(b *storage.Batch, dataKey []byte, rec *Record) []byte {
	kr := make([]byte, 0, len(dataKey)+len(rec.Causal)+len(rec.Value)+24)
	kr = AppendRecord(append(kr, dataKey...), rec)
	b.Set(kr[:len(dataKey)], kr[len(dataKey):])
	if rec.ExpireAt != 0 {
		b.Set(storage.ExpiryKey(nil, rec.ExpireAt, dataKey), nil)
	}
	return kr
}

// Put implements api.KV.
func (s *Store) Put(ctx context.Context, ns string, key, value []byte, opts api.PutOptions) (api.PutResult, error) {
	h := storage.Hash(ns, key)
	dk := storage.DataKeyHashed(nil, ns, h, key)
	rec := Record{Value: value, ExpireAt: opts.ExpireAt}
	mu := s.lockFor(h)
	if opts.Cond == api.Always && !opts.ReturnOld && !opts.KeepTTL {
		// A blind write: shared lock, so concurrent writers share an fsync.
		mu.RLock()
		defer mu.RUnlock()
		b := s.eng.NewBatch()
		s.cached(b, h, dk, write(b, dk, &rec))
		if err := s.eng.Commit(b, true); err != nil {
			return api.PutResult{}, err
		}
		return api.PutResult{Applied: true}, nil
	}
	mu.Lock()
	defer mu.Unlock()
	old, found, err := s.read(h, dk)
	if err != nil {
		return api.PutResult{}, err
	}
	live := found && old.Live(s.now())
	res := api.PutResult{OldFound: live && opts.ReturnOld}
	if res.OldFound {
		res.Old = api.Entry{Value: old.Value, ExpireAt: old.ExpireAt}
	}
	if (opts.Cond == api.IfAbsent && live) || (opts.Cond == api.IfPresent && !live) {
		return res, nil
	}
	if opts.KeepTTL && live {
		rec.ExpireAt = old.ExpireAt
	}
	b := s.eng.NewBatch()
	s.cached(b, h, dk, write(b, dk, &rec))
	if err := s.eng.Commit(b, true); err != nil {
		return api.PutResult{}, err
	}
	res.Applied = true
	return res, nil
}

// PutMany implements api.KV: one synced batch for all pairs.
func (s *Store) PutMany(ctx context.Context, ns string, kvs []api.KeyValue) error {
	idx := make([]int, 0, len(kvs))
	hashes := make([]uint64, len(kvs))
	keys := make([][]byte, len(kvs))
	recs := make([][]byte, len(kvs))
	b := s.eng.NewBatch()
	for i, kv := range kvs {
		h := storage.Hash(ns, kv.Key)
		hashes[i] = h
		keys[i] = storage.DataKeyHashed(nil, ns, h, kv.Key)
		idx = append(idx, int(h&(stripes-1)))
		recs[i] = write(b, keys[i], &Record{Value: kv.Value})
	}
	if s.cache != nil {
		b.OnCommit(func(err error) {
			for i := range keys {
				if err != nil {
					s.cache.invalidate(hashes[i], keys[i])
				} else {
					s.cache.store(hashes[i], recs[i], len(keys[i]))
				}
			}
		})
	}
	// Take the shared locks in order, once each, so two PutMany calls never
	// deadlock and a conditional write sees all or none of the batch.
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		s.locks[i].RLock()
	}
	err := s.eng.Commit(b, true)
	for _, i := range idx {
		s.locks[i].RUnlock()
	}
	return err
}

// Delete implements api.KV.
func (s *Store) Delete(ctx context.Context, ns string, key []byte) (api.Entry, bool, error) {
	h := storage.Hash(ns, key)
	dk := storage.DataKeyHashed(nil, ns, h, key)
	mu := s.lockFor(h)
	mu.Lock()
	defer mu.Unlock()
	old, found, err := s.read(h, dk)
	if err != nil || !found {
		return api.Entry{}, false, err
	}
	b := s.eng.NewBatch()
	b.Delete(dk)
	s.cached(b, h, dk, nil)
	if err := s.eng.Commit(b, true); err != nil {
		return api.Entry{}, false, err
	}
	if !old.Live(s.now()) {
		return api.Entry{}, false, nil
	}
	return api.Entry{Value: old.Value, ExpireAt: old.ExpireAt}, true, nil
}

// SetExpiry implements api.KV.
func (s *Store) SetExpiry(ctx context.Context, ns string, key []byte, expireAt int64, cond api.ExpireCond) (bool, error) {
	h := storage.Hash(ns, key)
	dk := storage.DataKeyHashed(nil, ns, h, key)
	mu := s.lockFor(h)
	mu.Lock()
	defer mu.Unlock()
	rec, found, err := s.read(h, dk)
	now := s.now()
	if err != nil || !found || !rec.Live(now) {
		return false, err
	}
	if !expiryCondHolds(cond, rec.ExpireAt, expireAt) {
		return false, nil
	}
	b := s.eng.NewBatch()
	if expireAt != 0 && expireAt <= now {
		b.Delete(dk)
		s.cached(b, h, dk, nil)
	} else {
		rec.ExpireAt = expireAt
		s.cached(b, h, dk, write(b, dk, &rec))
	}
	if err := s.eng.Commit(b, true); err != nil {
		return false, err
	}
	return true, nil
}

func expiryCondHolds(cond api.ExpireCond, cur, next int64) bool {
	// No expiry is later than every expiry.
	later := func(a, b int64) bool { return (a == 0 && b != 0) || (a != 0 && b != 0 && a > b) }
	switch cond {
	case api.ExpireIfNone:
		return cur == 0
	case api.ExpireIfSome:
		return cur != 0
	case api.ExpireIfGreater:
		return later(next, cur)
	case api.ExpireIfLess:
		return later(cur, next)
	}
	return true
}

// Scan implements api.KV. The cursor is a position in hash space.
func (s *Store) Scan(ctx context.Context, ns string, cursor uint64, count int, match func([]byte) bool) (api.ScanPage, error) {
	if count < 1 {
		count = 10
	}
	lo, hi := storage.DataSpan(ns, cursor)
	it, err := s.eng.NewIter(lo, hi)
	if err != nil {
		return api.ScanPage{}, err
	}
	now := s.now()
	var page api.ScanPage
	examined := 0
	var last uint64
	ok := it.First()
	for ; ok; ok = it.Next() {
		_, h, key, err := storage.ParseDataKey(it.Key())
		if err != nil {
			it.Close()
			return api.ScanPage{}, err
		}
		// Stop only between hashes, so the next cursor starts a fresh hash
		// and no key is skipped or repeated.
		if examined >= count && h != last {
			break
		}
		last = h
		examined++
		v, err := it.Value()
		if err != nil {
			it.Close()
			return api.ScanPage{}, fmt.Errorf("replica: scan: %w", err)
		}
		var rec Record
		if err := DecodeRecord(v, &rec); err != nil {
			it.Close()
			return api.ScanPage{}, fmt.Errorf("key %q: %w", key, err)
		}
		if rec.Live(now) && (match == nil || match(key)) {
			page.Keys = append(page.Keys, slices.Clone(key))
		}
	}
	if err := it.Close(); err != nil {
		return api.ScanPage{}, fmt.Errorf("replica: scan: %w", err)
	}
	if ok && last != ^uint64(0) {
		page.Next = last + 1
	}
	return page, nil
}

// Count implements api.KV.
func (s *Store) Count(ctx context.Context, ns string) (int64, error) {
	var n int64
	var cursor uint64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		page, err := s.Scan(ctx, ns, cursor, 4096, nil)
		if err != nil {
			return 0, err
		}
		n += int64(len(page.Keys))
		if page.Next == 0 {
			return n, nil
		}
		cursor = page.Next
	}
}
