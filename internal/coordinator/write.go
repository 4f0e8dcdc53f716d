package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// write sends a write to a coordinating replica: this node if it is one,
// else the replicas that are up, in preference order, until one answers.
func (c *Coordinator) write(ctx context.Context, req *nodepb.WriteRequest, wl api.WriteOptions) (*nodepb.WriteResponse, error) {
	_, pl, err := c.placeSynced(ctx, req.Namespace, req.Key)
	if err != nil {
		return nil, err
	}
	w, err := required(wl.W, c.cfg.DefaultW, pl.n)
	if err != nil {
		return nil, err
	}
	req.W = uint32(w)
	req.HasContext, req.Context, req.RequestId = wl.HasContext, wl.Context, wl.RequestID
	if wl.HasContext {
		if _, err := dvv.DecodeContext(wl.Context); err != nil {
			return nil, fmt.Errorf("%w: the context is not one Pando gave out: %v", api.ErrInvalidArgument, err)
		}
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	cands := c.candidates(pl.pref)
	if len(cands) < w {
		// As Cassandra does: refuse before writing when the level cannot be
		// met by the replicas known to be up.
		return nil, fmt.Errorf("%w: %d of %d required replicas are up; nothing was written", api.ErrUnavailable, len(cands), w)
	}
	var lastErr error
	for _, r := range cands {
		if r == c.self {
			return c.coordinate(ctx, req)
		}
		resp, err := c.cfg.Transport.Peer(r).Write(ctx, req)
		if err == nil || !errors.Is(err, transport.ErrUnreachable) {
			return resp, err
		}
		lastErr = err
		c.log.Debug("coordinator unreachable, trying the next replica", "node", r, "err", err)
	}
	return nil, fmt.Errorf("%w: 0 of %d required replicas answered (%d of %d replicas up); the write may still have landed on some replicas%s",
		api.ErrUnavailable, w, len(cands), len(pl.pref), detail(lastErr))
}

func detail(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// coordinate applies a write on this node, which must be a replica of the
// key, and replicates the result. It serves both local requests and Write
// calls from other nodes.
func (c *Coordinator) coordinate(ctx context.Context, req *nodepb.WriteRequest) (*nodepb.WriteResponse, error) {
	_, pl, err := c.placeSynced(ctx, req.Namespace, req.Key)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(pl.pref, c.self) {
		return nil, fmt.Errorf("%w: %s is not among %v", errNotReplica, c.self, pl.pref)
	}
	var resp nodepb.WriteResponse
	if sabotage == "ack-unwritten" && sabotaged.Add(1)%20 == 0 {
		return &nodepb.WriteResponse{Applied: true}, nil
	}
	recs, wait, err := c.store.UpdateManyAsync(req.Namespace, [][]byte{req.Key}, func(_ int, cur replica.Record, found bool) (replica.Record, bool, error) {
		return c.applyWrite(pl, req, cur, &resp)
	})
	if err != nil {
		return nil, err
	}
	rec := recs[0]
	resp.Context = rec.Set.Context().Encode()
	if !resp.Applied {
		return &resp, wait()
	}
	if sabotage == "ack-early" {
		go func() { _ = wait() }()
		return &resp, nil
	}
	// The local fsync and the other replicas' run at the same time.
	if acks := c.replicate(ctx, pl, req.Namespace, req.Key, rec, int(req.W), wait); acks < int(req.W) {
		return nil, unavailableWrite(acks, int(req.W))
	}
	return &resp, nil
}

func unavailableWrite(acks, w int) error {
	return fmt.Errorf("%w: %d of %d required replicas acknowledged; the write may still have landed on some replicas", api.ErrUnavailable, acks, w)
}

// applyWrite computes a key's next record for one write. It runs under the
// key's lock on the coordinating replica.
func (c *Coordinator) applyWrite(pl placement, req *nodepb.WriteRequest, cur replica.Record, resp *nodepb.WriteResponse) (replica.Record, bool, error) {
	now := c.store.Now()
	live := cur.Live(now)
	chosen, present := replica.Pick(live)
	ctx := cur.Set.Context()
	if req.HasContext {
		var err error
		if ctx, err = dvv.DecodeContext(req.Context); err != nil {
			return cur, false, fmt.Errorf("%w: bad context: %v", api.ErrInvalidArgument, err)
		}
	}
	var sib []byte
	switch req.Op {
	case nodepb.WriteOp_WRITE_OP_PUT:
		if req.ReturnOld && present {
			resp.OldFound, resp.OldValue, resp.OldExpireAt = true, chosen.Value, chosen.ExpireAt
		}
		if (req.Cond == nodepb.Cond_COND_IF_ABSENT && present) || (req.Cond == nodepb.Cond_COND_IF_PRESENT && !present) {
			return cur, false, nil
		}
		exp := req.ExpireAt
		if req.KeepTtl && present {
			exp = chosen.ExpireAt
		}
		sib = replica.EncodeSibling(false, exp, req.Value)
	case nodepb.WriteOp_WRITE_OP_DELETE:
		if present {
			resp.OldFound, resp.OldValue, resp.OldExpireAt = true, chosen.Value, chosen.ExpireAt
		}
		if !present && !req.HasContext {
			return cur, false, nil // nothing this replica can see to delete
		}
		sib = replica.EncodeSibling(true, 0, nil)
	case nodepb.WriteOp_WRITE_OP_EXPIRE:
		if !present {
			return cur, false, nil
		}
		if len(live) > 1 {
			return cur, false, fmt.Errorf("%w: %d values; read them with SIBLINGS and write one back with their context before changing the expiry", api.ErrSiblings, len(live))
		}
		if !expiryCondHolds(req.ExpireCond, chosen.ExpireAt, req.ExpireAt) {
			return cur, false, nil
		}
		if req.ExpireAt != 0 && req.ExpireAt <= now {
			sib = replica.EncodeSibling(true, 0, nil)
		} else {
			sib = replica.EncodeSibling(false, req.ExpireAt, chosen.Value)
		}
	default:
		return cur, false, fmt.Errorf("%w: unknown write op %v", api.ErrInvalidArgument, req.Op)
	}
	next := dvv.Update(ctx, cur.Set, c.cfg.Actor, sib)
	if n := next.Len(); n > pl.ns.MaxSiblings && n > cur.Set.Len() {
		return cur, false, fmt.Errorf("%w: the key would hold %d concurrent values, namespace %s allows %d; read them with SIBLINGS and write back with their context to resolve",
			api.ErrTooManySiblings, n, pl.ns.Name, pl.ns.MaxSiblings)
	}
	resp.Applied = true
	return replica.Record{Set: next}, true, nil
}

func expiryCondHolds(cond nodepb.ExpireCond, cur, next int64) bool {
	// No expiry is later than every expiry.
	later := func(a, b int64) bool { return (a == 0 && b != 0) || (a != 0 && b != 0 && a > b) }
	switch cond {
	case nodepb.ExpireCond_EXPIRE_IF_NONE:
		return cur == 0
	case nodepb.ExpireCond_EXPIRE_IF_SOME:
		return cur != 0
	case nodepb.ExpireCond_EXPIRE_IF_GREATER:
		return later(next, cur)
	case nodepb.ExpireCond_EXPIRE_IF_LESS:
		return later(cur, next)
	}
	return true
}

// replicate sends a record this node just wrote to the key's other replicas
// that are up, and returns once w replicas hold it (this one counts once
// local waits for its fsync), or once that can no longer happen. Calls still
// in flight finish in the background.
func (c *Coordinator) replicate(ctx context.Context, pl placement, ns string, key []byte, rec replica.Record, w int, local func() error) int {
	var others []string
	for _, r := range pl.pref {
		if r != c.self && c.up(r) {
			others = append(others, r)
		}
	}
	if len(others) == 0 {
		if local() != nil {
			return 0
		}
		return 1
	}
	acks := 0
	// The calls may outlive this request: they must not share the caller's
	// key, which a front end reuses for its next command.
	req := &nodepb.ReplicateRequest{Namespace: ns, Key: bytes.Clone(key), Record: replica.AppendRecord(nil, &rec)}
	results := make(chan error, len(others)+1)
	for _, r := range others {
		c.replicatorFor(r).send(req, results)
	}
	go func() { results <- local() }()
	// Wait until w hold it, or, when that cannot happen, for every answer,
	// so the count reported is the true one.
	for pending := len(others) + 1; pending > 0 && acks < w; pending-- {
		select {
		case err := <-results:
			if err == nil {
				acks++
			}
		case <-ctx.Done():
			return acks
		}
	}
	return acks
}

// Replicate serves another node's replication of a record: merge and fsync.
func (h Handler) Replicate(ctx context.Context, req *nodepb.ReplicateRequest) (*nodepb.ReplicateResponse, error) {
	c := h.c
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
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	return c.coordinate(ctx, req)
}

// putManyLocal writes the keys this node coordinates as one synced batch,
// then replicates each. It returns the first error; some keys may be
// written.
func (c *Coordinator) putManyLocal(ctx context.Context, ns string, pls []placement, kvs []api.KeyValue, w int) error {
	keys := make([][]byte, len(kvs))
	for i, kv := range kvs {
		keys[i] = kv.Key
	}
	resps := make([]nodepb.WriteResponse, len(kvs))
	recs, wait, err := c.store.UpdateManyAsync(ns, keys, func(i int, cur replica.Record, _ bool) (replica.Record, bool, error) {
		req := &nodepb.WriteRequest{Op: nodepb.WriteOp_WRITE_OP_PUT, Value: kvs[i].Value}
		return c.applyWrite(pls[i], req, cur, &resps[i])
	})
	if err != nil {
		return err
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
			if acks := c.replicate(ctx, pls[i], ns, kvs[i].Key, recs[i], w, local); acks < w {
				mu.Lock()
				if firstErr == nil {
					firstErr = unavailableWrite(acks, w)
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
