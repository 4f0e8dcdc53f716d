package strong

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/pandodb/pando/internal/raftgroup"
	"github.com/pandodb/pando/internal/sabotage"
	"github.com/pandodb/pando/internal/storage"
)

// Machine is the state machine of one strong partition: its keys, kept in
// the node's Pebble database, and the index of the last command applied to
// them.
type Machine struct {
	eng        *storage.Engine
	group      uint64
	appliedKey []byte

	// mu serialises Apply, Restore and Snapshot. Raft calls them from one
	// goroutine; the lock keeps any other caller from seeing a snapshot
	// torn by an Apply. Get does not take it.
	mu      sync.Mutex
	failed  error // under mu: why the machine stopped, wrapped in ErrFailed
	applied atomic.Uint64
	// idsCleared: the request ids of epochs below it are deleted (under
	// mu; in memory, so a restart deletes them once more).
	idsCleared uint64
}

// idEpoch is how many log indices a window epoch of request ids spans. An
// IncrBy is looked up in its own epoch and the one before, so a retry is
// recognised if it comes within idEpoch commands of the group after the
// first application, and may be up to twice that; older ids are deleted.
const idEpoch = 1 << 16

var _ raftgroup.StateMachine = (*Machine)(nil)

// NewMachine opens the state machine of strong partition group in eng, at
// the applied index it last stored.
func NewMachine(eng *storage.Engine, group uint64) (*Machine, error) {
	m := &Machine{eng: eng, group: group, appliedKey: storage.StrongAppliedKey(group)}
	err := eng.Get(m.appliedKey, func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("%w: applied index %x of group %d", ErrCorrupt, v, group)
		}
		m.applied.Store(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("strong: loading group %d: %w", group, err)
	}
	return m, nil
}

// Applied is the index of the last command applied (or of the snapshot
// restored), 0 for a new machine.
func (m *Machine) Applied() uint64 { return m.applied.Load() }

// Get returns key's value and version as of the last applied command on
// this member. It may run concurrently with Apply. It is not a
// linearizable read by itself: a caller that needs one waits for the
// group's ReadIndex first.
func (m *Machine) Get(key []byte) (value []byte, version uint64, found bool, err error) {
	err = m.eng.Get(storage.StrongKey(nil, m.group, key), func(v []byte) error {
		ver, val, err := parseRecord(v)
		if err != nil {
			return err
		}
		value, version, found = bytes.Clone(val), ver, true
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, 0, false, nil
	}
	return value, version, found, err
}

// Apply applies the command committed at index and returns its encoded
// Result, or a refusal: ErrNotInteger, ErrOverflow, ErrBelowFloor or
// ErrBadCommand. Either way the applied index moves to index, with the
// command's writes, in one batch. A command at or below the applied index
// was applied before (raft replays its log on start) and is skipped.
func (m *Machine) Apply(index uint64, cmd []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failed != nil {
		return nil, m.failed
	}
	if index <= m.applied.Load() {
		return nil, nil
	}
	a := applier{m: m, index: index, cache: map[string]*entry{}}
	var res Result
	c, err := DecodeCommand(cmd)
	if err == nil {
		res, err = a.command(c)
	}
	if a.fault != nil {
		// A read failed: the outcome is unknown, so the command must not
		// count as applied.
		return nil, m.fail(a.fault)
	}
	b := m.eng.NewBatch()
	if err == nil {
		a.flush(b)
	}
	b.Set(m.appliedKey, binary.BigEndian.AppendUint64(nil, index))
	// Unsynced: raft synced the entry to its log before handing it over,
	// and replays whatever a crash takes from here.
	if cerr := m.eng.Commit(b, false); cerr != nil {
		return nil, m.fail(cerr)
	}
	m.applied.Store(index)
	if err != nil {
		return nil, err
	}
	return res.Encode(nil), nil
}

// fail stops the machine for good. Called under mu.
func (m *Machine) fail(err error) error {
	m.failed = fmt.Errorf("%w (%w): group %d: %w", ErrFailed, raftgroup.ErrFatal, m.group, err)
	return m.failed
}

// entry is a key's state during an Apply: version 0 is absent.
type entry struct {
	value   []byte
	version uint64
	dirty   bool // written by this command
}

// applier applies one command. Its cache holds every key the command read
// or wrote, so that an op sees the writes of the ops before it (a Pebble
// batch cannot be read), and a refused command writes nothing.
type applier struct {
	m     *Machine
	index uint64
	cache map[string]*entry
	fault error // a storage error met while reading
	// ids are the request ids of the IncrBys this command applied, with
	// the values they answered.
	ids []appliedID
}

type appliedID struct {
	id    string
	value int64
}

func (a *applier) read(key []byte) *entry {
	if e, ok := a.cache[string(key)]; ok {
		return e
	}
	e := &entry{}
	value, version, found, err := a.m.Get(key)
	switch {
	case err != nil:
		if a.fault == nil {
			a.fault = err
		}
	case found:
		e.value, e.version = value, version
	}
	a.cache[string(key)] = e
	return e
}

// set writes value under key at this command's index; del removes key.
// Neither reads the key first.
func (a *applier) set(key, value []byte) {
	a.cache[string(key)] = &entry{value: value, version: a.index, dirty: true}
}

func (a *applier) del(key []byte) {
	a.cache[string(key)] = &entry{dirty: true}
}

// flush puts the command's writes into b.
func (a *applier) flush(b *storage.Batch) {
	var k, rec []byte
	for key, e := range a.cache {
		if !e.dirty {
			continue
		}
		k = storage.StrongKey(k[:0], a.m.group, []byte(key))
		if e.version == 0 {
			b.Delete(k)
			continue
		}
		rec = appendRecord(rec[:0], e.version, e.value)
		b.Set(k, rec)
	}
	if len(a.ids) == 0 {
		return
	}
	epoch := a.index / idEpoch
	for _, x := range a.ids {
		b.Set(storage.StrongIDKey(a.m.group, epoch, x.id), appendRecord(nil, a.index, strconv.AppendInt(nil, x.value, 10)))
	}
	if epoch >= 2 && epoch-1 > a.m.idsCleared {
		// Ids two epochs old are never looked up again.
		lo, _ := storage.StrongIDSpan(a.m.group)
		b.DeleteRange(lo, storage.StrongIDKey(a.m.group, epoch-1, ""))
		a.m.idsCleared = epoch - 1
	}
}

func (a *applier) command(c Command) (Result, error) {
	switch c := c.(type) {
	case CAS:
		return a.cas(c), nil
	case Txn:
		return a.txn(c)
	case Op:
		return a.op(c)
	}
	return nil, fmt.Errorf("%w: unknown command %T", ErrBadCommand, c)
}

func (a *applier) op(c Op) (Result, error) {
	switch c := c.(type) {
	case Set:
		return a.setCmd(c), nil
	case Del:
		return a.delCmd(c), nil
	case IncrBy:
		return a.incrBy(c)
	case Get:
		return a.get(c), nil
	}
	return nil, fmt.Errorf("%w: unknown op %T", ErrBadCommand, c)
}

func (a *applier) setCmd(c Set) SetResult {
	if c.Cond == Always && !c.Get {
		// A blind write, Redis's plain SET: nothing to read, and the
		// commonest command of all.
		a.set(c.Key, c.Value)
		return SetResult{Written: true, Version: a.index}
	}
	cur := a.read(c.Key)
	res := SetResult{Existed: cur.version != 0, Version: cur.version}
	if c.Get && res.Existed {
		res.Old = cur.value
	}
	if c.Cond == IfAbsent && res.Existed || c.Cond == IfPresent && !res.Existed {
		return res
	}
	a.set(c.Key, c.Value)
	res.Written, res.Version = true, a.index
	return res
}

func (a *applier) delCmd(c Del) DelResult {
	var res DelResult
	for _, k := range c.Keys {
		if a.read(k).version != 0 {
			res.Deleted++
			a.del(k)
		}
	}
	return res
}

// get reads through the cache, so inside a Txn it sees the ops before it.
func (a *applier) get(c Get) GetResult {
	cur := a.read(c.Key)
	return GetResult{Value: cur.value, Found: cur.version != 0, Version: cur.version}
}

func (a *applier) incrBy(c IncrBy) (Result, error) {
	if c.ID != "" && !sabotage.Is("ids-ignored") {
		if res, ok := a.applied(c.ID); ok {
			return res, nil
		}
	}
	var n int64
	if cur := a.read(c.Key); cur.version != 0 {
		var ok bool
		if n, ok = parseInt(cur.value); !ok {
			return nil, ErrNotInteger
		}
	}
	if c.Delta > 0 && n > maxInt64-c.Delta || c.Delta < 0 && n < minInt64-c.Delta {
		return nil, ErrOverflow
	}
	n += c.Delta
	if c.HasFloor && c.Delta < 0 && n < c.Floor {
		return nil, ErrBelowFloor
	}
	a.set(c.Key, strconv.AppendInt(nil, n, 10))
	if c.ID != "" {
		a.ids = append(a.ids, appliedID{id: c.ID, value: n})
	}
	return IncrByResult{Value: n, Version: a.index}, nil
}

// applied returns what the IncrBy with request id answered, if one was
// applied in this command's window epoch or the one before.
func (a *applier) applied(id string) (IncrByResult, bool) {
	for _, x := range a.ids {
		if x.id == id {
			return IncrByResult{Value: x.value, Version: a.index}, true
		}
	}
	epochs := []uint64{a.index / idEpoch}
	if epochs[0] > 0 {
		epochs = append(epochs, epochs[0]-1)
	}
	for _, e := range epochs {
		var res IncrByResult
		found := false
		err := a.m.eng.Get(storage.StrongIDKey(a.m.group, e, id), func(v []byte) error {
			version, value, err := parseRecord(v)
			if err != nil {
				return err
			}
			n, ok := parseInt(value)
			if !ok {
				return fmt.Errorf("%w: request id record %x", ErrCorrupt, v)
			}
			res, found = IncrByResult{Value: n, Version: version}, true
			return nil
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			if a.fault == nil {
				a.fault = err
			}
			return IncrByResult{}, false
		}
		if found {
			return res, true
		}
	}
	return IncrByResult{}, false
}

const (
	maxInt64 = 1<<63 - 1
	minInt64 = -1 << 63
)

// parseInt parses a value as Redis's string2ll does: a base-10 int64 with
// no sign but a leading '-', no leading zeros, no spaces, and no "-0".
// Those are exactly the strings strconv.FormatInt writes.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != string(b) {
		return 0, false
	}
	return n, true
}

func (a *applier) cas(c CAS) CASResult {
	cur := a.read(c.Key)
	var holds bool
	switch {
	case c.ByVersion:
		holds = cur.version == c.ExpectedVersion
	case c.ExpectAbsent:
		holds = cur.version == 0
	default:
		holds = cur.version != 0 && bytes.Equal(cur.value, c.ExpectedValue)
	}
	switch {
	case !holds:
		return CASResult{Version: cur.version, Value: cur.value}
	case c.Delete:
		if cur.version != 0 {
			a.del(c.Key)
		}
		return CASResult{Swapped: true}
	}
	a.set(c.Key, c.New)
	return CASResult{Swapped: true, Version: a.index}
}

// txn applies a Txn. An op refused with ErrNotInteger or ErrOverflow
// reports it and the others run, as in Redis's EXEC; ErrBelowFloor refuses
// the whole Txn, so a transfer is all or nothing.
func (a *applier) txn(c Txn) (Result, error) {
	for _, cd := range c.Conds {
		if a.read(cd.Key).version != cd.Version {
			return TxnResult{Aborted: true}, nil
		}
	}
	res := TxnResult{Ops: make([]OpResult, 0, len(c.Ops))}
	for i, op := range c.Ops {
		if _, incr := op.(IncrBy); incr && i > 0 && sabotage.Is("txn-partial") { // as if lost
			res.Ops = append(res.Ops, OpResult{Result: IncrByResult{}})
			continue
		}
		r, err := a.op(op)
		if errors.Is(err, ErrBelowFloor) {
			return nil, err
		}
		res.Ops = append(res.Ops, OpResult{Result: r, Err: err})
	}
	return res, nil
}

// A stored record is uvarint(version) | value.
func appendRecord(dst []byte, version uint64, value []byte) []byte {
	return append(binary.AppendUvarint(dst, version), value...)
}

func parseRecord(v []byte) (version uint64, value []byte, err error) {
	version, n := binary.Uvarint(v)
	if n <= 0 || version == 0 {
		return 0, nil, fmt.Errorf("%w: record %x", ErrCorrupt, v)
	}
	return version, v[n:], nil
}

// snapshotVersion is the first byte of a snapshot: 2 since snapshots carry
// request ids; 1 (keys alone) is still restored.
const (
	snapshotV1      = 1
	snapshotVersion = 2
)

// Snapshot encodes the machine's keys, request ids and applied index (see
// the package documentation for the format).
func (m *Machine) Snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failed != nil {
		return nil, m.failed
	}
	var entries, ids []snapEntry
	lo, hi := storage.StrongSpan(m.group)
	err := m.scan(lo, hi, func(k []byte, version uint64, value []byte) error {
		_, key, err := storage.ParseStrongKey(k)
		entries = append(entries, snapEntry{key: bytes.Clone(key), value: bytes.Clone(value), version: version})
		return err
	})
	if err == nil {
		lo, hi = storage.StrongIDSpan(m.group)
		err = m.scan(lo, hi, func(k []byte, version uint64, value []byte) error {
			epoch, id, err := storage.ParseStrongIDKey(k)
			ids = append(ids, snapEntry{key: []byte(id), epoch: epoch, value: bytes.Clone(value), version: version})
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("strong: snapshot of group %d: %w", m.group, err)
	}
	return encodeSnapshot(m.applied.Load(), entries, ids), nil
}

// encodeSnapshot encodes a snapshot in the current version.
func encodeSnapshot(applied uint64, entries, ids []snapEntry) []byte {
	out := binary.AppendUvarint(append([]byte(nil), snapshotVersion), applied)
	out = binary.AppendUvarint(out, uint64(len(entries)))
	for _, e := range entries {
		out = appendSnapEntry(out, e)
	}
	for _, e := range ids {
		out = appendSnapEntry(binary.AppendUvarint(out, e.epoch), e)
	}
	return out
}

// scan calls fn with every record in [lo, hi).
func (m *Machine) scan(lo, hi []byte, fn func(k []byte, version uint64, value []byte) error) error {
	it, err := m.eng.NewIter(lo, hi)
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err != nil {
			it.Close()
			return err
		}
		version, value, err := parseRecord(v)
		if err == nil {
			err = fn(it.Key(), version, value)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// snapEntry is one key, or one request id, of a decoded snapshot.
type snapEntry struct {
	key, value []byte
	version    uint64
	epoch      uint64 // a request id's
}

func appendSnapEntry(dst []byte, e snapEntry) []byte {
	dst = appendBytes(dst, e.key)
	dst = binary.AppendUvarint(dst, e.version)
	return appendBytes(dst, e.value)
}

// decodeSnapshot decodes a snapshot. Its keys, and its request ids by
// epoch and id, must be in strictly increasing order, with versions from
// 1 to the applied index.
func decodeSnapshot(data []byte) (applied uint64, entries, ids []snapEntry, err error) {
	r := reader{b: data}
	version := r.byte()
	if version != snapshotV1 && version != snapshotVersion {
		r.bad = true
	}
	applied = r.uvarint()
	keys := -1 // version 1: to the end
	if version == snapshotVersion {
		keys = r.count()
	}
	bad := func(e snapEntry) bool { return e.version == 0 || e.version > applied }
	for !r.bad && len(r.b) > 0 && keys != 0 {
		e := snapEntry{key: r.bytes(), version: r.uvarint(), value: r.bytes()}
		if bad(e) || len(entries) > 0 && bytes.Compare(entries[len(entries)-1].key, e.key) >= 0 {
			r.bad = true
		}
		entries = append(entries, e)
		keys--
	}
	if keys > 0 {
		r.bad = true
	}
	for !r.bad && len(r.b) > 0 {
		e := snapEntry{epoch: r.uvarint(), key: r.bytes(), version: r.uvarint(), value: r.bytes()}
		if bad(e) || len(e.key) == 0 {
			r.bad = true
		}
		if n := len(ids); n > 0 {
			p := ids[n-1]
			if p.epoch > e.epoch || p.epoch == e.epoch && bytes.Compare(p.key, e.key) >= 0 {
				r.bad = true
			}
		}
		ids = append(ids, e)
	}
	if !r.end() {
		return 0, nil, nil, fmt.Errorf("%w: %d bytes", ErrBadSnapshot, len(data))
	}
	return applied, entries, ids, nil
}

// Restore replaces the machine's keys and applied index with a snapshot
// taken at index, in one synced batch. A machine already at or past index
// keeps its own state: raft restores its latest snapshot on every start,
// and the machine's keys are at least as new.
func (m *Machine) Restore(index uint64, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failed != nil {
		return m.failed
	}
	if index <= m.applied.Load() {
		return nil
	}
	applied, entries, ids, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	if applied > index {
		// It holds commands after index, which raft would apply again.
		return fmt.Errorf("%w: taken at index %d, offered as of %d", ErrBadSnapshot, applied, index)
	}
	b := m.eng.NewBatch()
	b.DeleteRange(storage.StrongSpan(m.group))
	b.DeleteRange(storage.StrongIDSpan(m.group))
	var k, rec []byte
	for _, e := range entries {
		k = storage.StrongKey(k[:0], m.group, e.key)
		rec = appendRecord(rec[:0], e.version, e.value)
		b.Set(k, rec)
	}
	for _, e := range ids {
		b.Set(storage.StrongIDKey(m.group, e.epoch, string(e.key)), appendRecord(nil, e.version, e.value))
	}
	b.Set(m.appliedKey, binary.BigEndian.AppendUint64(nil, index))
	if err := m.eng.Commit(b, true); err != nil {
		return m.fail(err)
	}
	m.applied.Store(index)
	return nil
}
