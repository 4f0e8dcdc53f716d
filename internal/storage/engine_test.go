package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/pandodb/pando/internal/testutil"
)

func openTest(t *testing.T, dir string) *Engine {
	t.Helper()
	e, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return e
}

func TestSyncedWriteSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	b := e.NewBatch()
	b.Set([]byte("dk"), []byte("v1"))
	if err := e.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir)
	defer e.Close()
	var got []byte
	if err := e.Get([]byte("dk"), func(v []byte) error { got = append(got, v...); return nil }); err != nil {
		t.Fatal(err)
	}
	if string(got) != "v1" {
		t.Fatalf("got %q after reopen, want v1", got)
	}
	if err := e.Get([]byte("missing"), func([]byte) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: got %v, want ErrNotFound", err)
	}
}

func TestNewerFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	b := e.NewBatch()
	b.Set(MetaKey("format"), binary.AppendUvarint(nil, FormatVersion+1))
	if err := e.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	e.Close()
	_, err := Open(Config{Dir: dir})
	if !errors.Is(err, ErrFormatTooNew) {
		t.Fatalf("got %v, want ErrFormatTooNew", err)
	}
	want := fmt.Sprintf("has format %d, this binary reads up to %d", FormatVersion+1, FormatVersion)
	if !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("message %q does not say %q", err, want)
	}
}

// A directory of format 1 placed keys by another hash: reading it with
// slot-based positions would miss every key, so it is refused, saying why.
func TestOlderFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir)
	b := e.NewBatch()
	b.Set(MetaKey("format"), binary.AppendUvarint(nil, 1))
	if err := e.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	e.Close()
	_, err := Open(Config{Dir: dir})
	if !errors.Is(err, ErrFormatTooOld) || !strings.Contains(err.Error(), "has format 1") || !strings.Contains(err.Error(), "start on an empty data directory") {
		t.Fatalf("opening a format 1 directory: %v", err)
	}
}

func TestForeignPebbleIsRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{FormatMajorVersion: pebbleFormat})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("someone else's"), []byte("data"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(Config{Dir: dir}); !errors.Is(err, ErrFormatUnknown) {
		t.Fatalf("got %v, want ErrFormatUnknown", err)
	}
}

// TestConcurrentSyncedWritersShareFsyncs checks the group commit: many
// writers committing with sync at once need far fewer fsyncs than writes.
func TestConcurrentSyncedWritersShareFsyncs(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer e.Close()
	before := e.WALFsyncs()
	const writers, each = 32, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				b := e.NewBatch()
				b.Set(fmt.Appendf(nil, "d%d/%d", w, i), []byte("v"))
				if err := e.Commit(b, true); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fsyncs := e.WALFsyncs() - before
	writes := uint64(writers * each)
	t.Logf("%d synced writes took %d fsyncs", writes, fsyncs)
	if fsyncs == 0 {
		t.Fatal("no fsyncs recorded: synced commits are not syncing")
	}
	if fsyncs > writes/2 {
		t.Fatalf("%d synced writes took %d fsyncs: concurrent commits are not sharing them", writes, fsyncs)
	}
}

func TestUnsyncedCommitDoesNotFsync(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer e.Close()
	// Open syncs the format marker. Pebble wakes the writer before it
	// counts the fsync, so wait for the count rather than read it at once.
	deadline := time.Now().Add(10 * time.Second)
	for e.WALFsyncs() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the format marker's fsync was never counted")
		}
		time.Sleep(time.Millisecond)
	}
	before := e.WALFsyncs()
	for i := range 50 {
		b := e.NewBatch()
		b.Set(fmt.Appendf(nil, "k%d", i), []byte("v"))
		if err := e.Commit(b, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.WALFsyncs() - before; n != 0 {
		t.Fatalf("unsynced commits caused %d fsyncs", n)
	}
}

func TestIterBounds(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer e.Close()
	b := e.NewBatch()
	for _, ns := range []string{"a", "b"} {
		for i := range 10 {
			b.Set(DataKey(nil, ns, fmt.Appendf(nil, "key%d", i)), []byte(ns))
		}
	}
	if err := e.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	lo, hi := DataSpan("a", 0)
	it, err := e.NewIter(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var last uint64
	for ok := it.First(); ok; ok = it.Next() {
		ns, h, _, err := ParseDataKey(it.Key())
		if err != nil || ns != "a" {
			t.Fatalf("key %q in namespace a's span: ns=%q err=%v", it.Key(), ns, err)
		}
		if h < last {
			t.Fatalf("hash order broken: %x after %x", h, last)
		}
		last = h
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n != 10 {
		t.Fatalf("namespace a has %d keys in its span, want 10", n)
	}
}

// TestCommitHooksNeverRunOnTheCaller: a replica queues a batch under a key's
// lock and its hook takes that lock. When the engine is closing, the hook
// must still not run on the queuing goroutine, or that goroutine deadlocks
// on its own lock (as a read repair racing a shutdown once did).
func TestCommitHooksNeverRunOnTheCaller(t *testing.T) {
	for _, how := range []string{"engine closed", "committer closed"} {
		t.Run(how, func(t *testing.T) {
			e := openTest(t, t.TempDir())
			if how == "engine closed" {
				if err := e.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				e.commit.close() // the engine's own flag not yet set
				defer e.Close()
			}
			var mu sync.Mutex
			var hookErr error
			done := make(chan error, 1)
			go func() {
				b := e.NewBatch()
				b.Set([]byte("k"), []byte("v"))
				b.OnCommit(func(err error) {
					mu.Lock()
					hookErr = err
					mu.Unlock()
				})
				mu.Lock()
				wait := e.CommitAsync(b)
				mu.Unlock()
				done <- wait()
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrClosed) {
					t.Fatalf("commit on a closed engine: %v, want ErrClosed", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the commit hook deadlocked on its caller's lock")
			}
			mu.Lock()
			defer mu.Unlock()
			if !errors.Is(hookErr, ErrClosed) {
				t.Fatalf("hook saw %v, want ErrClosed", hookErr)
			}
		})
	}
}

// Close waits for an open iterator (Pebble panics on a read of a closed
// database), and reads that start once it has begun fail with ErrClosed.
func TestCloseWaitsForReadsUnderWay(t *testing.T) {
	e := openTest(t, t.TempDir())
	it, err := e.NewIter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	testutil.Eventually(t, "Close to start", func() bool { return e.closed.Load() })
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while an iterator was open", err)
	default:
	}
	if err := e.Get([]byte("k"), func([]byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get on a closing engine: %v, want ErrClosed", err)
	}
	if _, err := e.NewIter(nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewIter on a closing engine: %v, want ErrClosed", err)
	}
	it.First() // the open iterator still works
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}
