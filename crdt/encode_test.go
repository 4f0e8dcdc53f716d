package crdt

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Sample states of each type, for golden encodings and fuzz seeds.

func sampleCounters() []*Counter {
	a, b := &Counter{}, &Counter{}
	ok(a.Increment("a", 5))
	ok(b.Increment("b", -3))
	ab := a.Clone()
	ab.Merge(b)
	return []*Counter{{}, a, ab}
}

// sampleSets includes a set whose context has a gap (a dot cloud): it got the
// third add's delta only.
func sampleSets() []*Set {
	a, gap := &Set{}, &Set{}
	ok(a.Add("a", "x"))
	one := a.Clone()
	ok(a.Add("a", "y"))
	gap.Merge(ok(a.Add("a", "z")))
	a.Remove("y")
	return []*Set{{}, one, gap, a}
}

func sampleRegisters() []*Register {
	a, b := &Register{}, &Register{}
	ok(a.Assign("a", "v"))
	one := a.Clone()
	ok(b.Assign("b", "w"))
	a.Merge(b)
	return []*Register{{}, one, a}
}

func sampleFlags() []*Flag {
	a := &Flag{}
	ok(a.Enable("a"))
	off := a.Clone()
	off.Disable()
	return []*Flag{{}, a, off}
}

func sampleMaps() []*Map {
	a := &Map{}
	ok(a.IncrementCounter("a", 2, "n"))
	one := a.Clone()
	ok(a.AddToSet("a", "x", "s"))
	ok(a.AssignRegister("b", "v", "m", "r"))
	ok(a.EnableFlag("a", "m", "inner", "f"))
	ok(a.RemoveField(KindCounter, "n"))
	return []*Map{{}, one, a}
}

func TestEncodingGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"zero counter", sampleCounters()[0].Encode(), []byte{1, 1, 0}},
		{"counter a+5 b-3", sampleCounters()[2].Encode(), []byte{1, 1, 2, 1, 'a', 5, 0, 1, 'b', 0, 3}},
		{"zero set", sampleSets()[0].Encode(), []byte{1, 2, 0, 0}},
		// context {a:1}; x under a:1 (actor 0, counter 1)
		{"set {x}", sampleSets()[1].Encode(), []byte{1, 2, 1, 1, 'a', 1, 0, 1, 1, 'x', 1, 0, 1}},
		// context {a: none contiguous, 3}; z under a:3
		{"set with a gap", sampleSets()[2].Encode(), []byte{1, 2, 1, 1, 'a', 0, 1, 3, 1, 1, 'z', 1, 0, 3}},
		{"register v", sampleRegisters()[1].Encode(), []byte{1, 3, 1, 1, 'a', 1, 0, 1, 0, 1, 1, 'v'}},
		{"flag on", sampleFlags()[1].Encode(), []byte{1, 4, 1, 1, 'a', 1, 0, 1, 0, 1}},
		{"flag off", sampleFlags()[2].Encode(), []byte{1, 4, 1, 1, 'a', 1, 0, 0}},
		{"zero map", sampleMaps()[0].Encode(), []byte{1, 5, 0, 0, 0, 0, 0, 0}},
		// counters {n: a:1 -> (2, 0)}, no sets, registers, flags, maps
		{"map n=2", sampleMaps()[1].Encode(), []byte{1, 5, 1, 1, 'a', 1, 0, 1, 1, 'n', 1, 0, 1, 2, 0, 0, 0, 0, 0}},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// TestDecodeCorrupt: every decoder refuses malformed input with ErrCorrupt.
func TestDecodeCorrupt(t *testing.T) {
	decoders := map[Kind]func([]byte) error{
		KindCounter:  func(b []byte) error { _, err := DecodeCounter(b); return err },
		KindSet:      func(b []byte) error { _, err := DecodeSet(b); return err },
		KindRegister: func(b []byte) error { _, err := DecodeRegister(b); return err },
		KindFlag:     func(b []byte) error { _, err := DecodeFlag(b); return err },
		KindMap:      func(b []byte) error { _, err := DecodeMap(b); return err },
	}
	for _, tc := range []struct {
		name string
		k    Kind
		b    []byte
		want string
	}{
		{"empty input", KindSet, nil, "shorter than the header"},
		{"unknown version", KindSet, []byte{2, 2, 0, 0}, "unknown format version 2"},
		{"another kind", KindSet, []byte{1, 3, 0, 0}, "kind register, want set"},
		{"trailing bytes", KindSet, []byte{1, 2, 0, 0, 0}, "1 trailing bytes"},
		{"truncated", KindSet, []byte{1, 2, 0}, "truncated varint"},
		{"non-minimal varint", KindCounter, []byte{1, 1, 0x80, 0x00}, "non-minimal"},
		{"huge count", KindSet, []byte{1, 2, 0xff, 0xff, 0xff, 0xff, 0x0f}, "exceeds"},
		{"string beyond input", KindCounter, []byte{1, 1, 1, 9, 'a', 1, 0}, "exceeds"},
		{"unsorted actors", KindCounter, []byte{1, 1, 2, 1, 'b', 1, 0, 1, 'a', 1, 0}, "out of order"},
		{"duplicate actors", KindCounter, []byte{1, 1, 2, 1, 'a', 1, 0, 1, 'a', 2, 0}, "out of order"},
		{"empty actor", KindCounter, []byte{1, 1, 1, 0, 1, 0, 0}, "empty actor"},
		{"zero totals", KindCounter, []byte{1, 1, 1, 1, 'a', 0, 0}, "zero totals"},
		{"context actor without events", KindSet, []byte{1, 2, 1, 1, 'a', 0, 0, 0}, "no events"},
		{"context not compacted", KindSet, []byte{1, 2, 1, 1, 'a', 1, 1, 2, 0}, "not compacted"},
		{"context events out of order", KindSet, []byte{1, 2, 1, 1, 'a', 0, 2, 5, 4, 0}, "out of order"},
		{"context empty actor", KindFlag, []byte{1, 4, 1, 0, 1, 0, 0}, "empty actor"},
		{"dot not in the context", KindSet, []byte{1, 2, 1, 1, 'a', 1, 0, 1, 1, 'x', 1, 0, 2}, "not in the context"},
		{"dot with counter 0", KindFlag, []byte{1, 4, 1, 1, 'a', 1, 0, 1, 0, 0}, "not in the context"},
		{"dot of an unknown actor", KindSet, []byte{1, 2, 1, 1, 'a', 1, 0, 1, 1, 'x', 1, 1, 1}, "actor 1 of 1"},
		{"dots out of order", KindFlag, []byte{1, 4, 1, 1, 'a', 2, 0, 2, 0, 2, 0, 1}, "out of order"},
		{"duplicate dots", KindRegister, []byte{1, 3, 1, 1, 'a', 2, 0, 2, 0, 1, 0, 0, 1, 0}, "out of order"},
		{"element without events", KindSet, []byte{1, 2, 1, 1, 'a', 1, 0, 1, 1, 'x', 0}, "empty"},
		{"elements out of order", KindSet, []byte{1, 2, 1, 1, 'a', 2, 0, 2, 1, 'y', 1, 0, 1, 1, 'x', 1, 0, 2}, "out of order"},
		{"empty nested map", KindMap, []byte{1, 5, 0, 0, 0, 0, 0, 1, 1, 'm', 0, 0, 0, 0, 0}, "empty"},
		{"map counter with zero totals", KindMap, []byte{1, 5, 1, 1, 'a', 1, 0, 1, 1, 'n', 1, 0, 1, 0, 0, 0, 0, 0, 0}, "zero totals"},
		{"map nested too deep", KindMap, tooDeep(), "nested deeper than 16"},
	} {
		err := decoders[tc.k](tc.b)
		if err == nil {
			t.Errorf("%s: decoded", tc.name)
			continue
		}
		if !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "crdt: corrupt encoding: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want ErrCorrupt mentioning %q", tc.name, err, tc.want)
		}
	}
}

// tooDeep returns a map with a flag nested MaxDepth+1 deep, which no
// operation can make.
func tooDeep() []byte {
	ctx := contextOf([]dot{{"a", 1}})
	f := &fields{flags: dotMap[dotSet]{"f": {{d: dot{"a", 1}}}}}
	for range MaxDepth {
		f = &fields{maps: dotMap[*fields]{"m": f}}
	}
	return encodeCausal(KindMap, causal[*fields]{ctx, f}, encodeFields)
}

// fuzzDecoder checks a decoder on arbitrary input: it never panics, refuses
// with ErrCorrupt, and what it accepts re-encodes to the same bytes (the
// encodings are canonical and the decoders check every invariant that
// makes them so) and is a usable state.
func fuzzDecoder[T any](f *testing.F, k *kit[T], seeds []T, use func(T) (T, error)) {
	for _, x := range seeds {
		f.Add(k.encode(x))
	}
	f.Add([]byte{})
	f.Add([]byte{1, byte(k.kind)})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := k.decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if got := k.encode(x); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x as %x", b, got)
		}
		y := k.clone(x)
		k.merge(y, x)
		if !bytes.Equal(k.encode(y), b) {
			t.Fatalf("merged with itself, %x became %x", b, k.encode(y))
		}
		delta, err := use(y)
		if err != nil {
			if !errors.Is(err, ErrOverflow) && !errors.Is(err, ErrClockExhausted) {
				t.Fatal(err)
			}
			return
		}
		for _, z := range []T{y, delta} {
			if _, err := k.decode(k.encode(z)); err != nil {
				t.Fatalf("after an operation: %v", err)
			}
		}
	})
}

func FuzzDecodeCounter(f *testing.F) {
	fuzzDecoder(f, counterKit, sampleCounters(), func(c *Counter) (*Counter, error) {
		return c.Increment("a", -7)
	})
}

func FuzzDecodeSet(f *testing.F) {
	fuzzDecoder(f, setKit, sampleSets(), func(s *Set) (*Set, error) {
		s.Remove("x")
		return s.Add("a", "y")
	})
}

func FuzzDecodeRegister(f *testing.F) {
	fuzzDecoder(f, registerKit, sampleRegisters(), func(r *Register) (*Register, error) {
		return r.Assign("a", "v")
	})
}

func FuzzDecodeFlag(f *testing.F) {
	fuzzDecoder(f, flagKit, sampleFlags(), func(x *Flag) (*Flag, error) {
		return x.Enable("a")
	})
}

func FuzzDecodeMap(f *testing.F) {
	fuzzDecoder(f, mapKit, sampleMaps(), func(m *Map) (*Map, error) {
		ok(m.RemoveField(KindMap, "m"))
		if _, err := m.IncrementCounter("a", 1, "n"); err != nil {
			return nil, err
		}
		return m.AddToSet("b", "x", "m", "s")
	})
}
