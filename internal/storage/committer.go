package storage

import (
	"runtime"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/pandodb/pando/internal/sabotage"
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
// commits are totally ordered, and each batch's OnCommit hooks run in that
// order, after its group is durable and before its writer is woken.
//
// The committer is pipelined: it applies a group to Pebble (memtable and
// write-ahead log queue) without waiting for the fsync, and goes on to the
// next group; a second goroutine waits for the fsyncs, which Pebble completes
// in log order, and then runs the hooks and wakes the writers. So the fsync
// of one group overlaps the work of the next.
type committer struct {
	db     *pebble.DB
	fail   func(error) error
	failed func() error

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*commitReq
	closed  bool
	lastLen int // size of the previous group: how many writers to expect

	synced chan inflight // groups applied, waiting for their fsync
	done   chan struct{}
}

// inflight is a group applied to Pebble whose fsync is pending.
type inflight struct {
	group   []*commitReq
	batches []*pebble.Batch // to SyncWait, in order
	merged  *pebble.Batch   // to close afterwards, if the group was merged
	err     error           // the apply failed
	fatal   bool            // err is the log's failure
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

// newCommitter commits to db. A failure of the log (a fatal apply, a
// failed fsync) is passed to fail, which answers the error to give every
// writer; once failed reports one, nothing more reaches Pebble.
func newCommitter(db *pebble.DB, fail func(error) error, failed func() error) *committer {
	c := &committer{db: db, fail: fail, failed: failed, synced: make(chan inflight, 64), done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.loop()
	go c.syncLoop()
	return c
}

// commit commits b durably, as part of a group.
func (c *committer) commit(b *Batch) error { return c.enqueue(b)() }

// enqueue queues b and returns a function that waits until b is durable.
// Batches are committed in the order they are queued.
func (c *committer) enqueue(b *Batch) (wait func() error) {
	r := reqPool.Get().(*commitReq)
	r.b = b
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		reqPool.Put(r)
		// Not here: the caller may hold a lock that the hooks take.
		return func() error {
			b.committed(ErrClosed)
			return ErrClosed
		}
	}
	c.queue = append(c.queue, r)
	if len(c.queue) == 1 {
		c.cond.Signal()
	}
	c.mu.Unlock()
	return func() error {
		err := <-r.done
		r.b = nil
		reqPool.Put(r)
		return err
	}
}

func (c *committer) loop() {
	defer close(c.synced)
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
		group := c.queue
		c.queue = nil
		c.lastLen = len(group)
		c.mu.Unlock()
		c.synced <- c.apply(group)
	}
}

// apply hands a group to Pebble without waiting for its fsync.
func (c *committer) apply(group []*commitReq) inflight {
	inf := inflight{group: group}
	if err := c.failed(); err != nil {
		inf.err, inf.fatal = err, true
		return inf
	}
	single := len(group) == 1
	for _, r := range group {
		single = single || len(r.b.b.Repr()) > maxGroupedBatch
	}
	if single {
		// Each as its own Pebble batch: no copy.
		for _, r := range group {
			if err := c.applyNoSyncWait(r.b.b); err != nil {
				inf.err, inf.fatal = err, isFatal(err)
				return inf
			}
			inf.batches = append(inf.batches, r.b.b)
		}
		return inf
	}
	merged := c.db.NewBatch()
	inf.merged = merged
	for _, r := range group {
		if err := merged.Apply(r.b.b, nil); err != nil {
			inf.err = err
			return inf
		}
	}
	if err := c.applyNoSyncWait(merged); err != nil {
		inf.err, inf.fatal = err, isFatal(err)
		return inf
	}
	inf.batches = []*pebble.Batch{merged}
	return inf
}

func (c *committer) applyNoSyncWait(b *pebble.Batch) error {
	return catchFatal(func() error { return c.db.ApplyNoSyncWait(b, pebble.Sync) })
}

// syncLoop waits for each applied group's fsync, in order, then runs its
// hooks and wakes its writers.
func (c *committer) syncLoop() {
	defer close(c.done)
	for inf := range c.synced {
		err, fatal := inf.err, inf.fatal
		// Every applied batch must be waited for, even after an error.
		for _, b := range inf.batches {
			if werr := b.SyncWait(); err == nil && werr != nil && !sabotage.Is("fsync-ignored") {
				err, fatal = werr, true // the log failed a write or fsync
			}
		}
		if fatal {
			err = c.fail(err)
		}
		if inf.merged != nil {
			_ = inf.merged.Close()
		}
		for _, r := range inf.group {
			r.b.committed(err)
		}
		for _, r := range inf.group {
			r.done <- err
		}
	}
}

// close commits what is queued and stops.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.cond.Signal()
	c.mu.Unlock()
	<-c.done
}
