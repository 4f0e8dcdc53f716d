package coordinator

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// replicator sends one peer the records written here, batching what queued
// up while the previous batch was in flight into one ReplicateBatch call,
// which the peer applies as one commit. Under load this turns many small
// calls and fsyncs into few large ones; a lone write goes out at once.
type replicator struct {
	c    *Coordinator
	peer string

	mu      sync.Mutex
	queue   []repItem
	running bool
}

type repItem struct {
	req  *nodepb.ReplicateRequest
	done chan<- error
}

// Batch bounds.
const (
	maxBatchItems = 512
	maxBatchBytes = 8 << 20
)

func (c *Coordinator) replicatorFor(peer string) *replicator {
	c.repMu.Lock()
	defer c.repMu.Unlock()
	r, ok := c.reps[peer]
	if !ok {
		r = &replicator{c: c, peer: peer}
		c.reps[peer] = r
	}
	return r
}

// send queues a record for the peer; done gets the outcome (it must have
// room: send never blocks on it).
func (r *replicator) send(req *nodepb.ReplicateRequest, done chan<- error) {
	r.mu.Lock()
	r.queue = append(r.queue, repItem{req: req, done: done})
	start := !r.running
	r.running = true
	r.mu.Unlock()
	if start {
		go r.loop()
	}
}

// loop sends batches until the queue is empty, then ends; the next send
// starts it again.
func (r *replicator) loop() {
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(r.queue) && n < maxBatchItems && (n == 0 || size+len(r.queue[n].req.Record) <= maxBatchBytes) {
			size += len(r.queue[n].req.Record) + len(r.queue[n].req.Key)
			n++
		}
		batch := make([]repItem, n)
		copy(batch, r.queue[:n])
		r.queue = r.queue[n:]
		r.mu.Unlock()
		r.flush(batch)
	}
}

func (r *replicator) flush(batch []repItem) {
	req := &nodepb.ReplicateBatchRequest{Items: make([]*nodepb.ReplicateRequest, len(batch))}
	for i, it := range batch {
		req.Items[i] = it.req
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	resp, err := r.c.cfg.Transport.Peer(r.peer).ReplicateBatch(ctx, req)
	r.c.batchRecords.Observe(float64(len(batch)))
	if err != nil {
		r.c.log.Debug("replicating", "to", r.peer, "records", len(batch), "err", err, "after", time.Since(start))
	}
	failed := 0
	for i, it := range batch {
		switch {
		case err != nil:
			failed++
			it.done <- err
		case i < len(resp.Errors) && resp.Errors[i] != "":
			failed++
			it.done <- errors.New(resp.Errors[i])
		default:
			it.done <- nil
		}
	}
	if failed > 0 {
		r.c.repFailures.WithLabelValues(r.peer).Add(float64(failed))
	}
}

// ReplicateBatch serves another node's batch: every record is merged into
// this replica, one commit per namespace.
func (h Handler) ReplicateBatch(ctx context.Context, req *nodepb.ReplicateBatchRequest) (*nodepb.ReplicateBatchResponse, error) {
	resp := &nodepb.ReplicateBatchResponse{Errors: make([]string, len(req.Items))}
	byNS := map[string][]int{}
	var order []string
	for i, it := range req.Items {
		if _, ok := byNS[it.Namespace]; !ok {
			order = append(order, it.Namespace)
		}
		byNS[it.Namespace] = append(byNS[it.Namespace], i)
	}
	for _, ns := range order {
		idx := byNS[ns]
		keys := make([][]byte, 0, len(idx))
		sets := make([]dvv.Set, 0, len(idx))
		for _, i := range idx {
			var rec replica.Record
			if err := replica.DecodeRecord(req.Items[i].Record, &rec); err != nil {
				resp.Errors[i] = err.Error()
				continue
			}
			keys = append(keys, req.Items[i].Key)
			sets = append(sets, rec.Set)
		}
		if len(keys) == 0 {
			continue
		}
		_, err := h.c.store.UpdateMany(ns, keys, func(j int, cur replica.Record, found bool) (replica.Record, bool, error) {
			merged := replica.Record{Set: dvv.Sync(cur.Set, sets[j])}
			if found && replica.SameRecord(&merged, &cur) {
				return cur, false, nil
			}
			return merged, true, nil
		})
		if err != nil {
			for _, i := range idx {
				if resp.Errors[i] == "" {
					resp.Errors[i] = err.Error()
				}
			}
		}
	}
	return resp, nil
}
