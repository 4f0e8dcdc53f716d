package replica

import (
	"bytes"
	"sync"
)

// recordCache keeps recently written and read records in memory, so a hot key
// is served without a Pebble lookup (Cassandra's row cache, in spirit). It
// holds encoded records, which are immutable once cached, and keys found
// absent, so that looking up a missing key again (GETs of keys never
// written, a write after a miss) costs no Pebble search either. The first
// lookup of a key still searches. It is bounded in bytes.
//
// Coherence: every write stores what it committed (or drops the key) from
// its storage commit hook, which runs in commit order after the commit and
// before the write is acknowledged; so the cache's copy of a key is never
// older than the newest acknowledged write. A reader that misses notes its
// shard's epoch, reads storage, and inserts only if no write has touched the
// shard since and no entry has appeared; so a slow reader can never put back
// a record that a write has replaced.
type recordCache struct {
	shards   [cacheShards]cacheShard
	perShard int64
}

const cacheShards = 64

// cacheShard maps a key's 64-bit hash to its entry; the entry's data key is
// compared on every hit, so two keys that share a hash only displace each
// other.
type cacheShard struct {
	mu    sync.Mutex
	m     map[uint64]cacheEntry
	bytes int64
	epoch uint64
}

// cacheEntry holds the data key and the record in one allocation, buf =
// dataKey || record, so a hit touches one block of memory.
type cacheEntry struct {
	buf  []byte
	klen int
}

func (e cacheEntry) size() int64 { return int64(len(e.buf) + entryOverhead) }

// entryOverhead approximates a map entry's memory beyond its key and value.
const entryOverhead = 64

func newRecordCache(capBytes int64) *recordCache {
	if capBytes <= 0 {
		return nil
	}
	c := &recordCache{perShard: max(capBytes/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].m = map[uint64]cacheEntry{}
	}
	return c
}

func (c *recordCache) shard(h uint64) *cacheShard { return &c.shards[(h>>32)%cacheShards] }

// get returns the cached record for dataKey (nil if the key is known to be
// absent), or, on a miss, the epoch to pass to put.
func (c *recordCache) get(h uint64, dataKey []byte) (rec []byte, epoch uint64, ok bool) {
	s := c.shard(h)
	s.mu.Lock()
	e, ok := s.m[h]
	epoch = s.epoch
	s.mu.Unlock()
	if !ok || !bytes.Equal(e.buf[:e.klen], dataKey) {
		return nil, epoch, false
	}
	if e.klen == len(e.buf) {
		return nil, epoch, true // absent: no encoded record is empty
	}
	return e.buf[e.klen:], epoch, true
}

// put caches a copy of rec, read from storage after a miss (nil: the key is
// absent), if no write touched the shard since epoch was read and no entry
// has appeared.
func (c *recordCache) put(h uint64, dataKey, rec []byte, epoch uint64) {
	buf := make([]byte, 0, len(dataKey)+len(rec))
	e := cacheEntry{buf: append(append(buf, dataKey...), rec...), klen: len(dataKey)}
	size := e.size()
	if size > c.perShard/4 {
		return // a huge record would evict a crowd of small ones
	}
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != epoch {
		return
	}
	if _, ok := s.m[h]; ok {
		return // a write stored it meanwhile: that copy is at least as new
	}
	s.evictFor(size, c.perShard)
	s.m[h] = e
	s.bytes += size
}

// store replaces the entry of the key in buf = dataKey || record, written by
// a commit that has just finished, and takes ownership of buf. Callers run it
// in commit order (storage.Batch.OnCommit), so the last store of a key is its
// last committed write. In-flight misses of the shard discard what they read.
func (c *recordCache) store(h uint64, buf []byte, klen int) {
	s := c.shard(h)
	e := cacheEntry{buf: buf, klen: klen}
	size := e.size()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	if old, ok := s.m[h]; ok {
		s.bytes -= old.size()
		if size > c.perShard/4 {
			delete(s.m, h)
			return
		}
	} else if size > c.perShard/4 {
		return
	}
	s.evictFor(size, c.perShard)
	s.m[h] = e
	s.bytes += size
}

// evictFor drops arbitrary entries (Go's map order is randomised) until size
// more bytes fit in limit. The caller holds s.mu.
func (s *cacheShard) evictFor(size, limit int64) {
	if s.bytes+size <= limit {
		return
	}
	for k, v := range s.m {
		delete(s.m, k)
		s.bytes -= v.size()
		if s.bytes+size <= limit {
			return
		}
	}
}

// invalidate drops dataKey and makes in-flight misses of its shard discard
// what they read.
func (c *recordCache) invalidate(h uint64, dataKey []byte) {
	s := c.shard(h)
	s.mu.Lock()
	s.epoch++
	if e, ok := s.m[h]; ok {
		delete(s.m, h)
		s.bytes -= e.size()
	}
	s.mu.Unlock()
}

// clear drops every entry and makes in-flight misses discard what they
// read.
func (c *recordCache) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.epoch++
		clear(s.m)
		s.bytes = 0
		s.mu.Unlock()
	}
}
