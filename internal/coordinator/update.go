package coordinator

import (
	"bytes"
	"context"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/sabotage"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// An update of a counter, set or map key (ADR 0008) reads the causal
// contexts of R-1 other replicas, not their records: under a stream of
// updates a replica's copy trails its coordinator's, which already holds
// all of it. Only the records of replicas holding events the coordinator's
// copy lacks (after a fault) are read, and merged. The coordinator applies
// the update under the key's lock and, still under it, queues it for the
// other replicas, so that each receives a key's updates in the order they
// were made and finds its copy is the next one's base.

// coordinateUpdate is coordinate for an update (q.op == opUpdate).
func (c *Coordinator) coordinateUpdate(ctx context.Context, pl placement, q *writeReq) (writeResult, error) {
	var others []string
	for _, node := range c.candidates(pl.pref) {
		if node != c.self {
			others = append(others, node)
		}
	}
	var theirs []readResult
	if q.r > 1 && !sabotage.Is("local-writes") {
		theirs = gather(others, q.r-1, func(node string) readResult { return c.readContext(ctx, node, pl.store, q.key) }).got
	}
	var seen dvv.Set
	for round := 1; ; round++ {
		var res writeResult
		var rep *replication
		var ahead []string
		_, wait, err := c.store.UpdateManyAsync(pl.store, [][]byte{q.key}, func(_ int, cur replica.Record, _ bool) (replica.Record, bool, error) {
			cur = replica.Record{Set: dvv.Sync(cur.Set, seen)}
			if ahead = notCovered(cur, theirs); len(ahead) > 0 && round == 1 {
				return cur, false, nil // read their records first
			}
			next, write, err := c.applyUpdate(pl, q, cur, c.store.NowMicro(), &res)
			if write {
				rep = c.sendOut(pl, q.key, next, res.update)
			}
			return next, write, err
		})
		if err != nil {
			return writeResult{}, diskErr(err)
		}
		if len(ahead) > 0 && round == 1 {
			// Some replicas hold events this one lacks: merge their records
			// and apply the update over them.
			c.updateReads.Inc()
			m, _ := merge(gather(ahead, len(ahead), func(node string) readResult { return c.readRemote(ctx, node, pl.store, q.key) }).got)
			seen = m.Set
			continue
		}
		if !res.applied {
			return res, wait()
		}
		if sabotage.Is("ack-early") {
			go func() { _ = wait() }()
			return res, nil
		}
		need := pl.blockFor(q.w)
		if acks, _ := c.await(ctx, rep, need, wait); acks < need {
			return res, unavailableWrite(acks, need)
		}
		return res, nil
	}
}

// notCovered returns the replicas among those that answered a context read
// whose copy holds events cur does not.
func notCovered(cur replica.Record, theirs []readResult) []string {
	var out []string
	mine := cur.Set.Context()
	for _, t := range theirs {
		if t.err == nil && t.found && !mine.Descends(t.ctx) {
			out = append(out, t.node)
		}
	}
	return out
}

// applyUpdate computes a key's next record for an update, under the key's
// lock on the coordinating replica, and the update as the other replicas
// can apply it (res.update).
func (c *Coordinator) applyUpdate(pl placement, q *writeReq, cur replica.Record, stamp int64, res *writeResult) (replica.Record, bool, error) {
	u := update{t: pl.ns.Type, by: by{actor: c.cfg.Actor, id: q.requestID, now: c.store.Now()}, stamp: stamp, op: q.typeOp}
	// A small record is sent whole, as other writes are: it is about as
	// small as the update, and a replica merges it for less than it
	// applies an update.
	large := valuesSize(cur) >= minUpdateRecordBytes
	var states *stateCache
	var base replica.Digest
	if large {
		states, base = c.states, replica.DigestOf(&cur)
	}
	next, result, n, changed, err := u.apply(states, pl.store, q.key, cur, base)
	if err != nil {
		return cur, false, err
	}
	res.n = n
	if q.typeOp.Kind == api.OpClear {
		res.oldFound = n > 0
	}
	if !changed {
		return cur, false, nil
	}
	res.applied = true
	res.ctx = next.Set.Context().Encode()
	if large {
		res.update = u.toWire(base, result)
	}
	return next, true, nil
}

// minUpdateRecordBytes is the size of its siblings' values from which a
// key's record is sent to replicas as the update that made it.
const minUpdateRecordBytes = 512

// valuesSize returns the bytes of rec's siblings' values.
func valuesSize(rec replica.Record) int {
	n := 0
	for _, e := range rec.Set.Entries {
		for _, v := range e.Values {
			n += len(v)
		}
	}
	return n
}

// update is one update of a counter, set or map, as every replica applies
// it alike: the same update on the same record makes the same record. So
// the coordinator sends the other replicas the update, a few bytes, instead
// of the record it made, which holds the key's whole state; a replica whose
// copy differs from the coordinator's base (it missed a write, or has one
// the coordinator's read did not see) asks for the record instead (ADR
// 0008).
type update struct {
	t     metadata.Type
	by    by
	stamp int64
	op    api.Op
}

// apply returns the record u makes of cur, whose digest is d, and that
// record's digest: the merge of cur's siblings' states with u's operation
// applied, as a new event superseding them all. It starts from the state
// that states holds for d if there is one, and leaves there the state of
// the record it returns. With states nil it neither uses d nor returns a
// digest.
func (u update) apply(states *stateCache, store string, key []byte, cur replica.Record, d replica.Digest) (next replica.Record, nd replica.Digest, n int64, changed bool, err error) {
	e, cached := states.take(store, key, d)
	if !cached {
		st, err := loadState(u.t, cur)
		if err != nil {
			return cur, d, 0, false, err
		}
		e = cachedState{digest: d, st: st}
	}
	n, changed, err = e.st.apply(u.by, u.op)
	if err != nil {
		return cur, d, 0, false, err // e.st may be half changed: dropped
	}
	if !changed {
		if cached { // put back what was taken; a decoded state has no size to charge
			states.put(store, key, e)
		}
		return cur, d, n, false, nil
	}
	enc := e.st.encode()
	sib := replica.EncodeSibling(!e.st.present(), 0, u.stamp, enc)
	next = replica.Record{Set: dvv.Update(cur.Set.Context(), cur.Set, u.by.actor, sib)}
	if states != nil {
		nd = replica.DigestOf(&next)
		states.put(store, key, cachedState{digest: nd, st: e.st, size: len(enc)})
	}
	return next, nd, n, true, nil
}

func (u update) toWire(base, result replica.Digest) *nodepb.TypeUpdate {
	return &nodepb.TypeUpdate{
		Base: base[:], Result: result[:], Type: string(u.t),
		Actor: u.by.actor, RequestId: u.by.id, Now: u.by.now, Stamp: u.stamp,
		Op: opToWire(u.op),
	}
}

func updateFromWire(m *nodepb.TypeUpdate) update {
	return update{
		t: metadata.Type(m.Type), by: by{actor: m.Actor, id: m.RequestId, now: m.Now}, stamp: m.Stamp,
		op: opFromWire(m.Op),
	}
}

// cloneOp returns op with its own copies of its byte slices.
func cloneOp(op api.Op) api.Op {
	clone := func(bs [][]byte) [][]byte {
		out := make([][]byte, len(bs))
		for i, b := range bs {
			out[i] = bytes.Clone(b)
		}
		return out
	}
	op.Field = bytes.Clone(op.Field)
	op.Members = clone(op.Members)
	op.Values = clone(op.Values)
	return op
}
