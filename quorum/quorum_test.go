package quorum

import (
	"errors"
	"testing"

	"pgregory.net/rapid"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Level{
		"one": One, "ONE": One, "quorum": Quorum, "All": All, "2": Count(2), "": Default, " all ": All,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "-1", "most", "1.5", "two"} {
		if _, err := Parse(bad); !errors.Is(err, ErrInvalidLevel) {
			t.Errorf("Parse(%q): %v, want ErrInvalidLevel", bad, err)
		}
	}
}

func TestRequired(t *testing.T) {
	// Dynamo's typical (N, R, W) = (3, 2, 2); Cassandra's QUORUM = N/2+1.
	for _, tc := range []struct {
		l    Level
		n    int
		want int
	}{
		{One, 3, 1}, {Quorum, 3, 2}, {All, 3, 3}, {Quorum, 5, 3}, {Quorum, 4, 3},
		{Quorum, 1, 1}, {Default, 3, 2}, {Count(2), 3, 2}, {Count(3), 3, 3}, {Quorum, 2, 2},
	} {
		got, err := tc.l.Required(tc.n)
		if err != nil || got != tc.want {
			t.Errorf("%v of %d = %d, %v; want %d", tc.l, tc.n, got, err, tc.want)
		}
	}
	if _, err := Count(4).Required(3); !errors.Is(err, ErrInvalidLevel) {
		t.Fatalf("4 of 3: %v", err)
	}
}

// TestQuorumsIntersect: any two majorities of n replicas share a replica,
// which is what makes QUORUM reads see QUORUM writes.
func TestQuorumsIntersect(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 9).Draw(t, "n")
		r, _ := Quorum.Required(n)
		w, _ := Quorum.Required(n)
		if r+w <= n {
			t.Fatalf("n=%d: quorums of %d and %d need not meet", n, r, w)
		}
		if !Overlaps(Quorum, Quorum, n) || Overlaps(One, One, n) && n > 1 {
			t.Fatalf("Overlaps wrong for n=%d", n)
		}
	})
}

func TestStringRoundTrip(t *testing.T) {
	for _, l := range []Level{One, Quorum, All, Count(4)} {
		back, err := Parse(l.String())
		if err != nil || back != l {
			t.Errorf("%v: %v %v", l, back, err)
		}
	}
}
