package storage

import (
	"errors"
	"fmt"
	"syscall"
)

// A failed write to the write-ahead log.
//
// When the log cannot be written or fsync'd, what the page cache holds is
// no longer known to be on the disk (PostgreSQL's "fsyncgate": after a
// failed fsync, Linux may drop the dirty pages and report success to the
// next one), and Pebble's commit pipeline is wedged: it has no way back.
// So the engine fails: the write that met the error is answered with it
// (never acknowledged), every later write and read is refused with the
// same error, and Failed is closed so that the node can close the engine
// and open it again from its directory, which replays the log as far as it
// was synced: exactly what was acknowledged.
//
// Pebble reports a wedged commit pipeline through its logger's Fatalf; the
// engine's logger panics with a fatalError, which the commit path recovers
// into the failure. Elsewhere (a MANIFEST that cannot be written, in a
// background job) the panic stops the process, which is the same answer.

// fatalError is the panic of Pebble's Fatalf.
type fatalError struct{ msg string }

func (f fatalError) Error() string { return f.msg }

// catchFatal runs fn, turning Pebble's fatal panic into a fatalError.
func catchFatal(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = f
		}
	}()
	return fn()
}

func isFatal(err error) bool { return errors.As(err, new(fatalError)) }

// fail puts the engine in its failed state for cause (once; later causes
// are dropped) and returns the failure.
func (e *Engine) fail(cause error) error {
	e.failOnce.Do(func() {
		err := failureOf(cause)
		e.failure.Store(&err)
		e.health.setFailed(err)
		close(e.failed)
	})
	return *e.failure.Load()
}

// Failed is closed once the engine has failed a write: it takes nothing
// more, and must be closed and opened again (Failure says why).
func (e *Engine) Failed() <-chan struct{} { return e.failed }

// Failure is nil until the engine fails, then why: an error wrapping
// ErrDiskFailed, or ErrNoSpace when the log's file system was full.
func (e *Engine) Failure() error {
	if p := e.failure.Load(); p != nil {
		return *p
	}
	return nil
}

func failureOf(cause error) error {
	if errors.Is(cause, syscall.ENOSPC) {
		return fmt.Errorf("%w: the write-ahead log could not be written: the file system is full (%v); the database must be reopened", ErrNoSpace, cause)
	}
	return fmt.Errorf("%w: the write-ahead log could not be written or synced (%v); the database must be reopened", ErrDiskFailed, cause)
}
