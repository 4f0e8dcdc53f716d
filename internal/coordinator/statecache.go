package coordinator

import (
	"sync"

	"github.com/pandodb/pando/internal/replica"
)

// stateCache keeps the decoded CRDT state of the keys last updated on this
// node, under the digest of the record it is the state of, so that the next
// update of a hot key (on its coordinator, or on a replica applying the
// update) starts from it instead of decoding the key's record again: for a
// large set or map, decoding is most of an update's work. An entry is
// taken, not shared: whoever takes it applies an update to it and puts back
// the state of the record it made. A state whose record differs (a missed
// write, a merge) is never used: its digest does not match.
type stateCache struct {
	mu       sync.Mutex
	entries  map[string]cachedState
	bytes    int
	maxBytes int
}

type cachedState struct {
	digest replica.Digest
	st     state
	// size is the encoded state's length, what the entry is charged.
	size int
}

// defaultStateCacheBytes bounds the encoded size of the states cached.
const defaultStateCacheBytes = 32 << 20

func newStateCache(maxBytes int) *stateCache {
	return &stateCache{entries: map[string]cachedState{}, maxBytes: maxBytes}
}

func cacheKey(store string, key []byte) string { return store + "\x00" + string(key) }

// take removes and returns key's state if it is the state of the record
// whose digest is d. A nil cache holds nothing.
func (c *stateCache) take(store string, key []byte, d replica.Digest) (cachedState, bool) {
	if c == nil {
		return cachedState{}, false
	}
	k := cacheKey(store, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return cachedState{}, false
	}
	delete(c.entries, k)
	c.bytes -= e.size
	return e, e.digest == d
}

// put keeps e as key's state, evicting others (any: a hot key is put back
// at once) to stay within maxBytes. A state larger than a quarter of the
// bound is not kept, nor anything by a nil cache.
func (c *stateCache) put(store string, key []byte, e cachedState) {
	if c == nil || e.size > c.maxBytes/4 {
		return
	}
	k := cacheKey(store, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[k]; ok {
		c.bytes -= old.size
	}
	for victim, v := range c.entries {
		if c.bytes+e.size <= c.maxBytes {
			break
		}
		delete(c.entries, victim)
		c.bytes -= v.size
	}
	c.entries[k] = e
	c.bytes += e.size
}
