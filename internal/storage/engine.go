package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/prometheus/client_golang/prometheus"
)

// FormatVersion is the on-disk format this binary writes and reads.
// Version 2 places keys by Redis Cluster hash slot (storage.Hash); version
// 1 directories sort their data keys differently and are refused
// (ErrFormatTooOld).
const FormatVersion = 2

// pebbleFormat pins Pebble's own on-disk format, so that upgrading the Pebble
// module never ratchets a data directory's format by itself.
const pebbleFormat = pebble.FormatNewest

// Config configures an Engine.
type Config struct {
	// Dir is the data directory. It is created if missing.
	Dir string
	// CacheBytes is the size of the block cache in bytes (default 64 MiB).
	CacheBytes int64
	// WALMinSyncInterval delays a WAL fsync until at least this long after
	// the previous one, so that more concurrent writes share it: throughput
	// up, latency up by at most the interval. 0 syncs as soon as possible.
	WALMinSyncInterval time.Duration
	// FS is the file system; nil means the real disk. Tests may pass
	// vfs.NewMem() or a fault-injecting FS.
	FS vfs.FS
	// Logger receives Pebble's log lines at debug level and ours.
	Logger *slog.Logger
	// Registerer, if set, receives the storage metrics.
	Registerer prometheus.Registerer
	// MinFreeBytes is the free space under which data writes are refused
	// (health.go), so that flushes, compactions, the Raft logs and hints
	// keep room (default 128 MiB). MaxDiskBytes, if set, refuses them once
	// the database takes that much. Checked every CheckInterval (default
	// 250ms), on the real disk only (FS nil).
	MinFreeBytes  uint64
	MaxDiskBytes  uint64
	CheckInterval time.Duration
	// Faults, if set, injects disk faults into the real disk (FS nil):
	// for the verifier and tests (faults.go).
	Faults *Faults
}

// Engine is a node's Pebble database.
type Engine struct {
	db     *pebble.DB
	dir    string
	log    *slog.Logger
	syncs  prometheus.Histogram
	commit *committer
	closed atomic.Bool
	health *health
	stop   chan struct{} // ends the disk guard
	guards sync.WaitGroup
	// reading counts the Gets and open iterators: Close waits for them,
	// since Pebble panics on a read of a closed database. Reads that start
	// once closed is set fail with ErrClosed.
	reading atomic.Int64
	// failed is closed when the log fails a write (failure.go).
	failed   chan struct{}
	failure  atomic.Pointer[error]
	failOnce sync.Once
}

// enter registers a read; it fails once the engine is closing.
func (e *Engine) enter() error {
	e.reading.Add(1)
	if e.closed.Load() {
		e.reading.Add(-1)
		return ErrClosed
	}
	if err := e.Failure(); err != nil {
		// The memtable may hold writes that never reached the disk.
		e.reading.Add(-1)
		return err
	}
	return nil
}

func (e *Engine) leave() { e.reading.Add(-1) }

// Open opens (creating if needed) the database in cfg.Dir and checks its
// format marker.
func Open(cfg Config) (*Engine, error) {
	if cfg.Dir == "" {
		return nil, errors.New("storage: no data directory given")
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = 64 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("subsystem", "storage")
	cache := pebble.NewCache(cfg.CacheBytes)
	defer cache.Unref()
	h := newHealth(log)
	realDisk := cfg.FS == nil
	if cfg.Faults != nil {
		base := cfg.FS
		if base == nil {
			base = vfs.Default
		}
		cfg.FS = errorfs.Wrap(base, cfg.Faults)
	}
	opts := &pebble.Options{
		Cache:              cache,
		FS:                 cfg.FS,
		FormatMajorVersion: pebbleFormat,
		Logger:             pebbleLogger{log},
		EventListener:      h.listener(),
	}
	if d := cfg.WALMinSyncInterval; d > 0 {
		opts.WALMinSyncInterval = func() time.Duration { return d }
	}
	// Bloom filters on every level: a point read skips the tables that
	// cannot hold its key instead of searching their indexes.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", cfg.Dir, err)
	}
	e := &Engine{
		db:     db,
		dir:    cfg.Dir,
		log:    log,
		health: h,
		stop:   make(chan struct{}),
		failed: make(chan struct{}),
		syncs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pando_storage_sync_seconds",
			Help:    "Time a synced write waits until its batch is fsync'd, group commit included.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}),
	}
	if err := e.checkFormat(); err != nil {
		_ = db.Close()
		return nil, err
	}
	e.commit = newCommitter(db, e.fail, e.Failure)
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(e.syncs); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("storage: register metrics: %w", err)
		}
		if err := cfg.Registerer.Register(walCollector{e}); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("storage: register metrics: %w", err)
		}
		for _, c := range h.collectors() {
			if err := cfg.Registerer.Register(c); err != nil {
				_ = db.Close()
				return nil, fmt.Errorf("storage: register metrics: %w", err)
			}
		}
	}
	if realDisk {
		if cfg.MinFreeBytes == 0 {
			cfg.MinFreeBytes = DefaultMinFreeBytes
		}
		if cfg.CheckInterval <= 0 {
			cfg.CheckInterval = 250 * time.Millisecond
		}
		e.checkDisk(cfg.MinFreeBytes, cfg.MaxDiskBytes)
		e.guards.Add(1)
		go func() {
			defer e.guards.Done()
			e.guard(cfg.CheckInterval, cfg.MinFreeBytes, cfg.MaxDiskBytes, e.stop)
		}()
	}
	return e, nil
}

// DefaultMinFreeBytes is Config.MinFreeBytes's default.
const DefaultMinFreeBytes = 128 << 20

func (e *Engine) checkFormat() error {
	key := MetaKey("format")
	v, closer, err := e.db.Get(key)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if !e.isEmpty() {
			return fmt.Errorf("%w: %s holds data but no format marker", ErrFormatUnknown, e.dir)
		}
		val := binary.AppendUvarint(nil, FormatVersion)
		if err := e.db.Set(key, val, pebble.Sync); err != nil {
			return fmt.Errorf("storage: write format marker: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("storage: read format marker: %w", err)
	}
	defer closer.Close()
	got, n := binary.Uvarint(v)
	if n <= 0 {
		return fmt.Errorf("%w: unreadable format marker %x in %s", ErrFormatUnknown, v, e.dir)
	}
	if got > FormatVersion {
		return fmt.Errorf("%w: %s has format %d, this binary reads up to %d; run a newer pando",
			ErrFormatTooNew, e.dir, got, FormatVersion)
	}
	if got < FormatVersion {
		return fmt.Errorf("%w: %s has format %d, written by a Pando that placed keys by another hash; this binary places them by Redis Cluster hash slot (format %d) and cannot read it: start on an empty data directory",
			ErrFormatTooOld, e.dir, got, FormatVersion)
	}
	return nil
}

func (e *Engine) isEmpty() bool {
	it, err := e.db.NewIter(nil)
	if err != nil {
		return false
	}
	defer it.Close()
	return !it.First()
}

// Get calls fn with the value stored under key, or returns ErrNotFound. The
// value is valid only during fn.
func (e *Engine) Get(key []byte, fn func(value []byte) error) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.leave()
	v, closer, err := e.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: get: %w", err)
	}
	defer closer.Close()
	return fn(v)
}

// Batch collects writes that commit atomically.
type Batch struct {
	b     *pebble.Batch
	hooks []func(error)
}

// NewBatch returns an empty batch. Commit or Close it.
func (e *Engine) NewBatch() *Batch { return &Batch{b: e.db.NewBatch()} }

// Set stores value under key. Both are copied.
func (b *Batch) Set(key, value []byte) { _ = b.b.Set(key, value, nil) }

// Delete removes key.
func (b *Batch) Delete(key []byte) { _ = b.b.Delete(key, nil) }

// DeleteRange removes every key in [start, end).
func (b *Batch) DeleteRange(start, end []byte) { _ = b.b.DeleteRange(start, end, nil) }

// Len is the number of writes in the batch.
func (b *Batch) Len() int { return int(b.b.Count()) }

// OnCommit adds fn to run once the batch's commit has finished (with its
// error, nil on success), before Commit returns. A batch's hooks run in the
// order they were added. Hooks of synced batches run
// in commit order, one at a time: a hook that updates a cache of what the
// batch wrote keeps the cache in the order the writes reached the log, even
// for concurrent writers of the same key. fn must be quick and must not
// commit.
func (b *Batch) OnCommit(fn func(error)) { b.hooks = append(b.hooks, fn) }

func (b *Batch) committed(err error) {
	for _, h := range b.hooks {
		h(err)
	}
}

// Close releases the batch. A committed batch is closed by Commit.
func (b *Batch) Close() { _ = b.b.Close() }

// Commit applies the batch atomically and closes it. With sync, it returns
// only once the batch is durable; concurrent synced commits share an fsync
// and are ordered by one committer. An unsynced commit runs its hook at
// once: its caller orders it against other writes.
func (e *Engine) Commit(b *Batch, sync bool) error {
	defer b.Close()
	if e.closed.Load() {
		b.committed(ErrClosed)
		return ErrClosed
	}
	if !sync {
		err := e.Failure()
		if err == nil {
			if err = catchFatal(func() error { return b.b.Commit(pebble.NoSync) }); isFatal(err) {
				err = e.fail(err)
			}
		}
		b.committed(err)
		if err != nil {
			return fmt.Errorf("storage: commit: %w", err)
		}
		return nil
	}
	start := time.Now()
	if err := e.commit.commit(b); err != nil {
		return fmt.Errorf("storage: synced commit: %w", err)
	}
	e.syncs.Observe(time.Since(start).Seconds())
	return nil
}

// CommitAsync queues b for a synced commit and returns at once with a
// function that waits until b is durable (and closes it). Batches queued by
// CommitAsync and Commit(sync) commit in the order they were queued, and
// their OnCommit hooks run in that order: a caller can queue under a lock
// and wait outside it, and still know that the next batch it queues under
// that lock lands after this one. The hooks never run on the caller's
// goroutine, so they may take the lock the caller queued under; on a closed
// engine they run, with ErrClosed, inside wait. The caller must call wait.
func (e *Engine) CommitAsync(b *Batch) (wait func() error) {
	start := time.Now()
	w := e.commit.enqueue(b)
	return func() error {
		defer b.Close()
		if err := w(); err != nil {
			return fmt.Errorf("storage: synced commit: %w", err)
		}
		e.syncs.Observe(time.Since(start).Seconds())
		return nil
	}
}

// Iter walks keys in order within bounds.
type Iter struct {
	it *pebble.Iterator
	e  *Engine
}

// NewIter returns an iterator over [lower, upper). Close it: the engine's
// Close waits for it.
func (e *Engine) NewIter(lower, upper []byte) (*Iter, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		e.leave()
		return nil, fmt.Errorf("storage: iterator: %w", err)
	}
	return &Iter{it: it, e: e}, nil
}

// First moves to the first key and reports whether there is one.
func (i *Iter) First() bool { return i.it.First() }

// SeekGE moves to the first key at or after key.
func (i *Iter) SeekGE(key []byte) bool { return i.it.SeekGE(key) }

// Next moves to the next key and reports whether there is one.
func (i *Iter) Next() bool { return i.it.Next() }

// Valid reports whether the iterator is at a key.
func (i *Iter) Valid() bool { return i.it.Valid() }

// Key is the current key, valid until the iterator moves.
func (i *Iter) Key() []byte { return i.it.Key() }

// Value is the current value, valid until the iterator moves.
func (i *Iter) Value() ([]byte, error) { return i.it.ValueAndErr() }

// Close releases the iterator and reports any error it met.
func (i *Iter) Close() error {
	err := i.it.Close()
	i.e.leave()
	return err
}

// DataNamespaces returns the namespaces (storage names) that have records,
// in order, skipping from one namespace to the next without reading their
// records.
func (e *Engine) DataNamespaces() ([]string, error) {
	it, err := e.NewIter([]byte{prefixData}, []byte{prefixData + 1})
	if err != nil {
		return nil, err
	}
	var out []string
	for ok := it.First(); ok; {
		ns, _, _, err := ParseDataKey(it.Key())
		if err != nil {
			it.Close()
			return nil, err
		}
		out = append(out, ns)
		_, next := DataSpanAll(ns)
		ok = it.SeekGE(next)
	}
	return out, it.Close()
}

// RaftGroups returns the Raft groups that have records here (logs, hard
// state, snapshots), in order, skipping from one group to the next.
func (e *Engine) RaftGroups() ([]uint64, error) {
	it, err := e.NewIter([]byte{prefixRaft}, []byte{prefixRaft + 1})
	if err != nil {
		return nil, err
	}
	var out []uint64
	for ok := it.First(); ok; {
		k := it.Key()
		if len(k) < 9 {
			it.Close()
			return nil, fmt.Errorf("storage: not a raft key: %q", k)
		}
		g := binary.BigEndian.Uint64(k[1:9])
		out = append(out, g)
		if g == math.MaxUint64 {
			break
		}
		ok = it.SeekGE(RaftKey(g+1, 0)[:9])
	}
	return out, it.Close()
}

// DeleteGroup deletes everything Raft group group and its strong state
// machine keep here (log, hard state, snapshot, keys, request ids, applied
// index), in one synced batch.
func (e *Engine) DeleteGroup(group uint64) error {
	b := e.NewBatch()
	raft := RaftKey(group, 0)[:9]
	b.DeleteRange(raft, prefixEnd(raft))
	st := strongPrefix(nil, group, 0)[:9]
	b.DeleteRange(st, prefixEnd(st))
	return e.Commit(b, true)
}

// Close flushes nothing further and closes the database. Writes committed
// with sync are already durable; unsynced ones may be lost.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	// Reads under way finish first (bounded: an iterator someone forgot
	// to close must not hold the node's stop forever).
	for deadline := time.Now().Add(10 * time.Second); e.reading.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // waiting for reads under way
	}
	close(e.stop)
	e.guards.Wait()
	e.commit.close()
	if err := e.db.Close(); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// Dir is the data directory.
func (e *Engine) Dir() string { return e.dir }

var _ io.Closer = (*Engine)(nil)
