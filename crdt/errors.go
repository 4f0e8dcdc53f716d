package crdt

import (
	"errors"
	"fmt"
)

// Errors returned (wrapped, with a detail) by the operations and decoders.
var (
	// ErrEmptyActor: an operation that creates an event was given no actor.
	ErrEmptyActor = errors.New("crdt: empty actor")
	// ErrOverflow: a counter operation would take the counter's value out of
	// the int64 range, or an actor's running total past 2^64-1.
	ErrOverflow = errors.New("crdt: counter overflow")
	// ErrClockExhausted: the actor has used every event counter (2^64-1
	// events, or a state that claims so).
	ErrClockExhausted = errors.New("crdt: actor clock exhausted")
	// ErrPath: a map operation was given no field, more than MaxDepth
	// levels, or an unknown kind.
	ErrPath = errors.New("crdt: invalid map path")
	// ErrCorrupt: Decode refused its input.
	ErrCorrupt = errors.New("crdt: corrupt encoding")
)

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
