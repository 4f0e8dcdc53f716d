package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pandodb/pando/dvv"
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
	// CacheBytes bounds the in-memory cache of recently written and read
	// records (default 32 MiB; negative disables it).
	CacheBytes int64
	// Watch, if set, is called with a record's data key once a write of it
	// has committed (or failed, leaving its state unknown), in commit order:
	// how anti-entropy learns which ranges of its trees to recompute. It
	// must be quick and must not write.
	Watch  func(dataKey []byte)
	Logger *slog.Logger
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

// Store is one node's copy of the keys it replicates.
type Store struct {
	cfg   Config
	eng   *storage.Engine
	clock clock.Clock
	log   *slog.Logger
	locks [stripes]stripe
	// purging is held for reading by every writer while it holds
	// stripes, and for writing by PurgeRange.
	purging sync.RWMutex
	cache   *recordCache // nil when disabled
	hits    prometheus.Counter
	misses  prometheus.Counter
	reaped  prometheus.Counter
	purged  prometheus.Counter
	retired prometheus.Counter
}

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
			Help: "Expired records whose values the background reaper dropped, leaving tombstones that keep their causal history.",
		}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_tombstones_purged_total",
			Help: "Tombstones removed from disk once every replica of their partition was known to hold them and their grace had passed.",
		}),
		retired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pando_version_vector_entries_retired_total",
			Help: "Version vector entries of a node's earlier lives dropped from records that every replica held, once their grace had passed.",
		}),
	}
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pando_record_cache_lookups_total",
		Help: "Record cache lookups by result (hit or miss).",
	}, []string{"result"})
	s.hits, s.misses = lookups.WithLabelValues("hit"), lookups.WithLabelValues("miss")
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.reaped, s.purged, s.retired, lookups} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("replica: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// stripe is the lock of the keys whose hash falls in it, and the records of
// its keys that are queued for commit but not yet in storage.
//
// Writers hold a stripe only while they read, compute and queue their batch;
// they wait for the fsync after releasing it (early lock release, as in
// group-committing databases). The next writer of the same key finds the
// queued record here and builds on it; batches commit in queue order, so the
// disk sees the same sequence. Readers never look here: nothing is visible
// before it is durable.
type stripe struct {
	sync.Mutex
	pending map[string]*pendingRecord
}

type pendingRecord struct{ rec Record }

// Engine is the storage the store keeps its records in.
func (s *Store) Engine() *storage.Engine { return s.eng }

// Now is the store's clock in Unix milliseconds.
func (s *Store) Now() int64 { return clock.UnixMilli(s.clock) }

// NowMicro is the store's clock in Unix microseconds, for stamps.
func (s *Store) NowMicro() int64 { return s.clock.Now().UnixMicro() }

func (s *Store) lockFor(h uint64) *stripe { return &s.locks[h&(stripes-1)] }

// current is a writer's view of a key, under its stripe's lock: the record
// queued for commit, if any, else the stored one.
func (s *Store) current(st *stripe, h uint64, dataKey []byte) (Record, bool, error) {
	if p, ok := st.pending[string(dataKey)]; ok {
		return p.rec, true, nil
	}
	return s.read(h, dataKey, false)
}

// read returns the record at dataKey through the cache. The record's values
// may be the cache's: never modify them. rememberAbsent caches a key found
// absent; writers pass false, since their commit caches the key anyway.
func (s *Store) read(h uint64, dataKey []byte, rememberAbsent bool) (rec Record, found bool, err error) {
	var epoch uint64
	if s.cache != nil {
		raw, e, hit := s.cache.get(h, dataKey)
		if hit {
			s.hits.Inc()
			if raw == nil {
				return Record{}, false, nil // known absent
			}
			if err := DecodeRecord(raw, &rec); err != nil {
				return Record{}, false, fmt.Errorf("key %q: %w", dataKey, err)
			}
			return rec, true, nil
		}
		s.misses.Inc()
		epoch = e
	}
	err = s.eng.Get(dataKey, func(v []byte) error {
		// Copy out of storage's buffer, which is valid only in here.
		raw := slices.Clone(v)
		if err := DecodeRecord(raw, &rec); err != nil {
			return fmt.Errorf("key %q: %w", dataKey, err)
		}
		if s.cache != nil {
			s.cache.put(h, dataKey, raw, epoch)
		}
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		if s.cache != nil && rememberAbsent {
			s.cache.put(h, dataKey, nil, epoch)
		}
		return Record{}, false, nil
	}
	return rec, err == nil, err
}

// Read returns this replica's record of key.
func (s *Store) Read(ns string, key []byte) (Record, bool, error) {
	return s.ReadHashed(ns, storage.Hash(ns, key), key)
}

// ReadHashed is Read for a caller that has key's hash, storage.Hash(ns, key).
func (s *Store) ReadHashed(ns string, h uint64, key []byte) (Record, bool, error) {
	return s.read(h, storage.DataKeyHashed(nil, ns, h, key), true)
}

// write adds the record and its expiry-index entry to b, and makes the
// record cache store it when the commit finishes. Hooks run in commit order,
// before the writer answers, so the cache never holds an older version than
// the newest acknowledged write; a failed commit drops the key, whose state
// on disk is then unknown.
func (s *Store) write(b *storage.Batch, h uint64, dataKey []byte, rec *Record) {
	kr := make([]byte, 0, len(dataKey)+64)
	kr = AppendRecord(append(kr, dataKey...), rec)
	b.Set(kr[:len(dataKey)], kr[len(dataKey):])
	if at := rec.reclaimAt(); at != 0 {
		b.Set(storage.ExpiryKey(nil, at, dataKey), nil)
	}
	if s.cache != nil || s.cfg.Watch != nil {
		b.OnCommit(func(err error) {
			if s.cache != nil {
				if err != nil {
					s.cache.invalidate(h, dataKey)
				} else {
					s.cache.store(h, kr, len(dataKey))
				}
			}
			if s.cfg.Watch != nil {
				s.cfg.Watch(kr[:len(dataKey)])
			}
		})
	}
}

// UpdateFunc computes a key's next record from its current one (found is
// false for a key this replica has never stored). It returns write=false to
// leave the key as it is. It runs under the key's lock: keep it quick and do
// no I/O.
type UpdateFunc func(cur Record, found bool) (next Record, write bool, err error)

// Update applies fn to key atomically and durably: the key's stripe is
// locked from the read until the new record is fsync'd. It returns the
// record the key holds afterwards.
func (s *Store) Update(ns string, key []byte, fn UpdateFunc) (Record, error) {
	recs, err := s.UpdateMany(ns, [][]byte{key}, func(_ int, cur Record, found bool) (Record, bool, error) {
		return fn(cur, found)
	})
	if err != nil {
		return Record{}, err
	}
	return recs[0], nil
}

// UpdateMany is Update for several keys of one namespace, committed as one
// synced batch. fn is called with each key's index. If fn fails for any key,
// nothing is written.
func (s *Store) UpdateMany(ns string, keys [][]byte, fn func(i int, cur Record, found bool) (Record, bool, error)) ([]Record, error) {
	recs, wait, err := s.UpdateManyAsync(ns, keys, fn)
	if err != nil {
		return nil, err
	}
	if err := wait(); err != nil {
		return nil, err
	}
	return recs, nil
}

// UpdateManyAsync is UpdateMany that returns as soon as the batch is queued
// for commit: the records are final, and wait blocks until they are durable
// (or reports why they may not be). The next writer of these keys already
// builds on them. Callers may act on the records before they are durable
// (send them to other replicas, say) only if a crash before the fsync cannot
// make this node reuse their dots; Pando's coordinators stamp events with a
// per-start epoch for that reason.
func (s *Store) UpdateManyAsync(ns string, keys [][]byte, fn func(i int, cur Record, found bool) (Record, bool, error)) (recs []Record, wait func() error, err error) {
	if err := s.eng.WriteRefusal(); err != nil {
		return nil, nil, err // a full or failing disk: fail fast, never stall
	}
	nothing := func() error { return nil }
	hashes := make([]uint64, len(keys))
	dataKeys := make([][]byte, len(keys))
	idx := make([]int, 0, len(keys))
	for i, k := range keys {
		hashes[i] = storage.Hash(ns, k)
		dataKeys[i] = storage.DataKeyHashed(nil, ns, hashes[i], k)
		idx = append(idx, int(hashes[i]&(stripes-1)))
	}
	// Lock stripes in order, once each, so concurrent batches never deadlock.
	slices.Sort(idx)
	idx = slices.Compact(idx)
	s.purging.RLock()
	for _, i := range idx {
		s.locks[i].Lock()
	}
	unlock := func() {
		for _, i := range idx {
			s.locks[i].Unlock()
		}
		s.purging.RUnlock()
	}
	out := make([]Record, len(keys))
	b := s.eng.NewBatch()
	// Within one batch a key may repeat: later updates see earlier ones.
	written := map[string]int{}
	for i := range keys {
		var cur Record
		var found bool
		if j, ok := written[string(dataKeys[i])]; ok {
			cur, found = out[j], true
		} else {
			var err error
			if cur, found, err = s.current(s.lockFor(hashes[i]), hashes[i], dataKeys[i]); err != nil {
				b.Close()
				unlock()
				return nil, nil, err
			}
		}
		next, write, err := fn(i, cur, found)
		if err != nil {
			b.Close()
			unlock()
			return nil, nil, err
		}
		if !write {
			out[i] = cur
			continue
		}
		out[i] = next
		written[string(dataKeys[i])] = i
		s.write(b, hashes[i], dataKeys[i], &next)
	}
	if b.Len() == 0 {
		b.Close()
		unlock()
		return out, nothing, nil
	}
	// Publish the queued records to the next writers of these keys, and
	// withdraw each once its batch is in storage.
	for dk, i := range written {
		st := s.lockFor(hashes[i])
		if st.pending == nil {
			st.pending = map[string]*pendingRecord{}
		}
		p := &pendingRecord{rec: out[i]}
		st.pending[dk] = p
		b.OnCommit(func(err error) {
			st.Lock()
			if st.pending[dk] == p {
				delete(st.pending, dk)
			}
			st.Unlock()
		})
	}
	wait = s.eng.CommitAsync(b)
	unlock()
	return out, wait, nil
}

// WriteRefusal is nil while this replica takes writes, and otherwise why
// not (storage.ErrNoSpace, storage.ErrDiskFailed).
func (s *Store) WriteRefusal() error { return s.eng.WriteRefusal() }

// Merge folds a record from another replica into this one's copy of key,
// durably, and returns the merged record. Merging what is already held
// writes nothing.
func (s *Store) Merge(ns string, key []byte, incoming dvv.Set) (Record, error) {
	return s.Update(ns, key, func(cur Record, found bool) (Record, bool, error) {
		merged := Record{Set: dvv.Sync(cur.Set, incoming)}
		if found && sameRecord(AppendRecord(nil, &merged), AppendRecord(nil, &cur)) {
			return cur, false, nil
		}
		return merged, true, nil
	})
}

// MergeEncoded is Merge of many keys' encoded records (AppendRecord's),
// as one synced commit.
func (s *Store) MergeEncoded(ns string, keys, records [][]byte) error {
	incoming := make([]dvv.Set, len(records))
	for i, b := range records {
		var rec Record
		if err := DecodeRecord(b, &rec); err != nil {
			return err
		}
		incoming[i] = rec.Set
	}
	_, err := s.UpdateMany(ns, keys, func(i int, cur Record, found bool) (Record, bool, error) {
		merged := Record{Set: dvv.Sync(cur.Set, incoming[i])}
		if found && sameRecord(AppendRecord(nil, &merged), AppendRecord(nil, &cur)) {
			return cur, false, nil
		}
		return merged, true, nil
	})
	return err
}

// Purge deletes every record of namespace ns (a storage name) with one
// range deletion: for a namespace generation that a truncation or a drop
// retired, which nothing reads or writes any more. Unsynced: a purge lost
// in a crash is done again. Expiry-index entries of the purged records stay
// until the reaper finds them pointing at nothing.
func (s *Store) Purge(ns string) error {
	lo, hi := storage.DataSpanAll(ns)
	b := s.eng.NewBatch()
	b.DeleteRange(lo, hi)
	return s.eng.Commit(b, false)
}

// PurgeRange deletes every record of namespace ns (a storage name) whose
// position is in [from, to) (to the end of position space if toEnd): the
// copy of a partition this node no longer replicates, which a node must
// not keep until it gains the partition again, when its stale records
// would come back (a deletion whose tombstone the replicas have since
// purged, say). Writes wait while it runs: it follows every write queued
// before it, and no write builds on a record it deletes. Synced.
func (s *Store) PurgeRange(ns string, from, to uint64, toEnd bool) error {
	s.purging.Lock()
	defer s.purging.Unlock()
	lo, hi := storage.DataSpan(ns, from)
	if !toEnd {
		_, hi = storage.DataSpanTo(ns, to)
	}
	b := s.eng.NewBatch()
	b.DeleteRange(lo, hi)
	if s.cache != nil {
		b.OnCommit(func(error) { s.cache.clear() })
	}
	return s.eng.Commit(b, true)
}

// Records calls fn with the key and encoded record of every record of
// namespace ns whose position is in [from, to) (to the end of position
// space if toEnd), in storage order. The slices are valid only during fn.
func (s *Store) Records(ns string, from, to uint64, toEnd bool, fn func(key, record []byte) error) error {
	it, err := s.rangeIter(ns, from, to, toEnd)
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		_, _, key, err := storage.ParseDataKey(it.Key())
		if err != nil {
			it.Close()
			return err
		}
		v, err := it.Value()
		if err == nil {
			err = fn(key, v)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// rangeIter iterates namespace ns's records with positions in [from, to),
// or from from to the end when toEnd.
func (s *Store) rangeIter(ns string, from, to uint64, toEnd bool) (*storage.Iter, error) {
	lo, hi := storage.DataSpan(ns, from)
	if !toEnd {
		_, hi = storage.DataSpanTo(ns, to)
	}
	return s.eng.NewIter(lo, hi)
}

// ScanResult is one step of a range scan.
type ScanResult struct {
	// Keys are the keys with a live value, in hash order.
	Keys [][]byte
	// Count is the number of keys with a live value examined.
	Count int64
	// Next is the hash to continue from; Done means the range is exhausted.
	Next uint64
	Done bool
}

// ScanRange examines up to count records of namespace ns whose hash is in
// [from, to) (to the end of hash space if toEnd), and returns the keys with
// a live value, or only their number. It stops between hashes, so Next never
// splits keys that share a hash.
func (s *Store) ScanRange(ns string, from, to uint64, toEnd bool, count int, countOnly bool) (ScanResult, error) {
	if count < 1 {
		count = 10
	}
	it, err := s.rangeIter(ns, from, to, toEnd)
	if err != nil {
		return ScanResult{}, err
	}
	now := s.Now()
	var res ScanResult
	examined := 0
	var last uint64
	ok := it.First()
	for ; ok; ok = it.Next() {
		_, h, key, err := storage.ParseDataKey(it.Key())
		if err != nil {
			it.Close()
			return ScanResult{}, err
		}
		if examined >= count && h != last {
			break
		}
		last = h
		examined++
		v, err := it.Value()
		if err != nil {
			it.Close()
			return ScanResult{}, fmt.Errorf("replica: scan: %w", err)
		}
		var rec Record
		if err := DecodeRecord(v, &rec); err != nil {
			it.Close()
			return ScanResult{}, fmt.Errorf("key %q: %w", key, err)
		}
		if len(rec.Live(now)) > 0 {
			res.Count++
			if !countOnly {
				res.Keys = append(res.Keys, slices.Clone(key))
			}
		}
	}
	if err := it.Close(); err != nil {
		return ScanResult{}, fmt.Errorf("replica: scan: %w", err)
	}
	if ok && last != ^uint64(0) {
		res.Next = last + 1
	} else {
		res.Done = true
	}
	return res, nil
}
