package crdt

import (
	"bytes"
	"cmp"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// Tally is a ResetCounter whose increments may carry a request id and
// then take effect once, however often they are retried, through whichever
// replicas: the value of Pando's counter namespaces.
//
// Each increment made with an id is logged under it: its amount, when it
// was first applied, and the actors that applied it. An actor that finds
// the id in its state does not apply it again. Two actors that apply the
// same id without seeing each other (a retry on the other side of a
// partition) both count it in their totals; once their states meet, the
// log shows the id applied twice and Value takes the extra application
// away. Merges keep this exact: the totals and the log merge as joins, and
// the correction for an id only grows with the actors that applied it.
//
// The log is a window: Prune drops the oldest entries. An entry applied by more
// than one actor leaves behind its correction, as the totals of an actor
// named after the id ("~dup:" and the id), which merge by maximum like any
// actor's, so that the same correction folded on several replicas counts
// once. A retry that arrives after its id left every replica's window
// applies again.
//
// Two increments with the same id and different amounts are a client's
// mistake: the log keeps the smaller amount, the same on every replica.
type Tally struct {
	c   ResetCounter
	log map[string]logEntry // never modified in place
}

type logEntry struct {
	delta int64
	at    uint64   // when first applied, by the applier's clock (Unix ms): which entries Prune drops first
	by    []string // the actors that applied it, sorted
}

// dupPrefix names the actors that hold folded corrections.
const dupPrefix = "~dup:"

// Increment adds delta as actor, with no request id.
func (t *Tally) Increment(actor string, delta int64) error {
	if strings.HasPrefix(actor, dupPrefix) {
		return ErrEmptyActor
	}
	_, err := t.c.Increment(actor, delta)
	return err
}

// IncrementOnce adds delta as actor under request id, at atMs (Unix ms),
// unless the tally has seen id: then it changes nothing and returns false.
func (t *Tally) IncrementOnce(actor, id string, delta int64, atMs int64) (bool, error) {
	if _, ok := t.log[id]; ok {
		return false, nil
	}
	if err := t.Increment(actor, delta); err != nil {
		return false, err
	}
	if delta == 0 {
		return true, nil
	}
	log := maps.Clone(t.log)
	if log == nil {
		log = map[string]logEntry{}
	}
	log[id] = logEntry{delta: delta, at: uint64(max(atMs, 0)), by: []string{actor}}
	t.log = log
	return true, nil
}

// Live reports whether the tally holds an increment that no reset took
// away: a tally incremented to 0 is live, one reset since is not. The
// corrections of ids applied twice do not count.
func (t *Tally) Live() bool {
	for a, x := range t.c.counts.totals {
		if !strings.HasPrefix(a, dupPrefix) && x != t.c.reset.totals[a] {
			return true
		}
	}
	return false
}

// Seen reports whether the log holds id.
func (t *Tally) Seen(id string) bool { _, ok := t.log[id]; return ok }

// LogLen is the number of ids in the log.
func (t *Tally) LogLen() int { return len(t.log) }

// Reset takes away every total the tally holds, as ResetCounter.Reset;
// the log stays, so that a retry of an increment the reset took away does
// not count again.
func (t *Tally) Reset() {
	t.foldAll()
	t.c.Reset()
}

// Prune drops the oldest log entries (by when they were first applied,
// then by id) until at most keep remain, folding the corrections of those
// applied more than once into the totals.
func (t *Tally) Prune(keep int) {
	if len(t.log) <= keep {
		return
	}
	ids := sortedKeys(t.log)
	slices.SortStableFunc(ids, func(a, b string) int { return cmp.Compare(t.log[b].at, t.log[a].at) }) // newest first
	log := maps.Clone(t.log)
	for _, id := range ids[keep:] {
		t.fold(id)
		delete(log, id)
	}
	t.log = log
}

// extra is the correction id's extra applications call for, as a
// magnitude: (applications-1) * |delta|, saturated.
func (e logEntry) extra() uint64 {
	hi, lo := bits.Mul64(uint64(len(e.by)-1), magnitude(e.delta))
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

func magnitude(d int64) uint64 {
	if d < 0 {
		return -uint64(d)
	}
	return uint64(d)
}

// correction is the totals of id's correction actor that its entry calls
// for: the opposite of the extra applications.
func (e logEntry) correction() pn {
	if e.delta > 0 {
		return pn{n: e.extra()}
	}
	return pn{p: e.extra()}
}

// fold moves id's correction into the totals.
func (t *Tally) fold(id string) {
	e := t.log[id]
	if len(e.by) < 2 {
		return
	}
	t.c.counts.Merge(&Counter{totals: map[string]pn{dupPrefix + id: e.correction()}})
}

func (t *Tally) foldAll() {
	for _, id := range sortedKeys(t.log) {
		t.fold(id)
	}
}

// Value returns the value with every increment counted once per id,
// saturated at the int64 range.
func (t *Tally) Value() int64 {
	w := t.c.exact()
	for id, e := range t.log {
		if len(e.by) < 2 {
			continue
		}
		want, have := e.correction(), t.c.counts.totals[dupPrefix+id]
		// What the folded correction does not cover yet.
		w = w.plus(want.p-min(want.p, have.p), want.n-min(want.n, have.n))
	}
	return w.clamp()
}

// Merge joins o into t.
func (t *Tally) Merge(o *Tally) {
	t.c.Merge(&o.c)
	if len(o.log) == 0 {
		return
	}
	log := maps.Clone(t.log)
	if log == nil {
		log = make(map[string]logEntry, len(o.log))
	}
	for id, e := range o.log {
		if cur, ok := log[id]; ok {
			e = logEntry{delta: min(cur.delta, e.delta), at: min(cur.at, e.at),
				by: slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(cur.by), e.by...))))}
		}
		log[id] = e
	}
	t.log = log
}

// Clone returns a copy of t that shares nothing mutable with it.
func (t *Tally) Clone() *Tally { return &Tally{c: *t.c.Clone(), log: t.log} }

// Equal reports whether t and o are the same state.
func (t *Tally) Equal(o *Tally) bool { return bytes.Equal(t.Encode(), o.Encode()) }

// Encode returns the deterministic encoding: the header (format version,
// KindTally), the counts and the resets as in a ResetCounter, then the
// log: the uvarint entry count and, by id in byte order, the id, the
// zigzag varint amount, the uvarint time, and the sorted actors (count,
// then each).
func (t *Tally) Encode() []byte {
	e := newEncoder(KindTally)
	b := t.c.reset.appendBody(t.c.counts.appendBody(e.buf))
	b = appendUvarint(b, uint64(len(t.log)))
	for _, id := range sortedKeys(t.log) {
		x := t.log[id]
		b = appendString(b, id)
		b = appendUvarint(b, zigzag(x.delta))
		b = appendUvarint(b, x.at)
		b = appendUvarint(b, uint64(len(x.by)))
		for _, a := range x.by {
			b = appendString(b, a)
		}
	}
	return b
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// DecodeTally decodes an encoding made by Encode, refusing anything else
// with an error wrapping ErrCorrupt.
func DecodeTally(b []byte) (*Tally, error) {
	d, err := newDecoder(b, KindTally)
	if err != nil {
		return nil, err
	}
	rc, err := d.resetCounter()
	if err != nil {
		return nil, err
	}
	t := &Tally{c: *rc}
	n, err := d.count(5) // id, amount, time, actor count, actor
	if err != nil {
		return nil, corrupt("tally: log: %v", err)
	}
	if n > 0 {
		t.log = make(map[string]logEntry, n)
	}
	prev := ""
	for i := range n {
		id, err := d.key(i, prev)
		if err != nil {
			return nil, corrupt("tally: log: %v", err)
		}
		var e logEntry
		z, err := d.uvarint()
		if err == nil {
			e.delta = unzigzag(z)
			e.at, err = d.uvarint()
		}
		if err != nil || e.delta == 0 {
			return nil, corrupt("tally: log entry %q: bad amount or time", id)
		}
		k, err := d.count(2)
		if err != nil || k == 0 {
			return nil, corrupt("tally: log entry %q: no actors", id)
		}
		a := ""
		for j := range k {
			if a, err = d.actor(j, a); err != nil {
				return nil, corrupt("tally: log entry %q: %v", id, err)
			}
			e.by = append(e.by, a)
		}
		t.log[id], prev = e, id
	}
	return t, d.end()
}
