package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pandodb/pando/internal/testutil"
)

func putKey(e *Engine, k string) error {
	b := e.NewBatch()
	b.Set([]byte(k), []byte("v-"+k))
	return e.Commit(b, true)
}

// TestLogFailureFailsTheEngine: when the write-ahead log cannot be synced
// (EIO) or written (ENOSPC), the write that met it is answered with the
// failure, never acknowledged; every later write and read is refused with
// it at once; Failed is closed. Opened again from what the disk holds (a
// crash clone: synced data only), the engine has every acknowledged write
// and none of the failed ones, and takes writes again.
func TestLogFailureFailsTheEngine(t *testing.T) {
	for _, tc := range []struct {
		fault string
		want  error
	}{
		{FaultFsync, ErrDiskFailed}, // EIO on the log's fsync
		{FaultWALFull, ErrNoSpace},  // ENOSPC on the log's write
	} {
		t.Run(tc.fault, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			var faults Faults
			e, err := Open(Config{Dir: "db", FS: mem, Faults: &faults})
			if err != nil {
				t.Fatal(err)
			}
			var acked []string
			for i := range 20 {
				k := fmt.Sprintf("before%d", i)
				if err := putKey(e, k); err != nil {
					t.Fatal(err)
				}
				acked = append(acked, k)
			}
			if err := faults.Set(tc.fault, 0); err != nil {
				t.Fatal(err)
			}
			err = putKey(e, "failed")
			if !errors.Is(err, tc.want) {
				t.Fatalf("write meeting the fault: %v, want %v", err, tc.want)
			}
			select {
			case <-e.Failed():
			default:
				t.Fatal("Failed not closed after the log failed a write")
			}
			if !errors.Is(e.Failure(), tc.want) || !errors.Is(e.WriteRefusal(), tc.want) {
				t.Fatalf("failure %v, refusal %v", e.Failure(), e.WriteRefusal())
			}
			_ = faults.Set(FaultNone, 0) // the disk is fine again: still nothing is trusted
			if err := putKey(e, "after"); !errors.Is(err, tc.want) {
				t.Fatalf("write after the failure: %v", err)
			}
			if err := e.Get([]byte("before0"), func([]byte) error { return nil }); !errors.Is(err, tc.want) {
				t.Fatalf("read after the failure: %v (the memtable may hold what never reached the disk)", err)
			}
			if st := e.Disk(); !strings.Contains(st.Refused, "reopened") {
				t.Fatalf("disk status says %q", st.Refused)
			}
			closed := make(chan error, 1)
			go func() { closed <- e.Close() }()
			select {
			case <-closed: // its error is the log's: nothing to check
			case <-time.After(30 * time.Second):
				t.Fatal("Close of a failed engine hangs")
			}

			e2, err := Open(Config{Dir: "db", FS: mem.CrashClone(vfs.CrashCloneCfg{})})
			if err != nil {
				t.Fatalf("reopen from the synced log: %v", err)
			}
			defer e2.Close()
			for _, k := range acked {
				if err := e2.Get([]byte(k), func(v []byte) error {
					if string(v) != "v-"+k {
						return fmt.Errorf("value %q", v)
					}
					return nil
				}); err != nil {
					t.Fatalf("acknowledged %s after reopen: %v", k, err)
				}
			}
			for _, k := range []string{"failed", "after"} {
				if err := e2.Get([]byte(k), func([]byte) error { return nil }); !errors.Is(err, ErrNotFound) {
					t.Fatalf("unacknowledged %s after reopen: %v", k, err)
				}
			}
			if err := putKey(e2, "reopened"); err != nil {
				t.Fatalf("write after reopen: %v", err)
			}
		})
	}
}

// TestCompactionOutOfSpaceRefusesWrites: a compaction that fails for want
// of space refuses data writes like a flush does; a flush that succeeds
// clears it. (The compaction is asked for in the background and never
// waited for: after the failure, Pebble avoids its key span for a while,
// and a manual compaction of it may wait that long.)
func TestCompactionOutOfSpaceRefusesWrites(t *testing.T) {
	fs := &fullFS{FS: vfs.NewMem()}
	e, err := Open(Config{Dir: "db", FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for i := range 3 {
		if err := putKey(e, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatal(err)
		}
		if err := e.db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	fs.full.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	compacted := make(chan struct{})
	go func() {
		defer close(compacted)
		_ = e.db.Compact(ctx, []byte("a"), []byte("z"), false)
	}()
	defer func() { cancel(); <-compacted }()
	testutil.Eventually(t, "writes refused after a compaction failed with ENOSPC", func() bool {
		return errors.Is(e.WriteRefusal(), ErrNoSpace) && promtest.ToFloat64(e.health.bgErrors) > 0
	})
	fs.full.Store(false)
	if err := putKey(e, "z0"); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Flush(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "writes taken again after a flush succeeded", func() bool { return e.WriteRefusal() == nil })
}

// TestFailedFlushesBackOff: Pebble retries a failed flush at once, in a
// loop; the engine pauses after each failure, so a full disk does not cost
// a core.
func TestFailedFlushesBackOff(t *testing.T) {
	fs := &fullFS{FS: vfs.NewMem()}
	e, err := Open(Config{Dir: "db", FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := putKey(e, "a"); err != nil {
		t.Fatal(err)
	}
	fs.full.Store(true)
	start := time.Now()
	if _, err := e.db.AsyncFlush(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "four failed flushes", func() bool { return promtest.ToFloat64(e.health.bgErrors) >= 4 })
	// Three pauses of 100 ms (backgroundBackoff) at least.
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("4 failed flushes in %v: no pause between retries", took)
	}
	fs.full.Store(false)
}

// TestTransientFault: a fault set for n operations fails n of them, then
// none; an unknown fault or a negative count is refused.
func TestTransientFault(t *testing.T) {
	var f Faults
	if err := f.Set("melt", 0); err == nil {
		t.Fatal("an unknown fault was taken")
	}
	if err := f.Set(FaultFsync, -1); err == nil {
		t.Fatal("a negative count was taken")
	}
	if err := f.Set(FaultFsync, 2); err != nil {
		t.Fatal(err)
	}
	sync := errorfs.Op{Kind: errorfs.OpFileSync, Path: "db/000002.log"}
	if err := f.MaybeError(errorfs.Op{Kind: errorfs.OpFileSync, Path: "db/000005.sst"}); err != nil {
		t.Fatalf("a table's fsync failed: %v", err)
	}
	var failed int
	for range 5 {
		if f.MaybeError(sync) != nil {
			failed++
		}
	}
	if failed != 2 || f.Mode() != FaultNone {
		t.Fatalf("%d of 5 fsyncs failed, mode %q after; want 2, none", failed, f.Mode())
	}
}
