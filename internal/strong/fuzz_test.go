package strong

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/pandodb/pando/internal/storage"
)

func seedCommands() []Command {
	return []Command{
		Set{Key: []byte("k"), Value: []byte("v"), Cond: IfAbsent, Get: true},
		Del{Keys: [][]byte{[]byte("a"), nil}},
		IncrBy{Key: []byte("n"), Delta: -300, Floor: -1 << 40, HasFloor: true},
		Get{Key: []byte("k")},
		CAS{Key: []byte("k"), ByVersion: true, ExpectedVersion: 1 << 33, New: []byte("x")},
		CAS{Key: []byte("k"), ExpectedValue: []byte("v"), Delete: true},
		Txn{
			Conds: []Cond{{Key: []byte("a"), Version: 7}},
			Ops:   []Op{Set{Key: []byte("a")}, IncrBy{Key: []byte("b"), Delta: 1}, Get{Key: []byte("b")}, Del{}},
		},
	}
}

func fuzzEngine(f *testing.F) *storage.Engine {
	eng, err := storage.Open(storage.Config{Dir: "fuzz", FS: vfs.NewMem()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { eng.Close() })
	return eng
}

// FuzzDecodeCommand: no input makes decoding panic; what decodes encodes
// back to the same bytes; and applying it returns a result or one of the
// documented refusals.
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range seedCommands() {
		f.Add(c.Encode(nil))
	}
	f.Add([]byte{codecVersion, kindTxn, 0, 1, kindTxn, 0, 0})
	m, err := NewMachine(fuzzEngine(f), testGroup)
	if err != nil {
		f.Fatal(err)
	}
	index := uint64(0)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		index++
		out, applyErr := m.Apply(index, data)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("decode error %v is not ErrBadCommand", err)
			}
			if !errors.Is(applyErr, ErrBadCommand) {
				t.Fatalf("apply of undecodable %x: %v", data, applyErr)
			}
			return
		}
		if enc := c.Encode(nil); !bytes.Equal(enc, data) {
			t.Fatalf("%x decodes to %#v, which encodes as %x", data, c, enc)
		}
		again, err := DecodeCommand(c.Encode(nil))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("%#v does not round-trip: %#v, %v", c, again, err)
		}
		switch {
		case applyErr == nil:
			if _, err := DecodeResult(out); err != nil {
				t.Fatalf("apply of %#v returned an undecodable result %x: %v", c, out, err)
			}
		case !errors.Is(applyErr, ErrNotInteger) && !errors.Is(applyErr, ErrOverflow) && !errors.Is(applyErr, ErrBelowFloor):
			t.Fatalf("apply of %#v: %v", c, applyErr)
		}
	})
}

// FuzzDecodeResult: no input makes decoding panic, and what decodes
// encodes back to the same bytes.
func FuzzDecodeResult(f *testing.F) {
	f.Add(SetResult{Written: true, Old: []byte("o"), Version: 3}.Encode(nil))
	f.Add(CASResult{Version: 9, Value: []byte("v")}.Encode(nil))
	f.Add(TxnResult{Ops: []OpResult{{Err: ErrOverflow}, {Result: IncrByResult{Value: -1, Version: 2}}}}.Encode(nil))
	f.Add(TxnResult{Ops: []OpResult{{Result: GetResult{Value: []byte("v"), Found: true, Version: 4}}, {Result: GetResult{}}}}.Encode(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeResult(data)
		if err != nil {
			if !errors.Is(err, ErrBadResult) {
				t.Fatalf("decode error %v is not ErrBadResult", err)
			}
			return
		}
		if enc := r.Encode(nil); !bytes.Equal(enc, data) {
			t.Fatalf("%x decodes to %#v, which encodes as %x", data, r, enc)
		}
	})
}

// FuzzDecodeSnapshot: no input makes decoding panic; a snapshot that
// decodes, restored into a machine, is what that machine's snapshot gives
// back.
func FuzzDecodeSnapshot(f *testing.F) {
	seed := appendSnapHeader(nil, 9)
	seed = appendSnapEntry(seed, snapEntry{key: nil, value: []byte("e"), version: 1})
	seed = appendSnapEntry(seed, snapEntry{key: []byte("a"), value: []byte("1"), version: 9})
	f.Add(seed)
	f.Add(appendSnapHeader(nil, 1))
	f.Add(encodeSnapshot(9, []snapEntry{{key: []byte("a"), value: []byte("1"), version: 9}},
		[]snapEntry{{key: []byte("req-1"), epoch: 0, value: []byte("1"), version: 9}, {key: []byte("req-0"), epoch: 1, value: []byte("-4"), version: 2}}))
	eng := fuzzEngine(f)
	group := uint64(0)
	f.Fuzz(func(t *testing.T, data []byte) {
		applied, entries, ids, err := decodeSnapshot(data)
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("decode error %v is not ErrBadSnapshot", err)
			}
			return
		}
		enc := encodeSnapshot(applied, entries, ids)
		if data[0] == snapshotV1 {
			enc = appendSnapHeader(nil, applied)
			for _, e := range entries {
				enc = appendSnapEntry(enc, e)
			}
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("%x decodes to %d, %v, which encodes as %x", data, applied, entries, enc)
		}
		if applied == 0 {
			return // a restore at 0 does nothing
		}
		group++ // a fresh machine each time
		m, err := NewMachine(eng, group)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Restore(applied, data); err != nil {
			t.Fatalf("restore of %x: %v", data, err)
		}
		back, err := m.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if want := encodeSnapshot(applied, entries, ids); !bytes.Equal(back, want) {
			t.Fatalf("restored %x, snapshot gives %x", data, back)
		}
	})
}
