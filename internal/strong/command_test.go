package strong

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// Generators of any command and result. Empty byte strings and lists are
// nil, as decoding makes them, so that a round trip can be compared with
// reflect.DeepEqual.

var genBytes = rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 8), func(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
})

func genInt64(t *rapid.T, label string) int64 {
	return rapid.OneOf(rapid.Int64(), rapid.Int64Range(-3, 3)).Draw(t, label)
}

func drawSet(t *rapid.T) Set {
	return Set{
		Key:   genBytes.Draw(t, "key"),
		Value: genBytes.Draw(t, "value"),
		Cond:  rapid.SampledFrom([]SetCond{Always, IfAbsent, IfPresent}).Draw(t, "cond"),
		Get:   rapid.Bool().Draw(t, "get"),
	}
}

func drawDel(t *rapid.T) Del {
	var c Del
	for range rapid.IntRange(0, 3).Draw(t, "keys") {
		c.Keys = append(c.Keys, genBytes.Draw(t, "key"))
	}
	return c
}

func drawIncrBy(t *rapid.T) IncrBy {
	c := IncrBy{Key: genBytes.Draw(t, "key"), Delta: genInt64(t, "delta"), HasFloor: rapid.Bool().Draw(t, "has floor")}
	if c.HasFloor {
		c.Floor = genInt64(t, "floor")
	}
	c.ID = rapid.SampledFrom([]string{"", "req-1", "\x00id"}).Draw(t, "id")
	return c
}

func drawCAS(t *rapid.T) CAS {
	c := CAS{Key: genBytes.Draw(t, "key"), Delete: rapid.Bool().Draw(t, "delete")}
	switch rapid.IntRange(0, 2).Draw(t, "by") {
	case 0:
		c.ByVersion, c.ExpectedVersion = true, rapid.Uint64().Draw(t, "version")
	case 1:
		c.ExpectAbsent = true
	default:
		c.ExpectedValue = genBytes.Draw(t, "expected")
	}
	if !c.Delete {
		c.New = genBytes.Draw(t, "new")
	}
	return c
}

func drawOp(t *rapid.T) Op {
	switch rapid.IntRange(0, 3).Draw(t, "op") {
	case 0:
		return drawSet(t)
	case 1:
		return drawDel(t)
	case 2:
		return Get{Key: genBytes.Draw(t, "key")}
	}
	return drawIncrBy(t)
}

func drawTxn(t *rapid.T) Txn {
	var c Txn
	for range rapid.IntRange(0, 3).Draw(t, "conds") {
		c.Conds = append(c.Conds, Cond{Key: genBytes.Draw(t, "key"), Version: rapid.Uint64().Draw(t, "version")})
	}
	for range rapid.IntRange(0, 4).Draw(t, "ops") {
		c.Ops = append(c.Ops, drawOp(t))
	}
	return c
}

func drawCommand(t *rapid.T) Command {
	switch rapid.IntRange(0, 2).Draw(t, "command") {
	case 0:
		return drawOp(t)
	case 1:
		return drawCAS(t)
	}
	return drawTxn(t)
}

func drawOpResult(t *rapid.T) Result {
	switch rapid.IntRange(0, 3).Draw(t, "result") {
	case 0:
		return SetResult{
			Written: rapid.Bool().Draw(t, "written"),
			Existed: rapid.Bool().Draw(t, "existed"),
			Old:     genBytes.Draw(t, "old"),
			Version: rapid.Uint64().Draw(t, "version"),
		}
	case 1:
		return DelResult{Deleted: rapid.IntRange(0, 1<<20).Draw(t, "deleted")}
	case 2:
		if !rapid.Bool().Draw(t, "found") {
			return GetResult{}
		}
		return GetResult{Found: true, Version: rapid.Uint64Range(1, math.MaxUint64).Draw(t, "version"), Value: genBytes.Draw(t, "value")}
	}
	return IncrByResult{Value: genInt64(t, "value"), Version: rapid.Uint64().Draw(t, "version")}
}

func drawResult(t *rapid.T) Result {
	switch rapid.IntRange(0, 2).Draw(t, "kind") {
	case 0:
		return drawOpResult(t)
	case 1:
		return CASResult{
			Swapped: rapid.Bool().Draw(t, "swapped"),
			Version: rapid.Uint64().Draw(t, "version"),
			Value:   genBytes.Draw(t, "value"),
		}
	}
	r := TxnResult{Aborted: rapid.Bool().Draw(t, "aborted")}
	if r.Aborted {
		return r
	}
	for range rapid.IntRange(0, 4).Draw(t, "ops") {
		if rapid.Bool().Draw(t, "failed") {
			r.Ops = append(r.Ops, OpResult{Err: rapid.SampledFrom([]error{ErrNotInteger, ErrOverflow, ErrBelowFloor}).Draw(t, "err")})
		} else {
			r.Ops = append(r.Ops, OpResult{Result: drawOpResult(t)})
		}
	}
	return r
}

func TestCommandRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := drawCommand(t)
		prefix := genBytes.Draw(t, "prefix")
		enc := c.Encode(bytes.Clone(prefix))
		if !bytes.HasPrefix(enc, prefix) {
			t.Fatalf("Encode overwrote its dst: %x", enc)
		}
		enc = enc[len(prefix):]
		got, err := DecodeCommand(enc)
		if err != nil {
			t.Fatalf("decode %#v from %x: %v", c, enc, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, c)
		}
	})
}

func TestResultRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := drawResult(t)
		enc := r.Encode(nil)
		got, err := DecodeResult(enc)
		if err != nil {
			t.Fatalf("decode %#v from %x: %v", r, enc, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, r)
		}
	})
}

func TestOpErrorsSurviveEncoding(t *testing.T) {
	r := TxnResult{Ops: []OpResult{{Err: ErrNotInteger}, {Err: ErrOverflow}, {Result: DelResult{Deleted: 2}}}}
	got, err := DecodeResult(r.Encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	ops := got.(TxnResult).Ops
	if !errors.Is(ops[0].Err, ErrNotInteger) || !errors.Is(ops[1].Err, ErrOverflow) || ops[2].Err != nil {
		t.Fatalf("decoded %+v", ops)
	}
}

// Every command has one encoding: a decoder that took others would let two
// members, or two versions, read the same entry differently.
func TestDecodeRefusesNonCanonicalBytes(t *testing.T) {
	set := Set{Key: []byte("k"), Value: []byte("v")}.Encode(nil)
	for name, b := range map[string][]byte{
		"empty":              nil,
		"version only":       {codecVersion},
		"unknown version":    append([]byte{2}, set[1:]...),
		"unknown kind":       {codecVersion, 9},
		"trailing byte":      append(bytes.Clone(set), 0),
		"truncated":          set[:len(set)-1],
		"long varint":        {codecVersion, kindDel, 0x80, 0x00},
		"bool of 2":          {codecVersion, kindSet, 0, 0, 0, 2},
		"unknown set cond":   {codecVersion, kindSet, 0, 0, 3, 0},
		"length past end":    {codecVersion, kindSet, 5, 'k', 0, 0, 0},
		"count past end":     {codecVersion, kindDel, 0x80, 0x80, 0x80, 0x80, 0x08},
		"cas unknown flag":   {codecVersion, kindCAS, 0, 1 << 3, 0, 0},
		"cas version+absent": {codecVersion, kindCAS, 0, casByVersion | casExpectAbsent, 0, 0},
		"cas in txn":         {codecVersion, kindTxn, 0, 1, kindCAS, 0, casExpectAbsent | casDelete},
		"txn in txn":         {codecVersion, kindTxn, 0, 1, kindTxn, 0, 0},
		"get without key":    {codecVersion, kindGet},
		"get trailing byte":  {codecVersion, kindGet, 1, 'k', 0},
	} {
		if c, err := DecodeCommand(b); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%s (%x): decoded %#v, %v", name, b, c, err)
		}
	}
	// The pieces above are well formed where they are meant to be.
	for _, b := range [][]byte{
		{codecVersion, kindSet, 0, 0, 2, 0},
		{codecVersion, kindTxn, 0, 1, kindDel, 0},
		{codecVersion, kindCAS, 0, casExpectAbsent | casDelete},
		{codecVersion, kindGet, 1, 'k'},
		{codecVersion, kindTxn, 0, 1, kindGet, 0},
	} {
		if _, err := DecodeCommand(b); err != nil {
			t.Errorf("%x: %v", b, err)
		}
	}
}

func TestDecodeResultRefusesNonCanonicalBytes(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":           nil,
		"unknown kind":    {codecVersion, 9},
		"aborted with op": {codecVersion, kindTxn, 1, 1, 1},
		"unknown op code": {codecVersion, kindTxn, 0, 1, 4},
		"cas result op":   {codecVersion, kindTxn, 0, 1, 0, kindCAS, 0, 0, 0},
		"trailing":        append(DelResult{}.Encode(nil), 0),
		// A key found has a version; a key absent has neither.
		"get found at 0":      {codecVersion, kindGet, 1, 0, 0},
		"get absent with ver": {codecVersion, kindGet, 0, 3, 0},
		"get absent with val": {codecVersion, kindGet, 0, 0, 1, 'v'},
		"get bool of 2":       {codecVersion, kindGet, 2, 1, 0},
	} {
		if r, err := DecodeResult(b); !errors.Is(err, ErrBadResult) {
			t.Errorf("%s (%x): decoded %#v, %v", name, b, r, err)
		}
	}
	for _, b := range [][]byte{
		{codecVersion, kindGet, 0, 0, 0},
		{codecVersion, kindGet, 1, 3, 0},
		{codecVersion, kindTxn, 0, 1, 0, kindGet, 1, 1, 1, 'v'},
	} {
		if _, err := DecodeResult(b); err != nil {
			t.Errorf("%x: %v", b, err)
		}
	}
}
