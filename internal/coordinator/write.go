package coordinator

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/sabotage"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// writeOp is what a write does to its key.
type writeOp uint8

const (
	opPut writeOp = iota + 1
	opDelete
	// opExpire changes the expiry of the live value, keeping the value.
	opExpire
	// opUpdate applies typeOp to a counter, set or map (types.go).
	opUpdate
)

// writeReq is one client write as the coordinator handles it: Put, Delete
// and SetExpiry all become one. It crosses the wire (nodepb.WriteRequest)
// only when forwarded to a coordinating replica.
type writeReq struct {
	ns  string
	key []byte
	op  writeOp
	// value is opPut's value.
	value []byte
	// expireAt is the new expiry in Unix ms (0: none): the value's for
	// opPut, the key's for opExpire.
	expireAt   int64
	keepTTL    bool
	cond       api.Cond
	expireCond api.ExpireCond
	returnOld  bool
	// ctx, when hasCtx, is the causal context the client read: the write
	// supersedes exactly what it covers. Without one, the write supersedes
	// what the read at r found.
	hasCtx bool
	ctx    dvv.Context
	// r is how many replicas the coordinator reads, itself included, before
	// it applies the write; w is how many must acknowledge.
	r, w      int
	requestID string
	// typeOp is opUpdate's operation.
	typeOp api.Op
}

// blind reports whether the write's outcome does not depend on the key's
// current value: a plain put without a context, which supersedes whatever
// it finds.
func (q *writeReq) blind() bool {
	return q.op == opPut && q.cond == api.Always && !q.returnOld && !q.keepTTL && !q.hasCtx
}

// decides reports whether the write decides on the key's current value
// (NX, XX, GET, KEEPTTL, DEL, EXPIRE) without a client context saying what
// the client saw: such a write is refused when fewer than R replicas can be
// read. An update of a counter, set or map does not: it merges with
// whatever it did not read.
func (q *writeReq) decides() bool { return !q.blind() && !q.hasCtx && q.op != opUpdate }

// writeResult is what a write did.
type writeResult struct {
	// applied is false when a condition did not hold (NX, XX, EXPIRE's
	// options, a key with nothing to delete): nothing was written.
	applied bool
	// old is the live value the write found, for the operations that report
	// it (SET ... GET, DEL, GETDEL).
	oldFound bool
	old      api.Entry
	// ctx is the key's causal context after the write, encoded.
	ctx []byte
	// n is what an update did (api.OpResult.N).
	n int64
	// update is an applied update as the other replicas apply it, sent to
	// them instead of the record it made (update.go).
	update *nodepb.TypeUpdate
}

// newWrite resolves a client write's levels and context against the key's
// placement.
func (c *Coordinator) newWrite(pl placement, op writeOp, ns string, key []byte, wo api.WriteOptions) (*writeReq, error) {
	q := &writeReq{ns: ns, key: key, op: op, requestID: wo.RequestID}
	if len(q.requestID) > api.MaxRequestIDBytes {
		return nil, fmt.Errorf("%w: a request id of %d bytes; the limit is %d", api.ErrInvalidArgument, len(q.requestID), api.MaxRequestIDBytes)
	}
	var err error
	if q.w, err = required(wo.W, c.cfg.DefaultW, pl.n); err != nil {
		return nil, err
	}
	if q.r, err = required(wo.R, c.cfg.DefaultR, pl.n); err != nil {
		return nil, err
	}
	if wo.HasContext {
		q.hasCtx = true
		if q.ctx, err = dvv.ParseContext(wo.Context); err != nil {
			return nil, fmt.Errorf("%w: the context is not one Pando gave out; pass back the one SIBLINGS or X-Pando-Context returned, or \"\" for none", api.ErrInvalidArgument)
		}
	}
	return q, nil
}

// write sends a write to a coordinating replica: this node if it is one,
// else the replicas that are up, in preference order, until one answers.
func (c *Coordinator) write(ctx context.Context, pl placement, q *writeReq) (writeResult, error) {
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	cands := c.candidates(pl.pref)
	if up := len(cands) + len(c.upPending(pl)); len(cands) == 0 || up+len(c.upFallbacks(pl)) < pl.blockFor(q.w) {
		// As Cassandra does: refuse before writing when the level cannot be
		// met by the replicas (and, for a sloppy quorum, fallbacks) known to
		// be up.
		return writeResult{}, fmt.Errorf("%w: %d of %d required replicas are up; nothing was written", api.ErrUnavailable, up, pl.blockFor(q.w))
	}
	if q.decides() && len(cands) < q.r {
		return writeResult{}, unavailableRead(len(cands), q.r)
	}
	if q.requestID == "" && cands[0] != c.self && q.op == opUpdate && q.typeOp.Kind == api.OpIncrement {
		// The increment may reach a replica and lose its answer, then be
		// sent to the next one: with an id it counts once.
		q.requestID = newRequestID()
	}
	c.writes.Inc()
	var lastErr, refused error
	for i, r := range cands {
		if r == c.self {
			if refused = diskErr(c.store.WriteRefusal()); refused == nil {
				return c.coordinate(ctx, pl, q)
			}
			if sabotage.Is("full-drops") {
				return writeResult{applied: true}, nil // acknowledged, written nowhere
			}
			// This node's disk takes no writes: another replica
			// coordinates, and this one is sent the record like any
			// replica (it refuses it, and a hint is kept for it).
			continue
		}
		if i == 0 {
			c.forwarded.Inc()
		}
		resp, err := c.cfg.Transport.Peer(r).Write(ctx, q.toWire())
		if err == nil {
			return resultFromWire(resp), nil
		}
		if !errors.Is(err, transport.ErrUnreachable) {
			return writeResult{}, err
		}
		lastErr = err
		c.log.Debug("coordinator unreachable, trying the next replica", "node", r, "err", err)
	}
	if refused != nil {
		return writeResult{}, refused
	}
	return writeResult{}, fmt.Errorf("%w: 0 of %d required replicas answered (%d of %d replicas up); the write may still have landed on some replicas%s",
		api.ErrUnavailable, q.w, len(cands), len(pl.pref), detail(lastErr))
}

// newRequestID returns a fresh request id for a write the client gave none.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "~" + base64.RawURLEncoding.EncodeToString(b[:])
}

func detail(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

func unavailableRead(got, r int) error {
	return fmt.Errorf("%w: %d of %d required replicas answered the read this write depends on; nothing was written", api.ErrUnavailable, got, r)
}

// coordinate applies a write on this node, which must be a replica of the
// key, and replicates the result. It serves both local requests and Write
// calls from other nodes.
//
// The write builds on what a read at R finds, not on this replica's copy
// alone, which may have missed writes (ADR 0005). A write whose outcome
// depends on the key (NX, XX, GET, KEEPTTL, DEL, EXPIRE) reads the other
// replicas first and fails when fewer than R answer; a write with the
// client's context reads them too (for the sibling cap and the context it
// returns) but proceeds on what answered. A blind write builds on this
// replica's copy and reads through its replication instead: it waits for
// max(R, W) replicas, each of which reports whether it held writes the new
// record does not cover; if one did, the coordinator reads what those
// replicas now hold and writes again over the merge (settle).
func (c *Coordinator) coordinate(ctx context.Context, pl placement, q *writeReq) (writeResult, error) {
	if !slices.Contains(pl.pref, c.self) {
		return writeResult{}, fmt.Errorf("%w: %s is not among %v", errNotReplica, c.self, pl.pref)
	}
	if sabotage.Is("ack-unwritten") && sabotage.Nth(20) {
		return writeResult{applied: true}, nil
	}
	// Reads and replication may outlive this request: they must not share
	// the caller's key, or an update's members and values, which a front
	// end reuses for its next command.
	q.key = bytes.Clone(q.key)
	if q.op == opUpdate {
		q.typeOp = cloneOp(q.typeOp)
		return c.coordinateUpdate(ctx, pl, q)
	}
	var seen dvv.Set
	if !q.blind() {
		var answered int
		seen, answered = c.readOthers(ctx, pl, q.key, q.r)
		if answered < q.r && q.decides() {
			return writeResult{}, unavailableRead(answered, q.r)
		}
	}
	var res writeResult
	recs, wait, err := c.store.UpdateManyAsync(pl.store, [][]byte{q.key}, func(_ int, cur replica.Record, _ bool) (replica.Record, bool, error) {
		return c.applyWrite(pl, q, replica.Record{Set: dvv.Sync(cur.Set, seen)}, &res)
	})
	if err != nil {
		return writeResult{}, diskErr(err)
	}
	if !res.applied {
		return res, wait()
	}
	if sabotage.Is("ack-early") {
		go func() { _ = wait() }()
		return res, nil
	}
	return res, c.settle(ctx, pl, q, recs[0], wait)
}

// maxWriteRounds bounds how often a blind write is written again because
// replicas held writes it had not seen (a key written concurrently through
// several nodes can keep producing such writes).
const maxWriteRounds = 3

// settle replicates rec, which this node just wrote for q (durable once
// wait returns), and returns once W replicas hold it. A blind write waits
// for max(R, W) replicas where that many are up; if one of them held
// history rec does not cover, the write reads what those replicas now hold
// and is written again over the merge, so that it supersedes every write a
// read at R would return. After maxWriteRounds it is left as it is: the
// writes it did not see stay as siblings.
func (c *Coordinator) settle(ctx context.Context, pl placement, q *writeReq, rec replica.Record, wait func() error) error {
	need := pl.blockFor(q.w)
	want := need
	if q.blind() {
		want = pl.blockFor(max(q.r, q.w))
	}
	var localErr atomic.Pointer[error] // this replica's own write failed
	for round := 1; ; round++ {
		local := wait // this round's: the next round replaces wait while this one may still run
		acks, stale := c.replicate(ctx, pl, q.key, rec, want, func() error {
			err := local()
			if err != nil {
				localErr.Store(&err)
			}
			return err
		})
		if acks < need {
			if p := localErr.Load(); p != nil && isDiskErr(*p) {
				return diskErr(*p) // why this write failed, rather than a count
			}
			return unavailableWrite(acks, need)
		}
		if !q.blind() || len(stale) == 0 || round == maxWriteRounds || sabotage.Is("local-writes") {
			return nil
		}
		c.rewrites.Inc()
		seen, _ := merge(gather(stale, len(stale), func(node string) readResult { return c.readRemote(ctx, node, pl.store, q.key) }).got)
		var res writeResult
		recs, next, err := c.store.UpdateManyAsync(pl.store, [][]byte{q.key}, func(_ int, cur replica.Record, _ bool) (replica.Record, bool, error) {
			return c.applyWrite(pl, q, replica.Record{Set: dvv.Sync(cur.Set, seen.Set)}, &res)
		})
		if err != nil {
			return diskErr(err)
		}
		rec, wait = recs[0], next
	}
}

// readOthers reads key from the replicas other than this one that are up,
// r-1 of them, asking the next each time one fails. It returns the merge of
// their records and how many replicas answered, this one included: a
// coordinator reads its own copy under the key's lock.
func (c *Coordinator) readOthers(ctx context.Context, pl placement, key []byte, r int) (dvv.Set, int) {
	if r <= 1 {
		return dvv.Set{}, 1
	}
	if sabotage.Is("local-writes") {
		return dvv.Set{}, r // as if the others had nothing
	}
	var others []string
	for _, node := range c.candidates(pl.pref) {
		if node != c.self {
			others = append(others, node)
		}
	}
	g := gather(others, r-1, func(node string) readResult { return c.readRemote(ctx, node, pl.store, key) })
	merged, _ := merge(g.got)
	return merged.Set, 1 + g.ok
}

// diskErr turns the store's refusal of a write for its disk into the
// client's error; any other error is returned as it is.
func diskErr(err error) error {
	switch {
	case errors.Is(err, storage.ErrNoSpace):
		return fmt.Errorf("%w: %v", api.ErrNoSpace, err)
	case errors.Is(err, storage.ErrDiskFailed):
		return fmt.Errorf("%w: %v", api.ErrDiskFailed, err)
	}
	return err
}

func isDiskErr(err error) bool {
	return errors.Is(err, storage.ErrNoSpace) || errors.Is(err, storage.ErrDiskFailed)
}

func unavailableWrite(acks, w int) error {
	return fmt.Errorf("%w: %d of %d required replicas acknowledged; the write may still have landed on some replicas", api.ErrUnavailable, acks, w)
}

// applyWrite computes a key's next record for one write from cur, the merge
// of this replica's copy and what the read at R found. It runs under the
// key's lock on the coordinating replica.
func (c *Coordinator) applyWrite(pl placement, q *writeReq, cur replica.Record, res *writeResult) (replica.Record, bool, error) {
	now := c.store.Now()
	// The clock as it is, not raised past the stamps the write saw (as a
	// hybrid logical clock would): a stamp orders only siblings, writes
	// that did not see each other, and after a clock that ran ahead is set
	// right, raised stamps would keep ordering them by how many writes each
	// side saw instead of by when they were made (ADR 0005).
	stamp := c.store.NowMicro()
	if q.op == opUpdate {
		return c.applyUpdate(pl, q, cur, stamp, res)
	}
	live := cur.Live(now)
	chosen, present := replica.Pick(live)
	res.ctx = cur.Set.Context().Encode()
	ctx := cur.Set.Context()
	if q.hasCtx {
		ctx = q.ctx
	}
	if present && (q.returnOld || q.op == opDelete) {
		res.oldFound, res.old = true, api.Entry{Value: chosen.Value, ExpireAt: chosen.ExpireAt}
	}
	var sib []byte
	switch q.op {
	case opPut:
		if (q.cond == api.IfAbsent && present) || (q.cond == api.IfPresent && !present) {
			return cur, false, nil
		}
		exp := q.expireAt
		if q.keepTTL && present {
			exp = chosen.ExpireAt
		}
		sib = replica.EncodeSibling(false, exp, stamp, q.value)
	case opDelete:
		if !present && !q.hasCtx {
			return cur, false, nil // nothing a read at R sees to delete
		}
		sib = replica.EncodeSibling(true, 0, stamp, nil)
	case opExpire:
		if !present {
			return cur, false, nil
		}
		if len(live) > 1 {
			return cur, false, fmt.Errorf("%w: %d values; read them with SIBLINGS and write one back with their context before changing the expiry", api.ErrSiblings, len(live))
		}
		if !expiryCondHolds(q.expireCond, chosen.ExpireAt, q.expireAt) {
			return cur, false, nil
		}
		if q.expireAt != 0 && q.expireAt <= now {
			sib = replica.EncodeSibling(true, 0, stamp, nil)
		} else {
			sib = replica.EncodeSibling(false, q.expireAt, stamp, chosen.Value)
		}
	default:
		return cur, false, fmt.Errorf("%w: unknown write op %d", api.ErrInvalidArgument, q.op)
	}
	next := dvv.Update(ctx, cur.Set, c.cfg.Actor, sib)
	if n := next.Len(); n > pl.ns.MaxSiblings && n > cur.Set.Len() {
		return cur, false, fmt.Errorf("%w: the key would hold %d concurrent values, namespace %s allows %d; read them with SIBLINGS and write back with their context to resolve",
			api.ErrTooManySiblings, n, pl.ns.Name, pl.ns.MaxSiblings)
	}
	res.applied = true
	res.ctx = next.Context().Encode()
	return replica.Record{Set: next}, true, nil
}

func expiryCondHolds(cond api.ExpireCond, cur, next int64) bool {
	// No expiry is later than every expiry.
	later := func(a, b int64) bool { return (a == 0 && b != 0) || (a != 0 && b != 0 && a > b) }
	switch cond {
	case api.ExpireIfNone:
		return cur == 0
	case api.ExpireIfSome:
		return cur != 0
	case api.ExpireIfGreater:
		return later(next, cur)
	case api.ExpireIfLess:
		return later(cur, next)
	}
	return true
}

// replicate sends a record this node just wrote to the key's other
// replicas, and returns once want replicas hold it (this one counts once
// local waits for its fsync), or once every answer is in. It returns how
// many hold it, and which of those that answered held history the record
// does not cover. For a namespace with a sloppy quorum, each replica that
// does not take the record is replaced by the next fallback that is up,
// which keeps it as a hint for that replica and counts toward want. Calls
// still in flight finish in the background. key must not be reused by the
// caller.
func (c *Coordinator) replicate(ctx context.Context, pl placement, key []byte, rec replica.Record, want int, local func() error) (acks int, uncovered []string) {
	return c.await(ctx, c.sendOut(pl, key, rec, nil), want, local)
}

// replication is a record on its way to a key's other replicas.
type replication struct {
	// req carries the record (and names the key), for hints.
	req       *nodepb.ReplicateRequest
	others    int
	fallbacks []string
	results   chan repAck
}

// sendOut queues rec, which this node just wrote for key, for the key's
// other replicas; await collects their answers. A replica that gossip
// believes down gets a hint. When up is not nil, the replicas are sent the
// update that made rec, not rec: one whose copy is the update's base
// applies it and holds rec; any other is sent rec (flushReplication).
// Hints always keep rec.
func (c *Coordinator) sendOut(pl placement, key []byte, rec replica.Record, up *nodepb.TypeUpdate) *replication {
	others := make([]string, 0, len(pl.pref)+len(pl.pending))
	for _, r := range pl.pref {
		if r != c.self {
			others = append(others, r)
		}
	}
	others = append(others, pl.pending...) // never self: this node replicates the key now
	r := &replication{
		req:    &nodepb.ReplicateRequest{Namespace: pl.store, Key: key, Record: replica.AppendRecord(nil, &rec), SentMicros: c.store.NowMicro()},
		others: len(others),
	}
	if len(others) == 0 {
		return r
	}
	r.fallbacks = c.upFallbacks(pl)
	r.results = make(chan repAck, len(others)+len(r.fallbacks)+1)
	it := repItem{req: r.req, done: r.results}
	if up != nil {
		it = repItem{req: &nodepb.ReplicateRequest{Namespace: pl.store, Key: key, Update: up, SentMicros: r.req.SentMicros}, record: r.req.Record, done: r.results}
	}
	for _, node := range others {
		if up != nil {
			c.updatesSent.Inc()
		}
		c.sendRecord(node, it)
	}
	return r
}

// await returns once want replicas hold r's record, this one counting once
// local returns, or once every answer is in: how many hold it, and which
// of those that answered held history the record does not cover.
func (c *Coordinator) await(ctx context.Context, r *replication, want int, local func() error) (acks int, uncovered []string) {
	if r.others == 0 { // a namespace with one replica: no peer to wait for
		if local() != nil {
			return 0, nil
		}
		return 1, nil
	}
	fallbacks := r.fallbacks
	go func() { r.results <- repAck{node: c.self, err: local()} }()
	for pending := r.others + 1; pending > 0 && acks < want; pending-- {
		select {
		case a := <-r.results:
			switch {
			case a.err == nil:
				acks++
				if a.uncovered {
					uncovered = append(uncovered, a.node)
				}
			case a.node != c.self && len(fallbacks) > 0:
				missed := cmp.Or(a.hintFor, a.node)
				hint := &nodepb.ReplicateRequest{Namespace: r.req.Namespace, Key: r.req.Key, Record: r.req.Record, HintFor: missed}
				c.sendRecord(fallbacks[0], repItem{req: hint, done: r.results})
				fallbacks = fallbacks[1:]
				pending++
			}
		case <-ctx.Done():
			return acks, uncovered
		}
	}
	return acks, uncovered
}

// Replicate serves another node's replication of a record: merge and fsync.
func (h Handler) Replicate(ctx context.Context, req *nodepb.ReplicateRequest) (*nodepb.ReplicateResponse, error) {
	c := h.c
	if err := c.stale(req); err != nil {
		return nil, err
	}
	var rec replica.Record
	if err := replica.DecodeRecord(req.Record, &rec); err != nil {
		return nil, err
	}
	if _, err := c.store.Merge(req.Namespace, req.Key, rec.Set); err != nil {
		return nil, err
	}
	return &nodepb.ReplicateResponse{}, nil
}

// Write serves a write forwarded by another node to this replica.
func (h Handler) Write(ctx context.Context, req *nodepb.WriteRequest) (*nodepb.WriteResponse, error) {
	c := h.c
	q, err := writeFromWire(req)
	if err != nil {
		return nil, err
	}
	_, pl, err := c.placeSynced(ctx, q.ns, q.key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	res, err := c.coordinate(ctx, pl, q)
	if err != nil {
		return nil, err
	}
	return res.toWire(), nil
}

// putManyLocal writes the keys this node coordinates as one synced batch,
// then settles each (see coordinate: these are blind writes). It returns
// the first error; some keys may be written.
func (c *Coordinator) putManyLocal(ctx context.Context, ns string, pls []placement, kvs []api.KeyValue, r, w int) error {
	keys := make([][]byte, len(kvs))
	reqs := make([]*writeReq, len(kvs))
	for i, kv := range kvs {
		keys[i] = bytes.Clone(kv.Key)
		reqs[i] = &writeReq{ns: ns, key: keys[i], op: opPut, value: kv.Value, r: r, w: w}
	}
	recs, wait, err := c.store.UpdateManyAsync(pls[0].store, keys, func(i int, cur replica.Record, _ bool) (replica.Record, bool, error) {
		var res writeResult
		return c.applyWrite(pls[i], reqs[i], cur, &res)
	})
	if err != nil {
		return diskErr(err)
	}
	if allLocalOnly(pls, c.self) {
		return wait()
	}
	local := sync.OnceValue(wait)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for i := range kvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.settle(ctx, pls[i], reqs[i], recs[i], local); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func allLocalOnly(pls []placement, self string) bool {
	for _, pl := range pls {
		if len(pl.pref) != 1 || pl.pref[0] != self {
			return false
		}
	}
	return true
}
