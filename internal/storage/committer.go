package storage

import (
	"runtime"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// committer turns many concurrent synced commits into one Pebble commit: one
// write-ahead log record and one fsync for the whole group.
//
// Pebble's commit pipeline already shares an fsync between batches that
// arrive while one is in progress. The committer goes further in two ways,
// which matter where an fsync costs real CPU (on virtual disks one fdatasync
// can cost 75µs of kernel time): the group is one batch, so it pays Pebble's
// per-batch commit work once; and before committing it yields the processor
// briefly while more writers are still joining, up to the size the previous
// group reached, so a steady load of N writers settles into groups near N
// instead of N/4. A lone writer never waits: with nothing else queued or
// expected, its batch commits at once.
type committer struct {
	db *pebble.DB

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*commitReq
	closed  bool
	lastLen int // size of the previous group: how many writers to expect

	done chan struct{}
}

type commitReq struct {
	b    *pebble.Batch
	done chan error
}

var reqPool = sync.Pool{New: func() any { return &commitReq{done: make(chan error, 1)} }}

// Batches larger than this commit on their own; copying them into a group
// would cost more than the fsync it saves.
const maxGroupedBatch = 256 << 10

// maxLinger bounds how long a group waits for more writers.
const maxLinger = 200 * time.Microsecond

func newCommitter(db *pebble.DB) *committer {
	c := &committer{db: db, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.loop()
	return c
}

// commit commits b durably, as part of a group.
func (c *committer) commit(b *pebble.Batch) error {
	r := reqPool.Get().(*commitReq)
	r.b = b
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		reqPool.Put(r)
		return ErrClosed
	}
	c.queue = append(c.queue, r)
	if len(c.queue) == 1 {
		c.cond.Signal()
	}
	c.mu.Unlock()
	err := <-r.done
	r.b = nil
	reqPool.Put(r)
	return err
}

func (c *committer) loop() {
	defer close(c.done)
	var group []*commitReq
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closed {
			c.cond.Wait()
		}
		if len(c.queue) == 0 && c.closed {
			c.mu.Unlock()
			return
		}
		// Let writers that are about to join do so: yield while the queue is
		// short of the last group's size and still growing.
		deadline := time.Now().Add(maxLinger)
		for n := len(c.queue); n < c.lastLen && time.Now().Before(deadline); {
			c.mu.Unlock()
			runtime.Gosched()
			c.mu.Lock()
			if len(c.queue) == n {
				break
			}
			n = len(c.queue)
		}
		group, c.queue = c.queue, group[:0]
		c.lastLen = len(group)
		c.mu.Unlock()

		err := c.commitGroup(group)
		for _, r := range group {
			r.done <- err
		}
		clear(group)
	}
}

func (c *committer) commitGroup(group []*commitReq) error {
	if len(group) == 1 {
		return group[0].b.Commit(pebble.Sync)
	}
	merged := c.db.NewBatch()
	defer merged.Close()
	for _, r := range group {
		if err := merged.Apply(r.b, nil); err != nil {
			return err
		}
	}
	return merged.Commit(pebble.Sync)
}

// close commits what is queued and stops the loop.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.cond.Signal()
	c.mu.Unlock()
	<-c.done
}
