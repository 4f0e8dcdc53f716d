package handoff

import "errors"

// ErrFull refuses hints that would take the store past its MaxBytes.
var ErrFull = errors.New("handoff: hint store full")
