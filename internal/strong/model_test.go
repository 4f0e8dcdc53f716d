package strong

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/pandodb/pando/internal/storage"
	"pgregory.net/rapid"
)

// The model is the specification in miniature: a map from key to value and
// version, no storage, no encoding of state, each Txn applied to a copy.

type modelEntry struct {
	value   string
	version uint64
}

type model struct {
	kv      map[string]modelEntry
	applied uint64
}

func (md *model) apply(index uint64, c Command) (Result, error) {
	md.applied = index
	switch c := c.(type) {
	case CAS:
		return md.cas(index, c), nil
	case Txn:
		for _, cd := range c.Conds {
			if md.kv[string(cd.Key)].version != cd.Version {
				return TxnResult{Aborted: true}, nil
			}
		}
		scratch := &model{kv: maps.Clone(md.kv)}
		var res TxnResult
		for _, op := range c.Ops {
			r, err := scratch.op(index, op)
			if errors.Is(err, ErrBelowFloor) {
				return nil, err
			}
			res.Ops = append(res.Ops, OpResult{Result: r, Err: err})
		}
		md.kv = scratch.kv
		return res, nil
	case Op:
		return md.op(index, c)
	}
	panic(fmt.Sprintf("model: command %T", c))
}

func (md *model) op(index uint64, c Op) (Result, error) {
	switch c := c.(type) {
	case Set:
		if c.Cond == Always && !c.Get {
			md.kv[string(c.Key)] = modelEntry{string(c.Value), index}
			return SetResult{Written: true, Version: index}, nil
		}
		old, ok := md.kv[string(c.Key)]
		res := SetResult{Existed: ok, Version: old.version}
		if c.Get && ok {
			res.Old = []byte(old.value)
		}
		if c.Cond == IfAbsent && ok || c.Cond == IfPresent && !ok {
			return res, nil
		}
		md.kv[string(c.Key)] = modelEntry{string(c.Value), index}
		res.Written, res.Version = true, index
		return res, nil
	case Del:
		var res DelResult
		for _, k := range c.Keys {
			if _, ok := md.kv[string(k)]; ok {
				delete(md.kv, string(k))
				res.Deleted++
			}
		}
		return res, nil
	case IncrBy:
		var n int64
		if old, ok := md.kv[string(c.Key)]; ok {
			var valid bool
			if n, valid = string2ll(old.value); !valid {
				return nil, ErrNotInteger
			}
		}
		sum := n + c.Delta
		if c.Delta > 0 && sum < n || c.Delta < 0 && sum > n {
			return nil, ErrOverflow
		}
		if c.HasFloor && c.Delta < 0 && sum < c.Floor {
			return nil, ErrBelowFloor
		}
		md.kv[string(c.Key)] = modelEntry{strconv.FormatInt(sum, 10), index}
		return IncrByResult{Value: sum, Version: index}, nil
	case Get:
		e, ok := md.kv[string(c.Key)]
		if !ok {
			return GetResult{}, nil
		}
		return GetResult{Value: []byte(e.value), Found: true, Version: e.version}, nil
	}
	panic(fmt.Sprintf("model: op %T", c))
}

func (md *model) cas(index uint64, c CAS) CASResult {
	old, ok := md.kv[string(c.Key)]
	holds := false
	switch {
	case c.ByVersion:
		holds = old.version == c.ExpectedVersion
	case c.ExpectAbsent:
		holds = !ok
	default:
		holds = ok && old.value == string(c.ExpectedValue)
	}
	if !holds {
		return CASResult{Version: old.version, Value: []byte(old.value)}
	}
	if c.Delete {
		delete(md.kv, string(c.Key))
		return CASResult{Swapped: true}
	}
	md.kv[string(c.Key)] = modelEntry{string(c.New), index}
	return CASResult{Swapped: true, Version: index}
}

// string2ll is Redis's util.c string2ll, transcribed: the parse INCRBY
// applies to a stored value.
func string2ll(s string) (int64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	if s == "0" {
		return 0, true
	}
	p, negative := 0, false
	if s[0] == '-' {
		negative = true
		p++
		if p == len(s) {
			return 0, false
		}
	}
	if s[p] < '1' || s[p] > '9' {
		return 0, false
	}
	v := uint64(s[p] - '0')
	for p++; p < len(s) && s[p] >= '0' && s[p] <= '9'; p++ {
		if v > math.MaxUint64/10 {
			return 0, false
		}
		v *= 10
		if v > math.MaxUint64-uint64(s[p]-'0') {
			return 0, false
		}
		v += uint64(s[p] - '0')
	}
	if p < len(s) {
		return 0, false
	}
	if negative {
		if v > uint64(math.MaxInt64)+1 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

func TestParseIntIsRedisString2ll(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.OneOf(
			rapid.StringMatching(`-?[0-9]{0,20}`),
			rapid.StringOfN(rapid.SampledFrom([]rune("0123456789-+ .x")), 0, 22, -1),
			rapid.Map(rapid.Int64(), func(n int64) string { return strconv.FormatInt(n, 10) }),
		).Draw(t, "s")
		got, gotOK := parseInt([]byte(s))
		want, wantOK := string2ll(s)
		if got != want || gotOK != wantOK {
			t.Fatalf("parseInt(%q) = (%d, %v), Redis says (%d, %v)", s, got, gotOK, want, wantOK)
		}
	})
}

// modelKeys are the keys the model test uses: few, so that commands meet.
var modelKeys = []string{"a", "b", "c", ""}

var genModelValue = rapid.OneOf(
	rapid.SampledFrom([]string{"", "0", "1", "-1", "x", "01", "-0", "+1", " 1",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808"}),
	rapid.Map(rapid.Int64Range(-20, 20), func(n int64) string { return strconv.FormatInt(n, 10) }),
)

var genModelDelta = rapid.OneOf(
	rapid.Int64Range(-10, 10),
	rapid.SampledFrom([]int64{math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1}),
)

// logEntry is a command as raft's log would hold it, and what applying it
// returned.
type logEntry struct {
	index uint64
	cmd   []byte
	out   []byte
	err   error
}

type machineTest struct {
	fs  *vfs.MemFS
	eng *storage.Engine
	m   *Machine
	md  model
	// log and snap are raft's: the entries after its latest snapshot.
	log  []logEntry
	snap *raftSnapshot
}

type raftSnapshot struct {
	index uint64
	data  []byte
}

func (mt *machineTest) open(t *rapid.T) {
	eng, err := storage.Open(storage.Config{Dir: "db", FS: mt.fs})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	mt.eng = eng
	if mt.m, err = NewMachine(eng, testGroup); err != nil {
		t.Fatalf("new machine: %v", err)
	}
}

func (mt *machineTest) drawKey(t *rapid.T) []byte {
	return []byte(rapid.SampledFrom(modelKeys).Draw(t, "key"))
}

// drawVersion draws a version to expect of key: mostly its own, else
// absent or some other.
func (mt *machineTest) drawVersion(t *rapid.T, key []byte) uint64 {
	switch rapid.IntRange(0, 3).Draw(t, "which version") {
	case 0:
		return 0
	case 1:
		return rapid.Uint64Range(0, mt.md.applied+1).Draw(t, "version")
	}
	return mt.md.kv[string(key)].version
}

func (mt *machineTest) drawOp(t *rapid.T) Op {
	switch rapid.IntRange(0, 3).Draw(t, "op") {
	case 0:
		return Set{
			Key:   mt.drawKey(t),
			Value: []byte(genModelValue.Draw(t, "value")),
			Cond:  rapid.SampledFrom([]SetCond{Always, IfAbsent, IfPresent}).Draw(t, "cond"),
			Get:   rapid.Bool().Draw(t, "get"),
		}
	case 1:
		var c Del
		for range rapid.IntRange(1, 3).Draw(t, "keys") {
			c.Keys = append(c.Keys, mt.drawKey(t))
		}
		return c
	case 2:
		return Get{Key: mt.drawKey(t)}
	}
	c := IncrBy{Key: mt.drawKey(t), Delta: genModelDelta.Draw(t, "delta"), HasFloor: rapid.Bool().Draw(t, "has floor")}
	if c.HasFloor {
		c.Floor = rapid.Int64Range(-5, 5).Draw(t, "floor")
	}
	return c
}

func (mt *machineTest) drawCommand(t *rapid.T) Command {
	switch rapid.IntRange(0, 2).Draw(t, "command") {
	case 0:
		return mt.drawOp(t)
	case 1:
		c := CAS{Key: mt.drawKey(t), Delete: rapid.Bool().Draw(t, "delete")}
		switch rapid.IntRange(0, 2).Draw(t, "by") {
		case 0:
			c.ByVersion, c.ExpectedVersion = true, mt.drawVersion(t, c.Key)
		case 1:
			c.ExpectAbsent = true
		default:
			if rapid.Bool().Draw(t, "expect current") {
				c.ExpectedValue = []byte(mt.md.kv[string(c.Key)].value)
			} else {
				c.ExpectedValue = []byte(genModelValue.Draw(t, "expected"))
			}
		}
		if !c.Delete {
			c.New = []byte(genModelValue.Draw(t, "new"))
		}
		return c
	}
	var c Txn
	for range rapid.IntRange(0, 2).Draw(t, "conds") {
		k := mt.drawKey(t)
		c.Conds = append(c.Conds, Cond{Key: k, Version: mt.drawVersion(t, k)})
	}
	for range rapid.IntRange(0, 4).Draw(t, "ops") {
		c.Ops = append(c.Ops, mt.drawOp(t))
	}
	return c
}

// applyBoth applies cmd at the next index to the machine and the model and
// compares what they return.
func (mt *machineTest) applyBoth(t *rapid.T, cmd []byte) {
	index := mt.md.applied + rapid.Uint64Range(1, 3).Draw(t, "gap") // raft's own entries leave gaps
	out, err := mt.m.Apply(index, cmd)
	mt.log = append(mt.log, logEntry{index, cmd, out, err})
	var want Result
	c, wantErr := DecodeCommand(cmd)
	if wantErr == nil {
		want, wantErr = mt.md.apply(index, c)
	} else {
		mt.md.applied = index
	}
	switch {
	case wantErr != nil:
		if !errors.Is(err, wantErr) && !(errors.Is(wantErr, ErrBadCommand) && errors.Is(err, ErrBadCommand)) {
			t.Fatalf("index %d, %#v: machine says (%x, %v), model refuses with %v", index, c, out, err, wantErr)
		}
		if out != nil {
			t.Fatalf("index %d: a result %x with the refusal", index, out)
		}
	case err != nil:
		t.Fatalf("index %d, %#v: machine refuses with %v, model says %#v", index, c, err, want)
	case !bytes.Equal(out, want.Encode(nil)):
		got, _ := DecodeResult(out)
		t.Fatalf("index %d, %#v:\nmachine %#v\n  model %#v", index, c, got, want)
	}
}

func (mt *machineTest) Apply(t *rapid.T) { mt.applyBoth(t, mt.drawCommand(t).Encode(nil)) }

func (mt *machineTest) ApplyGarbage(t *rapid.T) {
	mt.applyBoth(t, rapid.SliceOfN(rapid.Byte(), 0, 6).Draw(t, "garbage"))
}

// Replay re-applies an index already applied, with any command: raft
// replays its log on start, and the machine has those entries already.
func (mt *machineTest) Replay(t *rapid.T) {
	if mt.md.applied == 0 {
		t.Skip("nothing applied")
	}
	index := rapid.Uint64Range(1, mt.md.applied).Draw(t, "index")
	if out, err := mt.m.Apply(index, mt.drawCommand(t).Encode(nil)); out != nil || err != nil {
		t.Fatalf("replay at %d of %d: (%x, %v)", index, mt.md.applied, out, err)
	}
}

func (mt *machineTest) Reopen(t *rapid.T) {
	if err := mt.eng.Close(); err != nil {
		t.Fatal(err)
	}
	mt.open(t)
}

// Crash loses everything not synced, then does what raftgroup does on
// start: restores its latest snapshot and replays the log after it. The
// entries the machine lost come back, with the same results.
func (mt *machineTest) Crash(t *rapid.T) {
	crashed := mt.fs.CrashClone(vfs.CrashCloneCfg{})
	if err := mt.eng.Close(); err != nil {
		t.Fatal(err)
	}
	mt.fs = crashed
	mt.open(t)
	if mt.snap != nil {
		if err := mt.m.Restore(mt.snap.index, mt.snap.data); err != nil {
			t.Fatalf("restore at open: %v", err)
		}
	}
	durable := mt.m.Applied()
	if durable > mt.md.applied {
		t.Fatalf("applied %d after a crash, beyond %d", durable, mt.md.applied)
	}
	for _, e := range mt.log {
		out, err := mt.m.Apply(e.index, e.cmd)
		if e.index <= durable {
			if out != nil || err != nil {
				t.Fatalf("replay of durable index %d: (%x, %v)", e.index, out, err)
			}
			continue
		}
		if !bytes.Equal(out, e.out) || fmt.Sprint(err) != fmt.Sprint(e.err) {
			t.Fatalf("index %d applied again: (%x, %v), first (%x, %v)", e.index, out, err, e.out, e.err)
		}
	}
}

// Snapshot moves the state to a fresh machine, which has state of its
// own, by Snapshot and Restore, as a follower far behind gets it. Raft
// keeps the snapshot and drops the log before it.
func (mt *machineTest) Snapshot(t *rapid.T) {
	index := mt.md.applied + rapid.Uint64Range(0, 2).Draw(t, "past applied")
	if index <= 1 {
		t.Skip("nothing to snapshot past")
	}
	snap, err := mt.m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := mt.eng.Close(); err != nil {
		t.Fatal(err)
	}
	mt.fs = vfs.NewCrashableMem()
	mt.open(t)
	own := rapid.Uint64Range(0, min(index-1, 3)).Draw(t, "own keys")
	for i := uint64(1); i <= own; i++ {
		if _, err := mt.m.Apply(i, Set{Key: mt.drawKey(t), Value: []byte("own")}.Encode(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := mt.m.Restore(index, snap); err != nil {
		t.Fatalf("restore at %d: %v", index, err)
	}
	mt.md.applied = index
	mt.snap, mt.log = &raftSnapshot{index, snap}, nil
}

// StaleRestore offers a snapshot at or below the applied index: the machine
// is newer and keeps its state.
func (mt *machineTest) StaleRestore(t *rapid.T) {
	index := rapid.Uint64Range(0, mt.md.applied).Draw(t, "index")
	snap := appendSnapEntry(appendSnapHeader(nil, index), snapEntry{key: []byte("stale"), version: max(index, 1)})
	if err := mt.m.Restore(index, snap); err != nil {
		t.Fatalf("restore at %d, applied %d: %v", index, mt.md.applied, err)
	}
}

// Check compares every key the machine has, by its snapshot, and every key
// by Get, with the model.
func (mt *machineTest) Check(t *rapid.T) {
	if got := mt.m.Applied(); got != mt.md.applied {
		t.Fatalf("applied %d, model %d", got, mt.md.applied)
	}
	snap, err := mt.m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	applied, entries, _, err := decodeSnapshot(snap)
	if err != nil {
		t.Fatalf("own snapshot: %v", err)
	}
	if applied != mt.md.applied {
		t.Fatalf("snapshot at %d, model at %d", applied, mt.md.applied)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%q=%q@%d", e.key, e.value, e.version))
	}
	var want []string
	for _, k := range slices.Sorted(maps.Keys(mt.md.kv)) {
		e := mt.md.kv[k]
		want = append(want, fmt.Sprintf("%q=%q@%d", k, e.value, e.version))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("machine holds\n%v\nmodel holds\n%v", got, want)
	}
	for _, k := range append(modelKeys, "stale") {
		v, ver, found, err := mt.m.Get([]byte(k))
		e, ok := mt.md.kv[k]
		if err != nil || found != ok || string(v) != e.value || ver != e.version {
			t.Fatalf("get %q: (%q, %d, %v, %v), model (%q, %d, %v)", k, v, ver, found, err, e.value, e.version, ok)
		}
	}
}

func TestMachineAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mt := &machineTest{fs: vfs.NewCrashableMem(), md: model{kv: map[string]modelEntry{}}}
		mt.open(t)
		defer func() { mt.eng.Close() }()
		actions := rapid.StateMachineActions(mt)
		// Mostly commands.
		actions["Apply2"], actions["Apply3"], actions["Apply4"] = mt.Apply, mt.Apply, mt.Apply
		t.Repeat(actions)
	})
}
