package coordinator

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/pandodb/pando/crdt"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/sabotage"
)

// Counter, set and map namespaces keep a CRDT (package crdt) as the value
// of each sibling of a key's record. An update merges the states of every
// sibling that the coordinator's copy and its read at R hold, applies the
// operation as this node's actor, and writes the result as a new event
// that supersedes all of them, replicated like any write. Siblings still
// arise from updates that did not see each other (a partition); readers,
// and the next update, merge their states, so nothing concurrent is lost
// and no client resolves anything. A key whose value becomes empty (a
// counter reset by DEL, a set or map emptied) is written as a tombstone
// that keeps its state: the removal's memory of what it removed, which a
// concurrent add or increment is merged against.

// Update implements api.Types.
func (c *Coordinator) Update(ctx context.Context, ns string, key []byte, op api.Op, o api.WriteOptions) (api.OpResult, error) {
	res, err := c.do(ctx, opUpdate, ns, key, o, func(q *writeReq) { q.typeOp = op })
	if err != nil {
		return api.OpResult{}, err
	}
	return api.OpResult{N: res.n}, nil
}

// Value implements api.Types.
func (c *Coordinator) Value(ctx context.Context, ns string, key []byte, ro api.ReadOptions) (api.Value, error) {
	_, pl, err := c.placeSynced(ctx, ns, key)
	if err != nil {
		return api.Value{}, err
	}
	if !typed(pl.ns) {
		return api.Value{}, wrongType(pl.ns)
	}
	rec, found, err := c.read(ctx, pl, key, ro)
	if err != nil {
		return api.Value{}, err
	}
	if !found {
		return api.Value{}, api.ErrNotFound
	}
	st, err := loadState(pl.ns.Type, rec)
	if err != nil {
		return api.Value{}, err
	}
	if !st.present() {
		return api.Value{}, api.ErrNotFound
	}
	return st.value(), nil
}

// typed reports whether ns holds CRDTs.
func typed(ns metadata.Namespace) bool {
	return ns.Type == metadata.Counter || ns.Type == metadata.Set || ns.Type == metadata.Map
}

func wrongType(ns metadata.Namespace) error {
	what := map[metadata.Type]string{metadata.Bytes: "plain values", metadata.Counter: "counters", metadata.Set: "sets", metadata.Map: "maps (hashes)"}[ns.Type]
	return fmt.Errorf("%w: namespace '%s' holds %s", api.ErrWrongType, ns.Name, what)
}

// checkOp refuses, before anything is read, an operation that ns's type
// does not have, and an update that is not well formed.
func checkOp(ns metadata.Namespace, op api.Op) error {
	ok := false
	switch ns.Type {
	case metadata.Counter:
		ok = op.Kind == api.OpIncrement || op.Kind == api.OpClear
	case metadata.Set:
		ok = op.Kind == api.OpAdd || op.Kind == api.OpRemove || op.Kind == api.OpClear
	case metadata.Map:
		ok = op.Kind == api.OpIncrement || op.Kind == api.OpRemove || op.Kind == api.OpAssign || op.Kind == api.OpClear
	}
	if !ok {
		return wrongType(ns)
	}
	if op.Kind == api.OpAssign && len(op.Values) != len(op.Members) {
		return fmt.Errorf("%w: %d fields and %d values", api.ErrInvalidArgument, len(op.Members), len(op.Values))
	}
	return nil
}

// by is who applies an update: this node's actor, under the request's id
// (if any) at the time now (Unix ms).
type by struct {
	actor, id string
	now       int64
}

// requestKeep is how many request ids a counter remembers: a retry of
// one of its last requestKeep increments with ids takes effect once
// (crdt.Tally). A count, not a time: clocks do not decide it.
const requestKeep = 256

// state is a key's CRDT, the merge of its siblings' states.
type state interface {
	// apply performs op: what it did (api.OpResult.N), and whether the
	// state changed.
	apply(b by, op api.Op) (n int64, changed bool, err error)
	// present reports whether the key has a value a reader sees.
	present() bool
	encode() []byte
	value() api.Value
}

// loadState merges the states of rec's siblings, tombstones included:
// a tombstone keeps what its removal saw.
func loadState(t metadata.Type, rec replica.Record) (state, error) {
	var st state
	var err error
	switch t {
	case metadata.Counter:
		var c *crdt.Tally
		var live bool
		c, live, err = mergeStates(rec, crdt.DecodeTally, (*crdt.Tally).Merge)
		st = &counterState{c: c, live: live}
	case metadata.Set:
		var s *crdt.Set
		s, _, err = mergeStates(rec, crdt.DecodeSet, (*crdt.Set).Merge)
		st = &setState{s: s}
	case metadata.Map:
		var h *crdt.Hash
		h, _, err = mergeStates(rec, crdt.DecodeHash, (*crdt.Hash).Merge)
		st = &mapState{h: h}
	default:
		return nil, fmt.Errorf("%w: type %s", api.ErrWrongType, t)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", replica.ErrCorruptRecord, err)
	}
	return st, nil
}

// mergeStates decodes the states of rec's siblings and merges them, the
// others into the first (the usual record has one sibling: nothing is
// copied); a record without one gives the zero state. live reports whether
// a sibling is not a tombstone.
func mergeStates[T any](rec replica.Record, decode func([]byte) (*T, error), merge func(into, from *T)) (st *T, live bool, err error) {
	err = mergeSiblings(rec, func(b []byte, l bool) error {
		d, err := decode(b)
		if err != nil {
			return err
		}
		if st == nil {
			st = d
		} else {
			merge(st, d)
		}
		live = live || l
		return nil
	})
	if st == nil {
		st = new(T)
	}
	return st, live, err
}

func mergeSiblings(rec replica.Record, merge func(b []byte, live bool) error) error {
	sibs := rec.Siblings()
	if sabotage.Is("crdt-lww") && len(sibs) > 1 {
		// As a store that keeps one of the concurrent values would.
		p, _ := replica.Pick(sibs)
		sibs = []replica.Sibling{p}
	}
	for _, s := range sibs {
		if len(s.Value) == 0 {
			continue // a tombstone from a DEL of plain values, or none yet
		}
		if err := merge(s.Value, !s.Tombstone); err != nil {
			return err
		}
	}
	return nil
}

// opError maps the CRDT package's refusals to the client's errors.
func opError(err error) error {
	if errors.Is(err, crdt.ErrOverflow) {
		return api.ErrOverflow
	}
	return err
}

// counterState is a counter namespace's value: a counter that DEL resets,
// whose increments with a request id count once (crdt.Tally). It exists
// while a sibling is live, so a counter incremented to 0 still exists, as
// in Redis.
type counterState struct {
	c    *crdt.Tally
	live bool
}

func (x *counterState) apply(b by, op api.Op) (int64, bool, error) {
	switch op.Kind {
	case api.OpIncrement:
		var err error
		if b.id == "" || sabotage.Is("ids-ignored") {
			err = x.c.Increment(b.actor, op.Delta)
		} else {
			var applied bool
			applied, err = x.c.IncrementOnce(b.actor, b.id, op.Delta, b.now)
			if err == nil && !applied {
				// A retry of an increment made before: nothing to add,
				// but the state is written again, so that the answer
				// means what a first answer means, W replicas hold it.
				return x.c.Value(), true, nil
			}
			x.c.Prune(requestKeep)
		}
		if err != nil {
			return 0, false, opError(err)
		}
		if sabotage.Is("counter-double") && sabotage.Nth(10) {
			_ = x.c.Increment(b.actor, op.Delta)
		}
		x.live = true
		return x.c.Value(), true, nil
	case api.OpClear:
		if !x.live {
			return 0, false, nil
		}
		x.c.Reset()
		x.live = false
		return 1, true, nil
	}
	return 0, false, fmt.Errorf("%w: counters take increments", api.ErrWrongType)
}

func (x *counterState) present() bool  { return x.live }
func (x *counterState) encode() []byte { return x.c.Encode() }
func (x *counterState) value() api.Value {
	return api.Value{Type: api.TypeCounter, Counter: x.c.Value()}
}

// setState is a set namespace's value: an add-wins set.
type setState struct{ s *crdt.Set }

func (x *setState) apply(b by, op api.Op) (int64, bool, error) {
	actor := b.actor
	var n int64
	switch op.Kind {
	case api.OpAdd:
		// A member added again is added again (a new event), so that it
		// survives a concurrent remove (add wins), though Redis counts only
		// the new ones.
		for _, m := range op.Members {
			if !x.s.Contains(string(m)) {
				n++
			}
			if _, err := x.s.Add(actor, string(m)); err != nil {
				return 0, false, opError(err)
			}
		}
		return n, len(op.Members) > 0, nil
	case api.OpRemove:
		for _, m := range op.Members {
			if x.s.Contains(string(m)) {
				x.s.Remove(string(m))
				n++
			}
		}
	case api.OpClear:
		if x.s.Len() == 0 {
			return 0, false, nil
		}
		for _, m := range x.s.Members() {
			x.s.Remove(m)
		}
		return 1, true, nil
	default:
		return 0, false, fmt.Errorf("%w: sets take adds and removes", api.ErrWrongType)
	}
	return n, n > 0, nil
}

func (x *setState) present() bool  { return x.s.Len() > 0 }
func (x *setState) encode() []byte { return x.s.Encode() }
func (x *setState) value() api.Value {
	members := x.s.Members()
	v := api.Value{Type: api.TypeSet, Members: make([][]byte, len(members))}
	for i, m := range members {
		v.Members[i] = []byte(m)
	}
	return v
}

// add returns a+b, or false (and the saturated sum) if it overflows.
func add(a, b int64) (int64, bool) {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64, false
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64, false
	}
	return s, true
}
