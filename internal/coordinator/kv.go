package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
	"github.com/pandodb/pando/ring"
)

// Put implements api.KV.
func (c *Coordinator) Put(ctx context.Context, ns string, key, value []byte, o api.PutOptions) (api.PutResult, error) {
	res, err := c.do(ctx, opPut, ns, key, o.Write, func(q *writeReq) {
		q.value, q.expireAt, q.keepTTL, q.returnOld, q.cond = value, o.ExpireAt, o.KeepTTL, o.ReturnOld, o.Cond
	})
	if err != nil {
		return api.PutResult{}, err
	}
	return api.PutResult{Applied: res.applied, OldFound: res.oldFound, Old: res.old}, nil
}

// Delete implements api.KV.
func (c *Coordinator) Delete(ctx context.Context, ns string, key []byte, o api.WriteOptions) (api.Entry, bool, error) {
	res, err := c.do(ctx, opDelete, ns, key, o, nil)
	if err != nil {
		return api.Entry{}, false, err
	}
	return res.old, res.oldFound, nil
}

// SetExpiry implements api.KV.
func (c *Coordinator) SetExpiry(ctx context.Context, ns string, key []byte, expireAt int64, cond api.ExpireCond, o api.WriteOptions) (bool, error) {
	res, err := c.do(ctx, opExpire, ns, key, o, func(q *writeReq) { q.expireAt, q.expireCond = expireAt, cond })
	if err != nil {
		return false, err
	}
	return res.applied, nil
}

// do places a key once and runs one write of it, shaped by set.
func (c *Coordinator) do(ctx context.Context, op writeOp, ns string, key []byte, o api.WriteOptions, set func(*writeReq)) (writeResult, error) {
	_, pl, err := c.placeSynced(ctx, ns, key)
	if err != nil {
		return writeResult{}, err
	}
	if typed(pl.ns) {
		switch op {
		case opDelete: // DEL of a counter, set or map takes away what it sees
			op, set = opUpdate, func(q *writeReq) { q.typeOp = api.Op{Kind: api.OpClear} }
		case opUpdate:
		default:
			return writeResult{}, wrongType(pl.ns)
		}
		if o.HasContext {
			return writeResult{}, fmt.Errorf("%w: counters, sets and maps merge by themselves and take no causal context", api.ErrInvalidArgument)
		}
	} else if op == opUpdate {
		return writeResult{}, wrongType(pl.ns)
	}
	if pl.ns.Model == metadata.Strong {
		if o.HasContext {
			return writeResult{}, fmt.Errorf("%w: causal contexts belong to eventual namespaces; %s is strong, where every write is ordered", api.ErrInvalidArgument, ns)
		}
		q := &writeReq{ns: ns, key: key, op: op}
		if set != nil {
			set(q)
		}
		return c.strongWrite(ctx, pl, q)
	}
	q, err := c.newWrite(pl, op, ns, key, o)
	if err != nil {
		return writeResult{}, err
	}
	if set != nil {
		set(q)
	}
	if op == opUpdate {
		if err := checkOp(pl.ns, q.typeOp); err != nil {
			return writeResult{}, err
		}
	}
	return c.write(ctx, pl, q)
}

// PutMany implements api.KV. Keys this node coordinates are written in one
// synced batch; the others are forwarded to their coordinators in parallel.
func (c *Coordinator) PutMany(ctx context.Context, ns string, kvs []api.KeyValue, o api.WriteOptions) error {
	if o.HasContext {
		return fmt.Errorf("%w: a multi-key write takes no context", api.ErrInvalidArgument)
	}
	st, first, err := c.placeSynced(ctx, ns, nil)
	if err != nil {
		return err
	}
	if first.ns.Model == metadata.Strong {
		return c.strongPutMany(ctx, st, ns, kvs)
	}
	if typed(first.ns) {
		return wrongType(first.ns)
	}
	var local []api.KeyValue
	var localPl []placement
	var remote []api.KeyValue
	var remotePl []placement
	r, w := 0, 0
	for _, kv := range kvs {
		pl, err := c.place(st, ns, kv.Key)
		if err != nil {
			return err
		}
		q, err := c.newWrite(pl, opPut, ns, kv.Key, o)
		if err != nil {
			return err
		}
		r, w = q.r, q.w
		if cands := c.candidates(pl.pref); len(cands) > 0 && cands[0] == c.self {
			local = append(local, kv)
			localPl = append(localPl, pl)
		} else {
			remote = append(remote, kv)
			remotePl = append(remotePl, pl)
		}
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	var mu sync.Mutex
	var firstErr error
	note := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil && err != nil {
			firstErr = err
		}
	}
	var wg sync.WaitGroup
	for i, kv := range remote {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := &writeReq{ns: ns, key: kv.Key, op: opPut, value: kv.Value, r: r, w: w}
			_, err := c.write(ctx, remotePl[i], q)
			note(err)
		}()
	}
	if len(local) > 0 {
		note(c.putManyLocal(ctx, ns, localPl, local, r, w))
	}
	wg.Wait()
	return firstErr
}

// scanPartition scans one step of partition p on one replica: this node if
// it is one, else the replicas that are up in preference order, until one
// answers.
func (c *Coordinator) scanPartition(ctx context.Context, r *ring.Ring, p, n int, req *nodepb.ScanRequest) (*nodepb.ScanResponse, error) {
	cands := c.candidates(r.Preference(p, n))
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: no replica of partition %d is up", api.ErrUnavailable, p)
	}
	var lastErr error
	for _, node := range cands {
		var resp *nodepb.ScanResponse
		var err error
		if node == c.self {
			resp, err = Handler{c}.Scan(ctx, req)
		} else {
			resp, err = c.cfg.Transport.Peer(node).Scan(ctx, req)
		}
		if err == nil || !errors.Is(err, transport.ErrUnreachable) {
			return resp, err
		}
		lastErr = err
	}
	return nil, unavailableScan(p, lastErr)
}

// Scan serves another node's scan of this replica: one step of a range.
func (h Handler) Scan(ctx context.Context, req *nodepb.ScanRequest) (*nodepb.ScanResponse, error) {
	res, err := h.c.store.ScanRange(req.Namespace, req.From, req.To, req.ToEnd, int(req.Count), req.CountOnly)
	if err != nil {
		return nil, err
	}
	return &nodepb.ScanResponse{Keys: res.Keys, Next: res.Next, Done: res.Done, Count: res.Count}, nil
}

// ScanNS implements api.KV's Scan: the cursor is a position in hash space,
// walked partition by partition, each read from one replica.
func (c *Coordinator) Scan(ctx context.Context, ns string, cursor uint64, count int, match func([]byte) bool) (api.ScanPage, error) {
	st, _, err := c.placeSynced(ctx, ns, nil)
	if err != nil {
		return api.ScanPage{}, err
	}
	if count < 1 {
		count = 10
	}
	nsDef, _ := st.Namespace(ns)
	if nsDef.Model == metadata.Strong {
		return api.ScanPage{}, errStrongScan(ns)
	}
	n := st.Replicas(nsDef)
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	var page api.ScanPage
	cur := cursor
	// Walk partitions until count keys are found or hash space ends: each
	// partition's scan examines at most count records, so a call's work is
	// bounded by count per partition visited.
	for {
		p := st.Ring.Partition(cur)
		_, hi, last := st.Ring.Range(p)
		resp, err := c.scanPartition(ctx, st.Ring, p, n, &nodepb.ScanRequest{Namespace: nsDef.StorageName(), From: cur, To: hi, ToEnd: last, Count: uint32(count - len(page.Keys))})
		if err != nil {
			return api.ScanPage{}, err
		}
		for _, k := range resp.Keys {
			if match == nil || match(k) {
				page.Keys = append(page.Keys, k)
			}
		}
		if !resp.Done {
			cur = resp.Next
		} else {
			if last {
				return page, nil // Next 0: complete
			}
			cur = hi
		}
		if len(page.Keys) >= count {
			break
		}
	}
	page.Next = cur
	return page, nil
}

func unavailableScan(p int, err error) error {
	if errors.Is(err, transport.ErrUnreachable) {
		return fmt.Errorf("%w: partition %d: %v", api.ErrUnavailable, p, err)
	}
	return err
}

// Count implements api.KV: one replica of each partition counts its range.
func (c *Coordinator) Count(ctx context.Context, ns string) (int64, error) {
	st, _, err := c.placeSynced(ctx, ns, nil)
	if err != nil {
		return 0, err
	}
	nsDef, _ := st.Namespace(ns)
	if nsDef.Model == metadata.Strong {
		return 0, errStrongScan(ns)
	}
	n := st.Replicas(nsDef)
	ctx, cancel := context.WithTimeout(ctx, 4*c.cfg.Timeout)
	defer cancel()
	var total int64
	for p := range st.Ring.Partitions() {
		lo, hi, last := st.Ring.Range(p)
		for cur := lo; ; {
			resp, err := c.scanPartition(ctx, st.Ring, p, n, &nodepb.ScanRequest{Namespace: nsDef.StorageName(), From: cur, To: hi, ToEnd: last, Count: 100000, CountOnly: true})
			if err != nil {
				return 0, err
			}
			total += resp.Count
			if resp.Done {
				break
			}
			cur = resp.Next
		}
	}
	return total, nil
}
