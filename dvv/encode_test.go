package dvv

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestSetEncodingGolden(t *testing.T) {
	for _, tc := range []struct {
		s    Set
		want []byte
	}{
		{Set{}, []byte{0}},
		{set(e("a", 1)), []byte{1, 1, 'a', 1, 0}},
		{
			set(e("a", 2, "v2"), e("b", 300, "", "xy")),
			[]byte{2, 1, 'a', 2, 1, 2, 'v', '2', 1, 'b', 0xac, 0x02, 2, 0, 2, 'x', 'y'},
		},
	} {
		got := tc.s.AppendBinary([]byte("prefix"))
		if !bytes.Equal(got, append([]byte("prefix"), tc.want...)) {
			t.Errorf("AppendBinary(%s) = %v, want prefix + %v", show(tc.s), got, tc.want)
		}
		dec, err := DecodeSet(tc.want)
		if err != nil {
			t.Fatalf("DecodeSet(%v): %v", tc.want, err)
		}
		wantSet(t, "decoded", dec, tc.s)
	}
}

func TestDecodeSetDoesNotAlias(t *testing.T) {
	b := set(e("a", 2, "v2", "v1")).AppendBinary(nil)
	s, err := DecodeSet(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	wantSet(t, "decoded", s, set(e("a", 2, "v2", "v1")))
	// Appending to a decoded value must not clobber the next one.
	_ = append(s.Entries[0].Values[0], 'X')
	wantSet(t, "decoded", s, set(e("a", 2, "v2", "v1")))
}

func TestDecodeSetCorrupt(t *testing.T) {
	ff := bytes.Repeat([]byte{0xff}, 10)
	for _, tc := range []struct {
		name, want string
		b          []byte
	}{
		{"empty input", "truncated varint", nil},
		{"trailing bytes", "trailing", []byte{0, 0}},
		{"count beyond input", "exceeds", []byte{1}},
		{"huge count", "exceeds", []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1, 'a', 1, 0}},
		{"varint overflow", "overflows", append(ff, 1)},
		{"non-minimal varint", "non-minimal", []byte{0x80, 0x00}},
		{"non-minimal counter", "non-minimal", []byte{1, 1, 'a', 0x81, 0x00, 0}},
		{"empty node", "empty node", []byte{1, 0, 1, 0, 0}},
		{"unsorted nodes", "out of order", []byte{2, 1, 'b', 1, 0, 1, 'a', 1, 0}},
		{"duplicate nodes", "out of order", []byte{2, 1, 'a', 1, 0, 1, 'a', 2, 0}},
		{"zero counter", "zero counter", []byte{1, 1, 'a', 0, 0}},
		{"more values than events", "2 values for 1 events", []byte{1, 1, 'a', 1, 2, 0, 0}},
		{"huge value count", "exceeds", []byte{1, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"value beyond input", "exceeds", []byte{1, 1, 'a', 1, 1, 5, 'x'}},
		{"node beyond input", "exceeds", []byte{1, 9, 'a', 1, 0}},
		{"truncated entry", "exceeds", []byte{1, 1, 'a', 1, 1}},
		{"missing value count", "truncated", []byte{1, 2, 'a', 'b', 1}},
	} {
		s, err := DecodeSet(tc.b)
		if err == nil {
			t.Errorf("%s: decoded %s", tc.name, show(s))
			continue
		}
		if !errors.Is(err, ErrCorruptSet) || !strings.HasPrefix(err.Error(), "dvv: corrupt set: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want ErrCorruptSet mentioning %q", tc.name, err, tc.want)
		}
		if !s.IsZero() {
			t.Errorf("%s: non-zero set with an error", tc.name)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, s := range []Set{
		set(e("", 1)),
		set(e("b", 1), e("a", 1)),
		set(e("a", 1), e("a", 1)),
		set(e("a", 0)),
		set(e("a", 1, "x", "y")),
	} {
		if err := s.Validate(); !errors.Is(err, ErrInvalidSet) {
			t.Errorf("Validate(%s) = %v, want ErrInvalidSet", show(s), err)
		}
	}
	if err := set(e("a", 2, "x", "y"), e("b", 1)).Validate(); err != nil {
		t.Error(err)
	}
}

func TestContextEncodingGolden(t *testing.T) {
	for _, tc := range []struct {
		c    Context
		want []byte
		text string
	}{
		{nil, []byte{1, 0}, "AQA"},
		{Context{{"a", 1}, {"b", 300}}, []byte{1, 2, 1, 'a', 1, 1, 'b', 0xac, 0x02}, "AQIBYQEBYqwC"},
	} {
		if got := tc.c.Encode(); !bytes.Equal(got, tc.want) {
			t.Errorf("Encode(%v) = %v, want %v", vec(tc.c), got, tc.want)
		}
		if got := tc.c.String(); got != tc.text {
			t.Errorf("String(%v) = %q, want %q", vec(tc.c), got, tc.text)
		}
		dec, err := DecodeContext(tc.want)
		if err != nil || !slices.Equal(dec, tc.c) {
			t.Errorf("DecodeContext(%v) = %v, %v", tc.want, vec(dec), err)
		}
		parsed, err := ParseContext(tc.text)
		if err != nil || !slices.Equal(parsed, tc.c) {
			t.Errorf("ParseContext(%q) = %v, %v", tc.text, vec(parsed), err)
		}
	}
	if c, err := ParseContext(""); err != nil || c != nil {
		t.Errorf(`ParseContext("") = %v, %v; want the empty context`, vec(c), err)
	}
}

func TestDecodeContextCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		b          []byte
	}{
		{"empty input", "empty token", nil},
		{"unknown version", "unknown version 2", []byte{2, 0}},
		{"no count", "truncated", []byte{1}},
		{"trailing bytes", "trailing", []byte{1, 0, 0}},
		{"count beyond input", "exceeds", []byte{1, 1, 1, 'a'}},
		{"empty node", "empty node", []byte{1, 1, 0, 1, 0}},
		{"unsorted", "out of order", []byte{1, 2, 1, 'b', 1, 1, 'a', 1}},
		{"duplicate", "out of order", []byte{1, 2, 1, 'a', 1, 1, 'a', 2}},
		{"zero counter", "counter 0", []byte{1, 1, 1, 'a', 0}},
		{"counter too large", "counter 9223372036854775808", []byte{1, 1, 1, 'a', 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
		{"non-minimal", "non-minimal", []byte{1, 1, 1, 'a', 0x81, 0x00}},
	} {
		c, err := DecodeContext(tc.b)
		if err == nil {
			t.Errorf("%s: decoded %v", tc.name, vec(c))
			continue
		}
		if !errors.Is(err, ErrCorruptContext) || !strings.HasPrefix(err.Error(), "dvv: corrupt context: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want ErrCorruptContext mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := DecodeContext([]byte{1, 1, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}); err != nil {
		t.Errorf("MaxContextCounter rejected: %v", err)
	}
	for _, s := range []string{"!!", "AQA=", "AQB", "AQ", "Ag"} {
		if c, err := ParseContext(s); !errors.Is(err, ErrCorruptContext) {
			t.Errorf("ParseContext(%q) = %v, %v; want ErrCorruptContext", s, vec(c), err)
		}
	}
}

func FuzzDecodeSet(f *testing.F) {
	for _, s := range []Set{
		{},
		set(e("a", 1)),
		set(e("a", 2, "v2", "v1"), e("b", 300, "", "xy"), e("c", 7)),
	} {
		f.Add(s.AppendBinary(nil))
	}
	f.Add([]byte{1, 1, 'a', 1, 2, 0, 0})
	f.Add([]byte{0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSet(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptSet) {
				t.Fatalf("error %v does not wrap ErrCorruptSet", err)
			}
			return
		}
		if got := s.AppendBinary(nil); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %v as %v", b, got)
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted an invalid set: %v", err)
		}
		// A decoded set is usable.
		if !sameSet(Sync(s, s), s) || len(s.Siblings()) != s.Len() || Less(s, s) {
			t.Fatalf("decoded set %s misbehaves", show(s))
		}
		if s.Context().Get("a") == math.MaxUint64 {
			return // Update would overflow; see TestUpdateOverflowPanics
		}
		if u := Update(s.Context(), s, "a", []byte("x")); u.Len() != 1 || !Less(s, u) {
			t.Fatalf("update of %s gave %s", show(s), show(u))
		}
	})
}

func FuzzDecodeContext(f *testing.F) {
	for _, c := range []Context{nil, {{"a", 1}}, {{"a", 1}, {"b", 300}, {"node-c", MaxContextCounter}}} {
		f.Add(c.Encode())
	}
	f.Add([]byte{})
	f.Add([]byte{2, 0})
	f.Add([]byte{1, 2, 1, 'b', 1, 1, 'a', 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeContext(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptContext) {
				t.Fatalf("error %v does not wrap ErrCorruptContext", err)
			}
			return
		}
		if got := c.Encode(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %v as %v", b, got)
		}
		if !c.isCanonical() {
			t.Fatalf("accepted a non-canonical context %v", vec(c))
		}
		p, err := ParseContext(c.String())
		if err != nil || !slices.Equal(p, c) {
			t.Fatalf("text round trip of %v: %v, %v", vec(c), vec(p), err)
		}
		if u := Update(c, Set{}, "a", []byte("x")); !u.Context().Descends(c) || u.Len() != 1 {
			t.Fatalf("update with %v gave %s", vec(c), show(u))
		}
	})
}
