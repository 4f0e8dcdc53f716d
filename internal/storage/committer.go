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
// briefly while more writers are still joining, a little past the size the
// previous group reached, so a steady load of N writers settles into large
// groups. A lone writer never waits: the yielding stops as soon as the queue
// stops growing.
//
// Every synced commit goes through the one committer goroutine, so synced
// commits are totally ordered, and each batch's OnCommit hook runs in that
// order, after its group is durable and before its writer is woken.
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
	b    *Batch
	done chan error
}

var reqPool = sync.Pool{New: func() any { return &commitReq{done: make(chan error, 1)} }}

// Batches larger than this are not copied into a merged group batch; the
// copy would cost more than the fsync it saves.
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
func (c *committer) commit(b *Batch) error {
	r := reqPool.Get().(*commitReq)
	r.b = b
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		reqPool.Put(r)
		b.committed(ErrClosed)
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
		// short of the expected size and still growing.
		deadline := time.Now().Add(maxLinger)
		target := c.lastLen + c.lastLen/4 + 1
		for n := len(c.queue); n < target && time.Now().Before(deadline); {
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
			r.b.committed(err)
		}
		for _, r := range group {
			r.done <- err
		}
		clear(group)
	}
}

func (c *committer) commitGroup(group []*commitReq) error {
	if len(group) == 1 {
		return group[0].b.b.Commit(pebble.Sync)
	}
	big := false
	for _, r := range group {
		big = big || len(r.b.b.Repr()) > maxGroupedBatch
	}
	if big {
		// Commit each in order without waiting for the disk, then make them
		// all durable with one sync of the log.
		for _, r := range group {
			if err := r.b.b.Commit(pebble.NoSync); err != nil {
				return err
			}
		}
		return c.db.LogData(nil, pebble.Sync)
	}
	merged := c.db.NewBatch()
	defer merged.Close()
	for _, r := range group {
		if err := merged.Apply(r.b.b, nil); err != nil {
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
