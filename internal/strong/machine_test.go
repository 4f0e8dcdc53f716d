package strong

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/pandodb/pando/internal/raftgroup"
	"github.com/pandodb/pando/internal/storage"
)

const testGroup = 7

func openEngine(t *testing.T, dir string) *storage.Engine {
	t.Helper()
	eng, err := storage.Open(storage.Config{Dir: dir})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return eng
}

func newMachine(t *testing.T, eng *storage.Engine) *Machine {
	t.Helper()
	m, err := NewMachine(eng, testGroup)
	if err != nil {
		t.Fatalf("new machine: %v", err)
	}
	return m
}

// testMachine is a machine on an engine in a fresh directory, closed at
// the end of the test.
func testMachine(t *testing.T) *Machine {
	t.Helper()
	eng := openEngine(t, t.TempDir())
	t.Cleanup(func() { eng.Close() })
	return newMachine(t, eng)
}

// run applies c at index and decodes its result.
func run(t *testing.T, m *Machine, index uint64, c Command) (Result, error) {
	t.Helper()
	out, err := m.Apply(index, c.Encode(nil))
	if err != nil {
		if out != nil {
			t.Fatalf("index %d: both a result %x and an error %v", index, out, err)
		}
		return nil, err
	}
	res, derr := DecodeResult(out)
	if derr != nil {
		t.Fatalf("index %d: result %x: %v", index, out, derr)
	}
	return res, nil
}

// mustRun applies c at index, which must not be refused.
func mustRun[R Result](t *testing.T, m *Machine, index uint64, c Command) R {
	t.Helper()
	res, err := run(t, m, index, c)
	if err != nil {
		t.Fatalf("index %d: %v", index, err)
	}
	r, ok := res.(R)
	if !ok {
		t.Fatalf("index %d: result %#v is a %T", index, res, res)
	}
	return r
}

// state is what Get returns for key, as "value@version" or "absent".
func state(t *testing.T, m *Machine, key string) string {
	t.Helper()
	v, ver, found, err := m.Get([]byte(key))
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	if !found {
		if v != nil || ver != 0 {
			t.Fatalf("get %q: absent with value %q, version %d", key, v, ver)
		}
		return "absent"
	}
	return fmt.Sprintf("%s@%d", v, ver)
}

func expectState(t *testing.T, m *Machine, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got := state(t, m, k); got != w {
			t.Errorf("key %q is %s, want %s", k, got, w)
		}
	}
}

func b(s string) []byte { return []byte(s) }

func TestSetConditionsAndGet(t *testing.T) {
	m := testMachine(t)
	// NX on an absent key writes, at the command's index.
	r := mustRun[SetResult](t, m, 1, Set{Key: b("k"), Value: b("v1"), Cond: IfAbsent, Get: true})
	if !r.Written || r.Existed || r.Old != nil || r.Version != 1 {
		t.Fatalf("NX on absent: %+v", r)
	}
	// NX on a present key leaves it, and reports its version.
	r = mustRun[SetResult](t, m, 2, Set{Key: b("k"), Value: b("v2"), Cond: IfAbsent, Get: true})
	if r.Written || !r.Existed || string(r.Old) != "v1" || r.Version != 1 {
		t.Fatalf("NX on present: %+v", r)
	}
	// XX on an absent key does nothing.
	r = mustRun[SetResult](t, m, 3, Set{Key: b("other"), Value: b("x"), Cond: IfPresent})
	if r.Written || r.Existed || r.Version != 0 {
		t.Fatalf("XX on absent: %+v", r)
	}
	// XX on a present key writes; without GET the old value is not sent.
	r = mustRun[SetResult](t, m, 4, Set{Key: b("k"), Value: b("v3"), Cond: IfPresent})
	if !r.Written || !r.Existed || r.Old != nil || r.Version != 4 {
		t.Fatalf("XX on present: %+v", r)
	}
	// A plain SET ... GET returns the value it replaced.
	r = mustRun[SetResult](t, m, 5, Set{Key: b("k"), Value: nil, Get: true})
	if !r.Written || string(r.Old) != "v3" || r.Version != 5 {
		t.Fatalf("SET GET: %+v", r)
	}
	// A blind SET writes without looking at what was there.
	r = mustRun[SetResult](t, m, 6, Set{Key: b("k"), Value: b("v6")})
	if !r.Written || r.Existed || r.Old != nil || r.Version != 6 {
		t.Fatalf("blind SET: %+v", r)
	}
	expectState(t, m, map[string]string{"k": "v6@6", "other": "absent"})
	if m.Applied() != 6 {
		t.Fatalf("applied %d, want 6", m.Applied())
	}
}

func TestDelCountsKeysThatExisted(t *testing.T) {
	m := testMachine(t)
	mustRun[SetResult](t, m, 1, Set{Key: b("a"), Value: b("1")})
	mustRun[SetResult](t, m, 2, Set{Key: b("b"), Value: b("2")})
	// "a" twice counts once, as in Redis: the second finds it gone.
	r := mustRun[DelResult](t, m, 3, Del{Keys: [][]byte{b("a"), b("b"), b("c"), b("a")}})
	if r.Deleted != 2 {
		t.Fatalf("deleted %d, want 2", r.Deleted)
	}
	expectState(t, m, map[string]string{"a": "absent", "b": "absent", "c": "absent"})
	if r := mustRun[DelResult](t, m, 4, Del{Keys: [][]byte{b("a")}}); r.Deleted != 0 {
		t.Fatalf("deleting an absent key counted %d", r.Deleted)
	}
}

func TestIncrBy(t *testing.T) {
	m := testMachine(t)
	r := mustRun[IncrByResult](t, m, 1, IncrBy{Key: b("n"), Delta: 5})
	if r.Value != 5 || r.Version != 1 {
		t.Fatalf("INCRBY on absent: %+v", r)
	}
	r = mustRun[IncrByResult](t, m, 2, IncrBy{Key: b("n"), Delta: -7})
	if r.Value != -2 || r.Version != 2 {
		t.Fatalf("INCRBY -7: %+v", r)
	}
	expectState(t, m, map[string]string{"n": "-2@2"}) // stored as decimal text

	refusals := []struct {
		value string
		delta int64
		want  error
	}{
		{"abc", 1, ErrNotInteger},
		{"", 1, ErrNotInteger},
		{" 1", 1, ErrNotInteger},
		{"1 ", 1, ErrNotInteger},
		{"+1", 1, ErrNotInteger},
		{"01", 1, ErrNotInteger},
		{"-0", 1, ErrNotInteger},
		{"1.0", 1, ErrNotInteger},
		{"9223372036854775808", -1, ErrNotInteger}, // does not fit an int64
		{"-9223372036854775809", 1, ErrNotInteger}, // nor this
		{"9223372036854775807", 1, ErrOverflow},
		{"-9223372036854775808", -1, ErrOverflow},
		{"1", math.MinInt64, nil},
		{"-1", math.MaxInt64, nil},
	}
	index := uint64(10)
	for _, tc := range refusals {
		index += 2
		mustRun[SetResult](t, m, index, Set{Key: b("x"), Value: b(tc.value)})
		_, err := run(t, m, index+1, IncrBy{Key: b("x"), Delta: tc.delta})
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("INCRBY %d on %q: %v, want %v", tc.delta, tc.value, err, tc.want)
		}
		if tc.want != nil {
			if got, want := state(t, m, "x"), fmt.Sprintf("%s@%d", tc.value, index); got != want {
				t.Errorf("refused INCRBY on %q changed it: %s", tc.value, got)
			}
		}
		if m.Applied() != index+1 {
			t.Errorf("applied %d after INCRBY on %q, want %d: a refusal moves the applied index too", m.Applied(), tc.value, index+1)
		}
	}
	if got := state(t, m, "x"); got != fmt.Sprintf("9223372036854775806@%d", index+1) {
		t.Errorf("last INCRBY left %s", got)
	}
}

func TestIncrByFloor(t *testing.T) {
	m := testMachine(t)
	mustRun[SetResult](t, m, 1, Set{Key: b("acct"), Value: b("100")})
	_, err := run(t, m, 2, IncrBy{Key: b("acct"), Delta: -101, Floor: 0, HasFloor: true})
	if !errors.Is(err, ErrBelowFloor) {
		t.Fatalf("debit below the floor: %v, want ErrBelowFloor", err)
	}
	expectState(t, m, map[string]string{"acct": "100@1"})
	r := mustRun[IncrByResult](t, m, 3, IncrBy{Key: b("acct"), Delta: -100, Floor: 0, HasFloor: true})
	if r.Value != 0 {
		t.Fatalf("debit to the floor: %+v", r)
	}
	// Without HasFloor, Floor means nothing.
	r = mustRun[IncrByResult](t, m, 4, IncrBy{Key: b("acct"), Delta: -1, Floor: 50})
	if r.Value != -1 {
		t.Fatalf("debit without a floor: %+v", r)
	}
	// An absent key counts as 0 against the floor too.
	if _, err := run(t, m, 5, IncrBy{Key: b("new"), Delta: -1, HasFloor: true}); !errors.Is(err, ErrBelowFloor) {
		t.Fatalf("debit of an absent key: %v", err)
	}
	expectState(t, m, map[string]string{"acct": "-1@4", "new": "absent"})
	// A credit is never refused, even one that leaves the balance below
	// the floor: it can only bring the account closer to covering it.
	r = mustRun[IncrByResult](t, m, 6, IncrBy{Key: b("acct"), Delta: 1, Floor: 10, HasFloor: true})
	if r.Value != 0 {
		t.Fatalf("credit below the floor: %+v", r)
	}
	if m.Applied() != 6 {
		t.Fatalf("applied %d, want 6", m.Applied())
	}
}

func TestCASByValue(t *testing.T) {
	m := testMachine(t)
	// Expecting absence on an absent key swaps.
	r := mustRun[CASResult](t, m, 1, CAS{Key: b("k"), ExpectAbsent: true, New: b("v1")})
	if !r.Swapped || r.Version != 1 {
		t.Fatalf("CAS on absent: %+v", r)
	}
	// A mismatch changes nothing and reports the current value.
	r = mustRun[CASResult](t, m, 2, CAS{Key: b("k"), ExpectedValue: b("nope"), New: b("v2")})
	if r.Swapped || r.Version != 1 || string(r.Value) != "v1" {
		t.Fatalf("CAS mismatch: %+v", r)
	}
	r = mustRun[CASResult](t, m, 3, CAS{Key: b("k"), ExpectAbsent: true, New: b("v2")})
	if r.Swapped || r.Version != 1 {
		t.Fatalf("CAS expecting absence on present: %+v", r)
	}
	// An empty expected value is not absence.
	r = mustRun[CASResult](t, m, 4, CAS{Key: b("missing"), ExpectedValue: nil, New: b("x")})
	if r.Swapped || r.Version != 0 {
		t.Fatalf("CAS expecting empty on absent: %+v", r)
	}
	expectState(t, m, map[string]string{"k": "v1@1", "missing": "absent"})
	r = mustRun[CASResult](t, m, 5, CAS{Key: b("k"), ExpectedValue: b("v1"), New: b("v2")})
	if !r.Swapped || r.Version != 5 {
		t.Fatalf("CAS match: %+v", r)
	}
	r = mustRun[CASResult](t, m, 6, CAS{Key: b("k"), ExpectedValue: b("v2"), Delete: true})
	if !r.Swapped || r.Version != 0 {
		t.Fatalf("CAS delete: %+v", r)
	}
	expectState(t, m, map[string]string{"k": "absent"})
}

func TestCASByVersion(t *testing.T) {
	m := testMachine(t)
	r := mustRun[CASResult](t, m, 3, CAS{Key: b("k"), ByVersion: true, ExpectedVersion: 0, New: b("a")})
	if !r.Swapped || r.Version != 3 {
		t.Fatalf("CAS version 0 on absent: %+v", r)
	}
	for _, stale := range []uint64{0, 2, 4} {
		r = mustRun[CASResult](t, m, 10+stale, CAS{Key: b("k"), ByVersion: true, ExpectedVersion: stale, New: b("b")})
		if r.Swapped || r.Version != 3 || string(r.Value) != "a" {
			t.Fatalf("CAS on version %d, key at 3: %+v", stale, r)
		}
	}
	expectState(t, m, map[string]string{"k": "a@3"})
	r = mustRun[CASResult](t, m, 20, CAS{Key: b("k"), ByVersion: true, ExpectedVersion: 3, New: b("b")})
	if !r.Swapped || r.Version != 20 {
		t.Fatalf("CAS on the current version: %+v", r)
	}
	r = mustRun[CASResult](t, m, 21, CAS{Key: b("k"), ByVersion: true, ExpectedVersion: 20, Delete: true})
	if !r.Swapped {
		t.Fatalf("CAS delete by version: %+v", r)
	}
	expectState(t, m, map[string]string{"k": "absent"})
}

func TestTxnCommitsInOrder(t *testing.T) {
	m := testMachine(t)
	mustRun[SetResult](t, m, 1, Set{Key: b("from"), Value: b("10")})
	r := mustRun[TxnResult](t, m, 2, Txn{
		Conds: []Cond{{Key: b("from"), Version: 1}, {Key: b("to"), Version: 0}},
		Ops: []Op{
			IncrBy{Key: b("from"), Delta: -4, HasFloor: true},
			IncrBy{Key: b("to"), Delta: 4},
			IncrBy{Key: b("to"), Delta: 1},                     // sees the op before it
			Set{Key: b("tmp"), Value: b("t"), Cond: IfAbsent},  // written
			Set{Key: b("tmp"), Value: b("u"), Get: true},       // sees "t"
			Del{Keys: [][]byte{b("tmp"), b("gone")}},           // sees "tmp"
			Set{Key: b("tmp"), Value: b("v"), Cond: IfPresent}, // sees it deleted
		},
	})
	if r.Aborted || len(r.Ops) != 7 {
		t.Fatalf("txn: %+v", r)
	}
	for i, o := range r.Ops {
		if o.Err != nil {
			t.Fatalf("op %d: %v", i, o.Err)
		}
	}
	if v := r.Ops[0].Result.(IncrByResult).Value; v != 6 {
		t.Errorf("debit left %d", v)
	}
	if v := r.Ops[2].Result.(IncrByResult).Value; v != 5 {
		t.Errorf("second credit saw %d, want 5", v)
	}
	if s := r.Ops[3].Result.(SetResult); !s.Written {
		t.Errorf("SET NX: %+v", s)
	}
	if s := r.Ops[4].Result.(SetResult); !s.Written || string(s.Old) != "t" {
		t.Errorf("SET GET after SET NX: %+v", s)
	}
	if d := r.Ops[5].Result.(DelResult); d.Deleted != 1 {
		t.Errorf("DEL in txn counted %d, want 1", d.Deleted)
	}
	if s := r.Ops[6].Result.(SetResult); s.Written || s.Existed {
		t.Errorf("SET XX after DEL: %+v", s)
	}
	expectState(t, m, map[string]string{"from": "6@2", "to": "5@2", "tmp": "absent"})
}

func TestTxnAbortChangesNothing(t *testing.T) {
	m := testMachine(t)
	mustRun[SetResult](t, m, 1, Set{Key: b("a"), Value: b("1")})
	mustRun[SetResult](t, m, 2, Set{Key: b("b"), Value: b("2")})
	before := map[string]string{"a": "1@1", "b": "2@2", "c": "absent"}
	ops := []Op{Set{Key: b("a"), Value: b("x")}, Del{Keys: [][]byte{b("b")}}, IncrBy{Key: b("c"), Delta: 1}}
	for i, conds := range [][]Cond{
		{{Key: b("a"), Version: 2}},                            // a is at 1
		{{Key: b("a"), Version: 1}, {Key: b("c"), Version: 3}}, // c is absent
		{{Key: b("b"), Version: 0}},                            // b is present
	} {
		index := uint64(10 + i)
		r := mustRun[TxnResult](t, m, index, Txn{Conds: conds, Ops: ops})
		if !r.Aborted || len(r.Ops) != 0 {
			t.Errorf("txn %d with a failing condition: %+v", i, r)
		}
		expectState(t, m, before)
		if m.Applied() != index {
			t.Errorf("applied %d after an aborted txn, want %d", m.Applied(), index)
		}
	}
}

func TestTxnOpErrorDoesNotStopTheOthers(t *testing.T) {
	m := testMachine(t)
	mustRun[SetResult](t, m, 1, Set{Key: b("s"), Value: b("text")})
	r := mustRun[TxnResult](t, m, 2, Txn{Ops: []Op{
		Set{Key: b("a"), Value: b("1")},
		IncrBy{Key: b("s"), Delta: 1},
		IncrBy{Key: b("a"), Delta: 9223372036854775807},
		IncrBy{Key: b("a"), Delta: 1},
	}})
	if r.Aborted || len(r.Ops) != 4 {
		t.Fatalf("txn: %+v", r)
	}
	if !errors.Is(r.Ops[1].Err, ErrNotInteger) || r.Ops[1].Result != nil {
		t.Errorf("INCR of text in a txn: %+v", r.Ops[1])
	}
	if !errors.Is(r.Ops[2].Err, ErrOverflow) {
		t.Errorf("overflowing INCRBY in a txn: %+v", r.Ops[2])
	}
	if r.Ops[3].Err != nil || r.Ops[3].Result.(IncrByResult).Value != 2 {
		t.Errorf("INCR after the refused ops: %+v", r.Ops[3])
	}
	expectState(t, m, map[string]string{"a": "2@2", "s": "text@1"})
}

// A Get inside a Txn reads what the ops before it left (MULTI; SET; GET;
// EXEC answers the value just set), and writes nothing.
func TestTxnGetSeesTheOpsBeforeIt(t *testing.T) {
	m := testMachine(t)
	mustRun[SetResult](t, m, 1, Set{Key: b("a"), Value: b("old")})
	r := mustRun[TxnResult](t, m, 2, Txn{Ops: []Op{
		Get{Key: b("a")},
		Set{Key: b("a"), Value: b("new")},
		Get{Key: b("a")},
		IncrBy{Key: b("n"), Delta: 7},
		Get{Key: b("n")},
		Del{Keys: [][]byte{b("a")}},
		Get{Key: b("a")},
		Get{Key: b("never")},
	}})
	want := []GetResult{
		{Value: b("old"), Found: true, Version: 1},
		{Value: b("new"), Found: true, Version: 2},
		{Value: b("7"), Found: true, Version: 2},
		{},
		{},
	}
	var got []GetResult
	for i, o := range r.Ops {
		if o.Err != nil {
			t.Fatalf("op %d: %v", i, o.Err)
		}
		if g, ok := o.Result.(GetResult); ok {
			got = append(got, g)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("gets in the txn:\n got %v\nwant %v", got, want)
	}
	expectState(t, m, map[string]string{"a": "absent", "n": "7@2", "never": "absent"})
	// On its own, a Get reads the applied state and changes nothing.
	if g := mustRun[GetResult](t, m, 3, Get{Key: b("n")}); !g.Found || string(g.Value) != "7" || g.Version != 2 {
		t.Fatalf("get: %+v", g)
	}
	expectState(t, m, map[string]string{"n": "7@2"})
}

func TestTxnFloorRefusesTheWholeTxn(t *testing.T) {
	m := testMachine(t)
	mustRun[SetResult](t, m, 1, Set{Key: b("from"), Value: b("3")})
	_, err := run(t, m, 2, Txn{Ops: []Op{
		IncrBy{Key: b("to"), Delta: 5},
		Set{Key: b("log"), Value: b("transfer")},
		IncrBy{Key: b("from"), Delta: -5, HasFloor: true},
	}})
	if !errors.Is(err, ErrBelowFloor) {
		t.Fatalf("transfer past the floor: %v, want ErrBelowFloor", err)
	}
	expectState(t, m, map[string]string{"from": "3@1", "to": "absent", "log": "absent"})
	if m.Applied() != 2 {
		t.Fatalf("applied %d, want 2", m.Applied())
	}
}

func TestUndecodableCommandIsRefusedAndApplied(t *testing.T) {
	m := testMachine(t)
	mustRun[SetResult](t, m, 1, Set{Key: b("k"), Value: b("v")})
	good := Set{Key: b("k"), Value: b("w")}.Encode(nil)
	for i, cmd := range [][]byte{nil, {codecVersion}, {99, kindSet}, append(good, 0), good[:len(good)-1]} {
		index := uint64(2 + i)
		out, err := m.Apply(index, cmd)
		if !errors.Is(err, ErrBadCommand) || out != nil {
			t.Errorf("command %x: (%x, %v), want ErrBadCommand", cmd, out, err)
		}
		if m.Applied() != index {
			t.Errorf("applied %d after an undecodable command, want %d", m.Applied(), index)
		}
	}
	expectState(t, m, map[string]string{"k": "v@1"})
}

func TestReplayedIndexesChangeNothing(t *testing.T) {
	m := testMachine(t)
	mustRun[SetResult](t, m, 5, Set{Key: b("k"), Value: b("v")})
	for _, index := range []uint64{1, 4, 5} {
		out, err := m.Apply(index, Set{Key: b("k"), Value: b("other")}.Encode(nil))
		if out != nil || err != nil {
			t.Fatalf("replay at %d: (%x, %v), want nothing", index, out, err)
		}
		// Even an undecodable command: it was applied long ago.
		if out, err := m.Apply(index, []byte{0xff}); out != nil || err != nil {
			t.Fatalf("replay of garbage at %d: (%x, %v)", index, out, err)
		}
	}
	expectState(t, m, map[string]string{"k": "v@5"})
	if m.Applied() != 5 {
		t.Fatalf("applied %d, want 5", m.Applied())
	}
}

func TestStateSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	eng := openEngine(t, dir)
	m := newMachine(t, eng)
	mustRun[SetResult](t, m, 1, Set{Key: b("a"), Value: b("1")})
	mustRun[IncrByResult](t, m, 2, IncrBy{Key: b("n"), Delta: 42})
	mustRun[SetResult](t, m, 3, Set{Key: b("b"), Value: b("2")})
	mustRun[DelResult](t, m, 4, Del{Keys: [][]byte{b("b")}})
	// Another group in the same engine is not this one.
	other, err := NewMachine(eng, testGroup+1)
	if err != nil {
		t.Fatal(err)
	}
	if other.Applied() != 0 || state(t, other, "a") != "absent" {
		t.Fatal("group 8 sees group 7's state")
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}

	eng = openEngine(t, dir)
	defer eng.Close()
	m = newMachine(t, eng)
	if m.Applied() != 4 {
		t.Fatalf("applied %d after reopen, want 4", m.Applied())
	}
	expectState(t, m, map[string]string{"a": "1@1", "n": "42@2", "b": "absent"})
	// Raft replays the log after its snapshot: nothing changes.
	mustNotApply := []Command{Set{Key: b("a"), Value: b("x")}, IncrBy{Key: b("n"), Delta: 1}, Del{Keys: [][]byte{b("a")}}}
	for i, c := range mustNotApply {
		if out, err := m.Apply(uint64(2+i), c.Encode(nil)); out != nil || err != nil {
			t.Fatalf("replay: (%x, %v)", out, err)
		}
	}
	expectState(t, m, map[string]string{"a": "1@1", "n": "42@2", "b": "absent"})
	r := mustRun[IncrByResult](t, m, 5, IncrBy{Key: b("n"), Delta: 1})
	if r.Value != 43 {
		t.Fatalf("INCR after reopen: %+v", r)
	}
}

func TestSnapshotRestoresIntoAnotherMachine(t *testing.T) {
	a := testMachine(t)
	mustRun[SetResult](t, a, 1, Set{Key: b("k1"), Value: b("v1")})
	mustRun[SetResult](t, a, 2, Set{Key: b(""), Value: nil}) // empty key and value
	mustRun[IncrByResult](t, a, 4, IncrBy{Key: b("n"), Delta: -3})
	mustRun[SetResult](t, a, 5, Set{Key: b("gone"), Value: b("x")})
	mustRun[DelResult](t, a, 6, Del{Keys: [][]byte{b("gone")}})
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	bm := testMachine(t)
	// B has keys of its own, some not in the snapshot, and a lower index.
	mustRun[SetResult](t, bm, 1, Set{Key: b("stale"), Value: b("s")})
	mustRun[SetResult](t, bm, 2, Set{Key: b("k1"), Value: b("old")})
	// Raft's snapshot index may be past the machine's last command (an
	// empty entry of a new leader came after it).
	if err := bm.Restore(8, snap); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k1": "v1@1", "": "@2", "n": "-3@4", "gone": "absent", "stale": "absent"}
	expectState(t, bm, want)
	expectState(t, a, want)
	if bm.Applied() != 8 {
		t.Fatalf("applied %d after restore, want 8", bm.Applied())
	}
	again, err := bm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	_, entriesA, _, _ := decodeSnapshot(snap)
	_, entriesB, _, _ := decodeSnapshot(again)
	if fmt.Sprint(entriesA) != fmt.Sprint(entriesB) || len(entriesA) != 3 {
		t.Fatalf("snapshots differ: %v and %v", entriesA, entriesB)
	}

	// An older snapshot is ignored: the machine is already past it.
	if err := bm.Restore(8, Set{}.Encode(nil)); err != nil {
		t.Fatalf("restore at the applied index: %v", err)
	}
	empty, _ := testMachine(t).Snapshot()
	if err := bm.Restore(3, empty); err != nil {
		t.Fatalf("restore of an older snapshot: %v", err)
	}
	expectState(t, bm, want)
	if bm.Applied() != 8 {
		t.Fatalf("applied %d after an older restore, want 8", bm.Applied())
	}
	// A newer one replaces everything, even with nothing.
	if err := bm.Restore(9, empty); err != nil {
		t.Fatal(err)
	}
	expectState(t, bm, map[string]string{"k1": "absent", "": "absent", "n": "absent"})
}

func TestRestoreSurvivesReopen(t *testing.T) {
	a := testMachine(t)
	mustRun[SetResult](t, a, 1, Set{Key: b("k"), Value: b("v")})
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	eng := openEngine(t, dir)
	if err := newMachine(t, eng).Restore(3, snap); err != nil {
		t.Fatal(err)
	}
	eng.Close()
	eng = openEngine(t, dir)
	defer eng.Close()
	m := newMachine(t, eng)
	if m.Applied() != 3 {
		t.Fatalf("applied %d, want 3", m.Applied())
	}
	expectState(t, m, map[string]string{"k": "v@1"})
}

func TestRestoreRefusesBadSnapshots(t *testing.T) {
	a := testMachine(t)
	mustRun[SetResult](t, a, 5, Set{Key: b("k"), Value: b("v")})
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	m := testMachine(t)
	mustRun[SetResult](t, m, 1, Set{Key: b("mine"), Value: b("x")})
	for name, c := range map[string]struct {
		index uint64
		data  []byte
	}{
		// Taken after index 5: restoring it as of 4 would apply 5 twice.
		"from the future": {4, snap},
		"truncated":       {6, snap[:len(snap)-1]},
		"trailing byte":   {6, append(bytes.Clone(snap), 0)},
		"empty":           {6, nil},
		"unsorted": {6, appendSnapEntry(appendSnapEntry(appendSnapHeader(nil, 6),
			snapEntry{key: b("b"), version: 1}), snapEntry{key: b("a"), version: 1})},
		"version past applied": {6, appendSnapEntry(appendSnapHeader(nil, 6), snapEntry{key: b("a"), version: 7})},
		"version 0":            {6, appendSnapEntry(appendSnapHeader(nil, 6), snapEntry{key: b("a")})},
	} {
		if err := m.Restore(c.index, c.data); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: %v, want ErrBadSnapshot", name, err)
		}
	}
	expectState(t, m, map[string]string{"mine": "x@1", "k": "absent"})
	if m.Applied() != 1 {
		t.Fatalf("applied %d after refused restores", m.Applied())
	}
}

func TestMachineStopsOnStorageFailure(t *testing.T) {
	eng := openEngine(t, t.TempDir())
	m := newMachine(t, eng)
	mustRun[SetResult](t, m, 1, Set{Key: b("k"), Value: b("v")})
	eng.Close()
	// The write cannot commit: the command must not count as applied, and
	// nothing after it may apply either.
	if _, err := m.Apply(2, Set{Key: b("k"), Value: b("w")}.Encode(nil)); !errors.Is(err, ErrFailed) || !errors.Is(err, raftgroup.ErrFatal) {
		t.Fatalf("apply on a closed engine: %v, want ErrFailed, which stops the Raft group", err)
	}
	if m.Applied() != 1 {
		t.Fatalf("applied %d after a failed apply, want 1", m.Applied())
	}
	if _, err := m.Apply(3, Del{}.Encode(nil)); !errors.Is(err, ErrFailed) {
		t.Fatalf("apply after a failure: %v, want ErrFailed", err)
	}
	if _, err := m.Snapshot(); !errors.Is(err, ErrFailed) {
		t.Fatalf("snapshot after a failure: %v, want ErrFailed", err)
	}
}

func TestMachineStopsOnCorruptRecord(t *testing.T) {
	eng := openEngine(t, t.TempDir())
	defer eng.Close()
	m := newMachine(t, eng)
	mustRun[SetResult](t, m, 1, Set{Key: b("k"), Value: b("v")})
	wb := eng.NewBatch()
	wb.Set(storage.StrongKey(nil, testGroup, b("bad")), []byte{0}) // version 0: no record has it
	if err := eng.Commit(wb, true); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := m.Get(b("bad")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("get of a corrupt record: %v, want ErrCorrupt", err)
	}
	// This member cannot tell what the command does; the others can. It
	// must stop rather than skip it.
	if _, err := m.Apply(2, IncrBy{Key: b("bad"), Delta: 1}.Encode(nil)); !errors.Is(err, ErrFailed) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("apply over a corrupt record: %v, want ErrFailed and ErrCorrupt", err)
	}
	if _, err := m.Apply(3, Set{Key: b("k"), Value: b("w")}.Encode(nil)); !errors.Is(err, ErrFailed) {
		t.Fatalf("apply after a failure: %v, want ErrFailed", err)
	}
	if err := m.Restore(4, Set{}.Encode(nil)); !errors.Is(err, ErrFailed) {
		t.Fatalf("restore after a failure: %v, want ErrFailed", err)
	}
	if m.Applied() != 1 {
		t.Fatalf("applied %d, want 1", m.Applied())
	}
	expectState(t, m, map[string]string{"k": "v@1"})
}

func TestGetDuringApply(t *testing.T) {
	m := testMachine(t)
	const n = 300
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var last int
		for {
			select {
			case <-done:
				return
			default:
			}
			v, ver, found, err := m.Get(b("n"))
			if err != nil {
				t.Error(err)
				return
			}
			if !found {
				continue
			}
			// The value and its version come from one record: INCR at
			// index i leaves i.
			if string(v) != fmt.Sprint(ver) || int(ver) < last {
				t.Errorf("read %q at version %d after %d", v, ver, last)
				return
			}
			last = int(ver)
		}
	}()
	for i := uint64(1); i <= n; i++ {
		mustRun[IncrByResult](t, m, i, IncrBy{Key: b("n"), Delta: 1})
	}
}

// appendSnapHeader appends a version 1 snapshot's header: its keys follow
// to the end.
func appendSnapHeader(dst []byte, applied uint64) []byte {
	return binary.AppendUvarint(append(dst, snapshotV1), applied)
}

// TestIncrByWithIDAppliesOnce: an IncrBy retried under its request id
// answers what it answered and adds nothing, also in another machine
// restored from a snapshot; an id is remembered for at least idEpoch
// commands and forgotten after two epochs.
func TestIncrByWithIDAppliesOnce(t *testing.T) {
	m := testMachine(t)
	once := IncrBy{Key: b("acct"), Delta: 5, ID: "req-1"}
	if r := mustRun[IncrByResult](t, m, 1, once); r.Value != 5 {
		t.Fatalf("first: %+v", r)
	}
	mustRun[IncrByResult](t, m, 2, IncrBy{Key: b("acct"), Delta: 1})
	if r := mustRun[IncrByResult](t, m, 3, once); r.Value != 5 || r.Version != 1 {
		t.Fatalf("a retry answers %+v, want the first answer (5 at version 1)", r)
	}
	expectState(t, m, map[string]string{"acct": "6@2"})
	// Within one command (a Txn of two), the second sees the first's id.
	twice := Txn{Ops: []Op{IncrBy{Key: b("acct"), Delta: 2, ID: "req-2"}, IncrBy{Key: b("acct"), Delta: 2, ID: "req-2"}}}
	mustRun[TxnResult](t, m, 4, twice)
	expectState(t, m, map[string]string{"acct": "8@4"})

	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := testMachine(t)
	if err := other.Restore(4, snap); err != nil {
		t.Fatal(err)
	}
	if r := mustRun[IncrByResult](t, other, 5, once); r.Value != 5 {
		t.Fatalf("a retry after a restore answers %+v", r)
	}
	expectState(t, other, map[string]string{"acct": "8@4"})

	// Still remembered a whole epoch later; forgotten two epochs later.
	if r := mustRun[IncrByResult](t, m, idEpoch+1, once); r.Value != 5 {
		t.Fatalf("a retry one epoch later answers %+v", r)
	}
	if r := mustRun[IncrByResult](t, m, 3*idEpoch, once); r.Value != 13 {
		t.Fatalf("a retry three epochs later answers %+v, want it applied again (13)", r)
	}
	if r := mustRun[IncrByResult](t, m, 3*idEpoch+1, IncrBy{Key: b("acct"), Delta: 1, ID: "req-2"}); r.Value != 14 {
		t.Fatalf("an id two epochs old is still remembered: %+v", r)
	}
}
