package coordinator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/handoff"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/sabotage"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// repItem is one record queued for a peer; done gets the outcome (it must
// have room: nothing blocks on it).
type repItem struct {
	req *nodepb.ReplicateRequest
	// record is the encoded record when req carries the update that made
	// it instead.
	record []byte
	done   chan<- repAck
}

// withRecord returns it with the record in place of an update.
func (it repItem) withRecord() repItem {
	if it.req.Update == nil {
		return it
	}
	r := it.req
	return repItem{req: &nodepb.ReplicateRequest{Namespace: r.Namespace, Key: r.Key, Record: it.record, HintFor: r.HintFor, SentMicros: r.SentMicros}, done: it.done}
}

// size is it's weight in a batch, roughly its bytes on the wire.
func (it repItem) size() int {
	n := len(it.req.Key) + len(it.req.Record)
	if u := it.req.Update; u != nil {
		n += 64 + len(u.Actor) + len(u.RequestId) + len(u.Op.GetField())
		for _, b := range u.Op.GetMembers() {
			n += len(b)
		}
		for _, b := range u.Op.GetValues() {
			n += len(b)
		}
	}
	return n
}

// repAck is a replica's answer about one record.
type repAck struct {
	node string
	// hintFor is the replica for which node, a fallback, was to keep the
	// record as a hint (empty for a replica's own copy).
	hintFor string
	err     error
	// uncovered: the replica held history the record does not cover.
	uncovered bool
}

// Batch bounds, for replication and reads alike.
const (
	maxBatchItems = 512
	maxBatchBytes = 8 << 20
)

// errQueueFull answers a record that a peer's replication queue had no
// room for.
var errQueueFull = errors.New("coordinator: the replication queue to this peer is full")

// replicatorFor returns the batcher of records to peer: records that queue
// while a ReplicateBatch call is in flight go in the next one, which the
// peer applies as one commit. Under load this turns many small calls and
// fsyncs into few large ones; a lone write goes out at once.
func (c *Coordinator) replicatorFor(peer string) *batcher[repItem] {
	c.repMu.Lock()
	defer c.repMu.Unlock()
	b, ok := c.reps[peer]
	if !ok {
		b = &batcher[repItem]{
			maxItems: maxBatchItems, maxBytes: maxBatchBytes, maxQueued: c.cfg.MaxReplicationQueueBytes,
			size:  repItem.size,
			flush: func(batch []repItem) { c.flushReplication(peer, batch) },
		}
		c.reps[peer] = b
	}
	return b
}

// errPeerDown answers a record for a peer that gossip believes down.
var errPeerDown = errors.New("coordinator: the replica is down")

// sendRecord queues a record for peer; it.done gets the outcome. A record
// the peer does not take becomes a hint (see flushReplication).
func (c *Coordinator) sendRecord(peer string, it repItem) {
	if !c.replicatorFor(peer).add(it) {
		go c.refuse(peer, []repItem{it}, errQueueFull)
	}
}

// refuse answers records that peer did not take with err, and keeps them as
// hints for it.
func (c *Coordinator) refuse(peer string, items []repItem, err error) {
	c.repFailures.WithLabelValues(peer).Add(float64(len(items)))
	c.hint(peer, items)
	for _, it := range items {
		it.done <- repAck{node: peer, hintFor: it.req.HintFor, err: err}
	}
}

// hint keeps records for peer, to be replayed when it is up again. A full
// hint store refuses them; package handoff counts and logs that. Records
// that were themselves hints for another node (a sloppy quorum's fallback
// did not take them) are not kept: the coordinator kept its own hint for
// that node when it missed the record.
func (c *Coordinator) hint(peer string, items []repItem) {
	if c.cfg.Hints == nil || len(items) == 0 || sabotage.Is("local-writes") || sabotage.Is("reap-whole") {
		return
	}
	hs := make([]handoff.Hint, 0, len(items))
	for _, it := range items {
		if r := it.withRecord().req; r.HintFor == "" {
			hs = append(hs, handoff.Hint{Namespace: r.Namespace, Key: r.Key, Record: r.Record, Made: r.SentMicros / 1000})
		}
	}
	if err := c.cfg.Hints.Add(peer, hs...); err != nil && !errors.Is(err, handoff.ErrFull) {
		c.log.Warn("storing hints", "for", peer, "records", len(items), "err", err)
	}
}

// flushReplication sends one batch of records to peer, or, when gossip
// believes it down, keeps them as hints without trying. Records the call
// does not deliver become hints too.
func (c *Coordinator) flushReplication(peer string, batch []repItem) {
	if !c.up(peer) {
		c.refuse(peer, batch, errPeerDown)
		return
	}
	req := &nodepb.ReplicateBatchRequest{Items: make([]*nodepb.ReplicateRequest, len(batch))}
	for i, it := range batch {
		req.Items[i] = it.req
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	resp, err := c.cfg.Transport.Peer(peer).ReplicateBatch(ctx, req)
	c.batchRecords.Observe(float64(len(batch)))
	if err != nil {
		c.log.Debug("replicating", "to", peer, "records", len(batch), "err", err, "after", time.Since(start))
	}
	if err != nil {
		c.refuse(peer, batch, err)
		return
	}
	var failed []repItem
	var first string
	for i, it := range batch {
		if i < len(resp.Errors) && resp.Errors[i] != "" {
			failed = append(failed, it)
			first = cmp.Or(first, resp.Errors[i])
			continue
		}
		if i < len(resp.NeedRecord) && resp.NeedRecord[i] && it.req.Update != nil {
			// The peer's copy is not the update's base: send the record.
			c.updatesMissed.Inc()
			c.sendRecord(peer, it.withRecord())
			continue
		}
		it.done <- repAck{node: peer, hintFor: it.req.HintFor, uncovered: i < len(resp.Uncovered) && resp.Uncovered[i]}
	}
	if len(failed) > 0 {
		c.refuse(peer, failed, fmt.Errorf("%s refused %d of %d records: %s", peer, len(failed), len(batch), first))
	}
}

// Up implements handoff.Replayer: whether gossip believes node up.
func (c *Coordinator) Up(node string) bool { return c.up(node) }

// Replay implements handoff.Replayer: it delivers hints to their replica in
// one ReplicateBatch call, which merges each durably.
// Hints for a namespace generation that a truncation or a drop retired are
// let go: their records would only be purged.
func (c *Coordinator) Replay(ctx context.Context, target string, hints []handoff.Hint) error {
	st := c.cfg.Meta.State()
	req := &nodepb.ReplicateBatchRequest{Items: make([]*nodepb.ReplicateRequest, 0, len(hints))}
	for _, h := range hints {
		if !st.Garbage(h.Namespace) {
			req.Items = append(req.Items, &nodepb.ReplicateRequest{Namespace: h.Namespace, Key: h.Key, Record: h.Record, SentMicros: h.Made * 1000})
		}
	}
	if len(req.Items) == 0 {
		return nil
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	resp, err := c.cfg.Transport.Peer(target).ReplicateBatch(ctx, req)
	if err != nil {
		return err
	}
	for i, e := range resp.Errors {
		if e != "" {
			return fmt.Errorf("hint %d of %d for %s: %s", i+1, len(req.Items), target, e)
		}
	}
	return nil
}

// ReplicateBatch serves another node's batch: every record is merged into
// this replica, and every update applied where this replica's copy is its
// base, one commit per namespace.
func (h Handler) ReplicateBatch(ctx context.Context, req *nodepb.ReplicateBatchRequest) (*nodepb.ReplicateBatchResponse, error) {
	n := len(req.Items)
	resp := &nodepb.ReplicateBatchResponse{Errors: make([]string, n), Uncovered: make([]bool, n), NeedRecord: make([]bool, n)}
	for i, it := range req.Items {
		if err := h.c.stale(it); err != nil {
			resp.Errors[i] = err.Error()
		}
	}
	h.keepHints(req, resp)
	byNS := map[string][]int{}
	var order []string
	for i, it := range req.Items {
		if it.HintFor != "" || resp.Errors[i] != "" {
			continue // kept as a hint above, or stale
		}
		if _, ok := byNS[it.Namespace]; !ok {
			order = append(order, it.Namespace)
		}
		byNS[it.Namespace] = append(byNS[it.Namespace], i)
	}
	for _, ns := range order {
		idx := byNS[ns]
		keys := make([][]byte, 0, len(idx))
		ins := make([]incoming, 0, len(idx))
		items := make([]int, 0, len(idx))
		for _, i := range idx {
			in, err := decodeIncoming(req.Items[i])
			if err != nil {
				resp.Errors[i] = err.Error()
				continue
			}
			keys = append(keys, req.Items[i].Key)
			ins = append(ins, in)
			items = append(items, i)
		}
		if len(keys) == 0 {
			continue
		}
		_, err := h.c.store.UpdateMany(ns, keys, func(j int, cur replica.Record, found bool) (replica.Record, bool, error) {
			in := ins[j]
			if in.update != nil {
				if sabotage.Is("update-ack-unapplied") {
					return cur, false, nil
				}
				next, ok := in.applyTo(h.c.states, ns, keys[j], cur)
				resp.NeedRecord[items[j]] = !ok
				return next, ok && !in.already, nil
			}
			resp.Uncovered[items[j]] = found && !in.set.Context().Descends(cur.Set.Context())
			merged := replica.Record{Set: dvv.Sync(cur.Set, in.set)}
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

// incoming is one item of a batch to merge: a record's set, or an update
// with the digests of its base and result.
type incoming struct {
	set          dvv.Set
	update       *update
	base, result replica.Digest
	// already: this replica holds the update's result (a resend).
	already bool
}

func decodeIncoming(it *nodepb.ReplicateRequest) (incoming, error) {
	if it.Update == nil {
		var rec replica.Record
		err := replica.DecodeRecord(it.Record, &rec)
		return incoming{set: rec.Set}, err
	}
	u := updateFromWire(it.Update)
	in := incoming{update: &u}
	if len(it.Update.Base) != replica.DigestSize || len(it.Update.Result) != replica.DigestSize {
		return in, fmt.Errorf("coordinator: an update's digests are %d and %d bytes, not %d", len(it.Update.Base), len(it.Update.Result), replica.DigestSize)
	}
	copy(in.base[:], it.Update.Base)
	copy(in.result[:], it.Update.Result)
	return in, nil
}

// applyTo applies in's update to cur, this replica's copy of key in store,
// if cur is its base: it returns the record the coordinator made, or false.
// The result's digest is checked too, so that an update that would come
// out differently here is never written.
func (in *incoming) applyTo(states *stateCache, store string, key []byte, cur replica.Record) (replica.Record, bool) {
	d := replica.DigestOf(&cur)
	if d == in.result {
		in.already = true
		return cur, true
	}
	if d != in.base {
		return cur, false
	}
	next, nd, _, changed, err := in.update.apply(states, store, key, cur, d)
	if err != nil || !changed || nd != in.result {
		return cur, false
	}
	return next, true
}

// keepHints stores the items of a batch that this node receives as a
// fallback: durable hints for the replica each names, one commit per
// replica. An item that cannot be kept (no hint store, a full one) gets an
// error, so that the coordinator counts it as not acknowledged.
func (h Handler) keepHints(req *nodepb.ReplicateBatchRequest, resp *nodepb.ReplicateBatchResponse) {
	byTarget := map[string][]int{}
	for i, it := range req.Items {
		if it.HintFor != "" && resp.Errors[i] == "" {
			byTarget[it.HintFor] = append(byTarget[it.HintFor], i)
		}
	}
	for target, idx := range byTarget {
		err := errors.New("this node keeps no hints")
		if h.c.cfg.Hints != nil {
			hs := make([]handoff.Hint, len(idx))
			for j, i := range idx {
				it := req.Items[i]
				hs[j] = handoff.Hint{Namespace: it.Namespace, Key: it.Key, Record: it.Record, Made: it.SentMicros / 1000}
			}
			err = h.c.cfg.Hints.Add(target, hs...)
		}
		if err != nil {
			for _, i := range idx {
				resp.Errors[i] = err.Error()
			}
		}
	}
}

// errStale refuses a record that set out longer ago than the tombstone
// grace.
var errStale = errors.New("coordinator: stale record")

// stale refuses a record that set out for this replica longer ago than the
// tombstone grace, by this node's clock: the delete of its key may have
// been purged on every replica since, and merging it would bring the
// deleted value back (Cassandra drops mutations older than their timeout
// on arrival for a like reason). A record that still lives somewhere
// comes back through anti-entropy, which takes it from a replica that
// holds it now. Clocks are trusted to agree within the grace, as the purge
// already trusts them.
func (c *Coordinator) stale(it *nodepb.ReplicateRequest) error {
	if c.cfg.StaleAfter <= 0 || it.SentMicros == 0 {
		return nil
	}
	age := time.Duration(c.store.NowMicro()-it.SentMicros) * time.Microsecond
	if age <= c.cfg.StaleAfter {
		return nil
	}
	c.staleRefused.Inc()
	return fmt.Errorf("%w: it set out %v ago, longer than the tombstone grace %v", errStale, age.Round(time.Millisecond), c.cfg.StaleAfter)
}
