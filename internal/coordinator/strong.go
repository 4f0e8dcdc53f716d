package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/strong"
)

// Strong is the node's members of strong partition groups (strong.Host).
type Strong interface {
	Do(ctx context.Context, group uint64, cmd strong.Command) (strong.Result, error)
	Get(ctx context.Context, group uint64, key []byte) (value []byte, version uint64, found bool, err error)
}

// maxDeleteAttempts bounds how often a DEL of a strong key retries its
// compare-and-delete when writers keep changing the key under it.
const maxDeleteAttempts = 16

// strongPartition is the way to pl's partition group: this node's member
// of it, or, on a node that holds none, the replicas' members through the
// node protocol. During a move, a node whose member is joining the group
// or leaving it forwards to one that stays.
func (c *Coordinator) strongPartition(pl placement) (strongTarget, error) {
	t := strongTarget{c: c, pl: pl, group: strong.GroupID(pl.ns.Generation, pl.partition), local: slices.Contains(pl.pref[:pl.staying], c.self)}
	if t.local && c.cfg.Strong == nil {
		return strongTarget{}, fmt.Errorf("%w: this node serves no strong namespaces", api.ErrUnavailable)
	}
	return t, nil
}

// strongErr puts a strong partition's answer in the front ends' terms.
func (c *Coordinator) strongErr(pl placement, err error) error {
	switch {
	case errors.Is(err, strong.ErrNoQuorum):
		up := len(c.candidates(pl.pref))
		return fmt.Errorf("%w: partition %d of strong namespace %s has no leader: %d of its %d replicas reachable, a majority (%d) is needed; nothing was done",
			api.ErrUnavailable, pl.partition, pl.ns.Name, up, len(pl.pref), len(pl.pref)/2+1)
	case errors.Is(err, strong.ErrNotMember):
		return fmt.Errorf("%w: partition %d of strong namespace %s is not open on its replicas yet (the namespace is new, or a replica is starting); nothing was done",
			api.ErrUnavailable, pl.partition, pl.ns.Name)
	case errors.Is(err, strong.ErrUnknown):
		return fmt.Errorf("%w: partition %d of strong namespace %s took the command but did not answer in time; it may have been applied: read before retrying",
			api.ErrOutcomeUnknown, pl.partition, pl.ns.Name)
	case errors.Is(err, strong.ErrNotInteger):
		return api.ErrNotInteger
	case errors.Is(err, strong.ErrOverflow):
		return api.ErrOverflow
	case errors.Is(err, strong.ErrBelowFloor):
		return api.ErrBelowFloor
	case isDiskErr(err):
		return diskErr(fmt.Errorf("partition %d of strong namespace %s: %w", pl.partition, pl.ns.Name, err))
	}
	return err
}

// strongRead reads a strong key linearizably.
func (c *Coordinator) strongRead(ctx context.Context, pl placement, key []byte) (api.Entry, bool, error) {
	t, err := c.strongPartition(pl)
	if err != nil {
		return api.Entry{}, false, err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	v, _, found, err := t.Get(ctx, key)
	if err != nil {
		return api.Entry{}, false, c.strongErr(pl, err)
	}
	return api.Entry{Value: v}, found, nil
}

// strongWrite runs a write on a strong key through its partition's log.
func (c *Coordinator) strongWrite(ctx context.Context, pl placement, q *writeReq) (writeResult, error) {
	if q.op == opExpire || q.expireAt != 0 || q.keepTTL {
		return writeResult{}, fmt.Errorf("%w: expiry in strong namespaces is not available in this version", api.ErrUnsupported)
	}
	t, err := c.strongPartition(pl)
	if err != nil {
		return writeResult{}, err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	if q.op == opDelete {
		return c.strongDelete(ctx, t, q.key)
	}
	cond := strong.Always
	switch q.cond {
	case api.IfAbsent:
		cond = strong.IfAbsent
	case api.IfPresent:
		cond = strong.IfPresent
	}
	r, err := t.Do(ctx, strong.Set{Key: q.key, Value: q.value, Cond: cond, Get: q.returnOld})
	if err != nil {
		return writeResult{}, c.strongErr(pl, err)
	}
	res := r.(strong.SetResult)
	return writeResult{applied: res.Written, oldFound: res.Existed, old: api.Entry{Value: res.Old}}, nil
}

// strongDelete deletes a key and returns the value it removed: a
// compare-and-delete on the version a linearizable read found, again if a
// writer came in between.
func (c *Coordinator) strongDelete(ctx context.Context, t strongTarget, key []byte) (writeResult, error) {
	pl := t.pl
	for range maxDeleteAttempts {
		v, version, found, err := t.Get(ctx, key)
		if err != nil {
			return writeResult{}, c.strongErr(pl, err)
		}
		if !found {
			return writeResult{}, nil
		}
		r, err := t.Do(ctx, strong.CAS{Key: key, ByVersion: true, ExpectedVersion: version, Delete: true})
		if err != nil {
			return writeResult{}, c.strongErr(pl, err)
		}
		if r.(strong.CASResult).Swapped {
			return writeResult{applied: true, oldFound: true, old: api.Entry{Value: v}}, nil
		}
	}
	return writeResult{}, fmt.Errorf("%w: the key changed under %d attempts to delete it; nothing was deleted", api.ErrUnavailable, maxDeleteAttempts)
}

// IncrBy adds delta to the integer under key in a strong namespace and
// returns the result; with floor, a decrement that would leave less than
// *floor is refused (api.ErrBelowFloor). Eventual namespaces refuse it:
// two concurrent increments there would lose one.
func (c *Coordinator) IncrBy(ctx context.Context, ns string, key []byte, delta int64, floor *int64, requestID string) (int64, error) {
	if len(requestID) > api.MaxRequestIDBytes {
		return 0, fmt.Errorf("%w: a request id of %d bytes; the limit is %d", api.ErrInvalidArgument, len(requestID), api.MaxRequestIDBytes)
	}
	_, pl, err := c.placeSynced(ctx, ns, key)
	if err != nil {
		return 0, err
	}
	if pl.ns.Model != metadata.Strong {
		return 0, fmt.Errorf("%w: namespace %s holds plain values with eventual consistency, where two concurrent increments would lose one; use a strong namespace", api.ErrUnsupported, ns)
	}
	t, err := c.strongPartition(pl)
	if err != nil {
		return 0, err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	cmd := strong.IncrBy{Key: key, Delta: delta, ID: requestID}
	if floor != nil {
		cmd.Floor, cmd.HasFloor = *floor, true
	}
	r, err := t.Do(ctx, cmd)
	if err != nil {
		return 0, c.strongErr(pl, err)
	}
	return r.(strong.IncrByResult).Value, nil
}

// CompareAndSwap replaces the value of key in a strong namespace with
// value if it holds expected (absent when expected is nil), and reports
// whether it did and the value it found.
func (c *Coordinator) CompareAndSwap(ctx context.Context, ns string, key, expected, value []byte) (bool, api.Entry, bool, error) {
	_, pl, err := c.placeSynced(ctx, ns, key)
	if err != nil {
		return false, api.Entry{}, false, err
	}
	if pl.ns.Model != metadata.Strong {
		return false, api.Entry{}, false, fmt.Errorf("%w: compare-and-set needs a strong namespace; %s is eventual", api.ErrUnsupported, ns)
	}
	t, err := c.strongPartition(pl)
	if err != nil {
		return false, api.Entry{}, false, err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	r, err := t.Do(ctx, strong.CAS{Key: key, ExpectedValue: expected, ExpectAbsent: expected == nil, New: value})
	if err != nil {
		return false, api.Entry{}, false, c.strongErr(pl, err)
	}
	res := r.(strong.CASResult)
	if res.Swapped {
		return true, api.Entry{Value: expected}, expected != nil, nil
	}
	return false, api.Entry{Value: res.Value}, res.Version != 0, nil
}

// errStrongScan refuses to list or count a strong namespace's keys, which
// its replicas keep apart from the eventual records a scan walks.
func errStrongScan(ns string) error {
	return fmt.Errorf("%w: listing or counting the keys of strong namespace %s (SCAN, KEYS, DBSIZE) is not available in this version", api.ErrUnsupported, ns)
}

// strongPlace places key in strong namespace ns, the way to its
// partition's group included.
func (c *Coordinator) strongPlace(ctx context.Context, ns string, key []byte, what string) (*metadata.State, strongTarget, error) {
	st, pl, err := c.placeSynced(ctx, ns, key)
	if err != nil {
		return nil, strongTarget{}, err
	}
	if pl.ns.Model != metadata.Strong {
		return nil, strongTarget{}, fmt.Errorf("%w: %s needs a strong namespace; %s is eventual", api.ErrUnsupported, what, ns)
	}
	t, err := c.strongPartition(pl)
	return st, t, err
}

// GetVersion reads key in a strong namespace linearizably, with its
// version: the Raft index of the command that last wrote it.
func (c *Coordinator) GetVersion(ctx context.Context, ns string, key []byte) ([]byte, uint64, bool, error) {
	_, t, err := c.strongPlace(ctx, ns, key, "a versioned read (WATCH)")
	if err != nil {
		return nil, 0, false, err
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	v, version, found, err := t.Get(ctx, key)
	if err != nil {
		return nil, 0, false, c.strongErr(t.pl, err)
	}
	return v, version, found, nil
}

// Txn runs a transaction as one strong.Txn through the log of the
// partition that holds all its keys: its conditions are the watched keys at
// their versions, so a write to any of them since WATCH aborts it.
func (c *Coordinator) Txn(ctx context.Context, ns string, watches []api.Watch, ops []api.TxnOp) ([]api.TxnReply, bool, error) {
	keys := txnKeys(watches, ops)
	if len(keys) == 0 {
		return make([]api.TxnReply, len(ops)), false, nil
	}
	st, t, err := c.strongPlace(ctx, ns, keys[0], "a transaction (MULTI/EXEC)")
	if err != nil {
		return nil, false, err
	}
	pl := t.pl
	for _, k := range keys[1:] {
		other, err := c.place(st, ns, k)
		if err != nil {
			return nil, false, err
		}
		if other.partition != pl.partition {
			return nil, false, fmt.Errorf("%w (partitions %d and %d); put them under one hash tag, e.g. {acct}.a and {acct}.b; nothing was applied",
				api.ErrCrossPartition, pl.partition, other.partition)
		}
	}
	cmd := strong.Txn{Conds: make([]strong.Cond, len(watches)), Ops: make([]strong.Op, len(ops))}
	for i, w := range watches {
		cmd.Conds[i] = strong.Cond{Key: w.Key, Version: w.Version}
	}
	for i, op := range ops {
		if cmd.Ops[i], err = strongOp(op); err != nil {
			return nil, false, err
		}
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	r, err := t.Do(ctx, cmd)
	if err != nil {
		return nil, false, c.strongErr(pl, err)
	}
	res := r.(strong.TxnResult)
	if res.Aborted {
		return nil, true, nil
	}
	replies := make([]api.TxnReply, len(res.Ops))
	for i, o := range res.Ops {
		replies[i] = txnReply(o)
		if o.Err != nil {
			replies[i].Err = c.strongErr(pl, o.Err)
		}
	}
	return replies, false, nil
}

// txnKeys lists every key a transaction watches or uses.
func txnKeys(watches []api.Watch, ops []api.TxnOp) [][]byte {
	var keys [][]byte
	for _, w := range watches {
		keys = append(keys, w.Key)
	}
	for _, op := range ops {
		if op.Kind == api.TxnDel {
			keys = append(keys, op.Keys...)
		} else {
			keys = append(keys, op.Key)
		}
	}
	return keys
}

func strongOp(op api.TxnOp) (strong.Op, error) {
	switch op.Kind {
	case api.TxnGet:
		return strong.Get{Key: op.Key}, nil
	case api.TxnSet:
		cond := strong.Always
		switch op.Cond {
		case api.IfAbsent:
			cond = strong.IfAbsent
		case api.IfPresent:
			cond = strong.IfPresent
		}
		return strong.Set{Key: op.Key, Value: op.Value, Cond: cond, Get: op.ReturnOld}, nil
	case api.TxnDel:
		return strong.Del{Keys: op.Keys}, nil
	case api.TxnIncrBy:
		cmd := strong.IncrBy{Key: op.Key, Delta: op.Delta}
		if op.Floor != nil {
			cmd.Floor, cmd.HasFloor = *op.Floor, true
		}
		return cmd, nil
	}
	return nil, fmt.Errorf("%w: transaction op of unknown kind %d", api.ErrInvalidArgument, op.Kind)
}

func txnReply(o strong.OpResult) api.TxnReply {
	switch r := o.Result.(type) {
	case strong.GetResult:
		return api.TxnReply{Found: r.Found, Value: r.Value}
	case strong.SetResult:
		return api.TxnReply{Applied: r.Written, Found: r.Existed, Value: r.Old}
	case strong.DelResult:
		return api.TxnReply{N: int64(r.Deleted)}
	case strong.IncrByResult:
		return api.TxnReply{N: r.Value}
	}
	return api.TxnReply{}
}

// strongPutMany writes each pair through its partition's log, all at once
// (raft batches what arrives together); as in an eventual namespace, each
// key is written on its own.
func (c *Coordinator) strongPutMany(ctx context.Context, st *metadata.State, ns string, kvs []api.KeyValue) error {
	pls := make([]placement, len(kvs))
	for i, kv := range kvs {
		var err error
		if pls[i], err = c.place(st, ns, kv.Key); err != nil {
			return err
		}
	}
	errs := make([]error, len(kvs))
	var wg sync.WaitGroup
	for i, kv := range kvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.strongWrite(ctx, pls[i], &writeReq{ns: ns, key: kv.Key, op: opPut, value: kv.Value})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
