package storage

import (
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// Faults injects disk faults into an engine's file system (Config.Faults):
// for the verifier's disk nemeses and tests of a whole node, never in
// production. The zero value injects nothing.
type Faults struct {
	mode atomic.Pointer[string]
	all  atomic.Bool  // every operation fails
	left atomic.Int64 // otherwise, how many more do
}

// Fault modes.
const (
	// FaultNone injects nothing.
	FaultNone = ""
	// FaultFsync fails every fsync of the write-ahead log with EIO.
	FaultFsync = "fsync"
	// FaultWALFull fails every write to the write-ahead log with ENOSPC.
	FaultWALFull = "wal-full"
)

// Set changes the fault injected from now on: into the next ops
// operations it applies to (then none: a transient fault), or every one
// while ops is 0 (a broken disk).
func (f *Faults) Set(mode string, ops int) error {
	if ops < 0 {
		return fmt.Errorf("storage: a disk fault's operation count must be 0 (all) or more, not %d", ops)
	}
	switch mode {
	case FaultNone, FaultFsync, FaultWALFull:
		f.mode.Store(nil)
		f.all.Store(ops == 0)
		f.left.Store(int64(ops))
		f.mode.Store(&mode)
		return nil
	}
	return fmt.Errorf("storage: unknown disk fault %q (want %q, %q or none)", mode, FaultFsync, FaultWALFull)
}

// Mode is the fault injected now.
func (f *Faults) Mode() string {
	if p := f.mode.Load(); p != nil && (f.all.Load() || f.left.Load() > 0) {
		return *p
	}
	return FaultNone
}

// MaybeError implements errorfs.Injector.
func (f *Faults) MaybeError(op errorfs.Op) error {
	p := f.mode.Load()
	if p == nil {
		return nil
	}
	mode := *p
	if mode == FaultNone || !strings.HasSuffix(op.Path, ".log") {
		return nil
	}
	var err error
	switch op.Kind {
	case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		if mode == FaultFsync {
			err = syscall.EIO
		}
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt:
		if mode == FaultWALFull {
			err = syscall.ENOSPC
		}
	}
	if err == nil {
		return nil
	}
	if f.all.Load() {
		return err
	}
	for {
		left := f.left.Load()
		if left <= 0 {
			return nil // a transient fault, over
		}
		if f.left.CompareAndSwap(left, left-1) {
			return err
		}
	}
}

// String implements errorfs.Injector.
func (f *Faults) String() string { return "pando disk faults: " + f.Mode() }

var _ errorfs.Injector = (*Faults)(nil)
