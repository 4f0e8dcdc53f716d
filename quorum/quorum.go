package quorum

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Level is a consistency level: how many replicas must answer.
type Level struct {
	kind kind
	n    int // for kind count
}

type kind uint8

const (
	kindDefault kind = iota // unset: the caller's default applies
	kindOne
	kindQuorum
	kindAll
	kindCount
)

// The named levels.
var (
	Default = Level{}
	One     = Level{kind: kindOne}
	Quorum  = Level{kind: kindQuorum}
	All     = Level{kind: kindAll}
)

// Count is an explicit number of replicas (at least 1).
func Count(n int) Level { return Level{kind: kindCount, n: n} }

// ErrInvalidLevel is returned for a level that cannot be parsed or met.
var ErrInvalidLevel = errors.New("invalid consistency level")

// Parse reads a level: "one", "quorum", "all" (any case) or a positive
// number. The empty string is Default.
func Parse(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return Default, nil
	case "one":
		return One, nil
	case "quorum":
		return Quorum, nil
	case "all":
		return All, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return Level{}, fmt.Errorf("%w %q: want one, quorum, all or a positive number", ErrInvalidLevel, s)
	}
	return Count(n), nil
}

// IsDefault reports whether l is unset.
func (l Level) IsDefault() bool { return l.kind == kindDefault }

// Or returns l, or def if l is unset.
func (l Level) Or(def Level) Level {
	if l.kind == kindDefault {
		return def
	}
	return l
}

// Majority is N/2+1.
func Majority(n int) int { return n/2 + 1 }

// Required returns how many of n replicas must answer at level l. Default
// counts as Quorum. A count above n is an error: it could never be met.
func (l Level) Required(n int) (int, error) {
	if n < 1 {
		return 0, fmt.Errorf("%w: no replicas", ErrInvalidLevel)
	}
	switch l.kind {
	case kindOne:
		return 1, nil
	case kindQuorum, kindDefault:
		return Majority(n), nil
	case kindAll:
		return n, nil
	}
	if l.n > n {
		return 0, fmt.Errorf("%w: %d replicas required, the namespace keeps %d", ErrInvalidLevel, l.n, n)
	}
	return l.n, nil
}

// String is the form Parse reads.
func (l Level) String() string {
	switch l.kind {
	case kindOne:
		return "one"
	case kindQuorum:
		return "quorum"
	case kindAll:
		return "all"
	case kindCount:
		return strconv.Itoa(l.n)
	}
	return "default"
}

// Overlaps reports whether reads at r and writes at w are guaranteed to
// intersect among n replicas (R + W > N): the condition for reading one's
// own acknowledged writes on a healthy cluster.
func Overlaps(r, w Level, n int) bool {
	rr, err1 := r.Required(n)
	ww, err2 := w.Required(n)
	return err1 == nil && err2 == nil && rr+ww > n
}
