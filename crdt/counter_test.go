package crdt

import (
	"errors"
	"math"
	"testing"
)

// ok returns v, panicking on an error the test does not expect.
func ok[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCounter: the PN-Counter of Shapiro et al.
func TestCounter(t *testing.T) {
	a, b := &Counter{}, &Counter{}
	ok(a.Increment("a", 5))
	ok(a.Increment("a", -2))
	da := ok(a.Increment("a", 10))
	ok(b.Increment("b", -4))
	if got := a.Value(); got != 13 {
		t.Errorf("a = %d, want 13", got)
	}
	// The delta is actor a's totals: 15 added, 2 subtracted.
	if got, want := da.totals, map[string]pn{"a": {15, 2}}; len(got) != 1 || got["a"] != want["a"] {
		t.Errorf("delta = %v, want %v", got, want)
	}
	b.Merge(a)
	a.Merge(b)
	if a.Value() != 9 || b.Value() != 9 || !a.Equal(b) {
		t.Errorf("after merging both ways a = %d, b = %d, want 9", a.Value(), b.Value())
	}
	// An old delta changes nothing: totals only grow.
	b.Merge(da)
	if b.Value() != 9 {
		t.Errorf("stale delta changed b to %d", b.Value())
	}
	if d := ok(a.Increment("a", 0)); len(d.totals) != 0 || a.Value() != 9 {
		t.Errorf("zero increment gave delta %v, value %d", d.totals, a.Value())
	}
	if _, err := a.Increment("", 1); !errors.Is(err, ErrEmptyActor) {
		t.Errorf("empty actor: %v", err)
	}
}

func TestCounterOverflowCases(t *testing.T) {
	const maxI, minI = math.MaxInt64, math.MinInt64
	for _, tc := range []struct {
		name  string
		steps []int64 // increments by actor a, all accepted
		delta int64
		err   bool
		value int64
	}{
		{"up to the maximum", []int64{maxI - 1}, 1, false, maxI},
		{"past the maximum", []int64{maxI}, 1, true, maxI},
		{"down to the minimum", nil, minI, false, minI},
		{"past the minimum", []int64{minI}, -1, true, minI},
		{"from the minimum up by the maximum", []int64{minI}, maxI, false, -1},
		{"a decrement from the maximum", []int64{maxI}, minI, false, -1},
		// a's added total reaches 2^64-2 while the value stays small.
		{"an actor's total past 2^64-1", []int64{maxI, -maxI, maxI, -maxI}, 2, true, 0},
		{"an actor's total at 2^64-1", []int64{maxI, -maxI, maxI, -maxI}, 1, false, 1},
	} {
		c := &Counter{}
		for _, d := range tc.steps {
			ok(c.Increment("a", d))
		}
		before := c.Encode()
		_, err := c.Increment("a", tc.delta)
		if tc.err != errors.Is(err, ErrOverflow) || (!tc.err && err != nil) {
			t.Errorf("%s: error %v, want overflow %v", tc.name, err, tc.err)
		}
		if tc.err && string(c.Encode()) != string(before) {
			t.Errorf("%s: a refused increment changed the counter", tc.name)
		}
		if got := c.Value(); got != tc.value {
			t.Errorf("%s: value %d, want %d", tc.name, got, tc.value)
		}
	}
}

// TestCounterSaturates: merging concurrent increments can pass the int64
// range; Value saturates, the exact value is kept, increments are refused
// and decrements accepted until the value is back in range.
func TestCounterSaturates(t *testing.T) {
	a, b := &Counter{}, &Counter{}
	ok(a.Increment("a", math.MaxInt64))
	ok(b.Increment("b", math.MaxInt64))
	a.Merge(b)
	if got := a.Value(); got != math.MaxInt64 {
		t.Fatalf("value %d, want saturated", got)
	}
	if _, err := a.Increment("a", 1); !errors.Is(err, ErrOverflow) {
		t.Errorf("increment above the range: %v", err)
	}
	ok(a.Increment("a", -1)) // exact 2^64-3, still saturated
	if got := a.Value(); got != math.MaxInt64 {
		t.Errorf("value %d, want saturated", got)
	}
	ok(a.Increment("b", -math.MaxInt64)) // exact 2^63-2
	if got := a.Value(); got != math.MaxInt64-1 {
		t.Errorf("value %d, want %d", got, int64(math.MaxInt64-1))
	}
}
