package storage

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/pandodb/pando/internal/testutil"
)

// fullFS fails the creation of table files with ENOSPC while full is set:
// a flush then fails as on a full disk, and the WAL goes on.
type fullFS struct {
	vfs.FS
	full atomic.Bool
}

func (f *fullFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if f.full.Load() && strings.HasSuffix(name, ".sst") {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
	}
	return f.FS.Create(name, cat)
}

// TestFlushOutOfSpaceRefusesWrites: a flush that fails for want of space
// makes WriteRefusal answer ErrNoSpace at once (writes would only fill
// memtables that cannot be flushed, until every commit stalls); a flush
// that succeeds again clears it.
func TestFlushOutOfSpaceRefusesWrites(t *testing.T) {
	fs := &fullFS{FS: vfs.NewMem()}
	e, err := Open(Config{Dir: "db", FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	put := func(k string) {
		b := e.NewBatch()
		b.Set([]byte(k), []byte("v"))
		if err := e.Commit(b, true); err != nil {
			t.Fatal(err)
		}
	}
	put("a")
	if err := e.WriteRefusal(); err != nil {
		t.Fatalf("a healthy engine refuses writes: %v", err)
	}
	fs.full.Store(true)
	// Pebble retries a failed flush until it succeeds: ask for one and
	// do not wait for it.
	flushed, err := e.db.AsyncFlush()
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "writes refused after a flush failed with ENOSPC", func() bool { return errors.Is(e.WriteRefusal(), ErrNoSpace) })
	if d := e.Disk(); !strings.Contains(d.Refused, "full") {
		t.Fatalf("disk status: %+v", d)
	}
	fs.full.Store(false)
	<-flushed
	testutil.Eventually(t, "writes taken again once a flush succeeded", func() bool { return e.WriteRefusal() == nil })
	put("b")
}

// TestGuardRefusesBeforeTheDiskIsFull: on a small real file system, the
// guard refuses data writes once the free space falls under the floor,
// and takes them again, without a restart, once there is room.
func TestGuardRefusesBeforeTheDiskIsFull(t *testing.T) {
	dir := smallFS(t, 32<<20)
	e, err := Open(Config{Dir: filepath.Join(dir, "db"), MinFreeBytes: 8 << 20, CheckInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.WriteRefusal(); err != nil {
		t.Fatalf("an empty 32 MiB file system refuses writes: %v", err)
	}
	// Ballast that leaves 4 MiB free, under the floor of 8.
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, st.Bavail*uint64(st.Bsize)-4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "writes refused under the floor", func() bool { return errors.Is(e.WriteRefusal(), ErrNoSpace) })
	if d := e.Disk(); !strings.Contains(d.Refused, "--min-free-disk") || d.FreeBytes > 8<<20 {
		t.Fatalf("disk status under the floor: %+v", d)
	}
	// The same on a restart: refused from the start.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err = Open(Config{Dir: filepath.Join(dir, "db"), MinFreeBytes: 8 << 20, CheckInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("opening on a nearly full disk: %v", err)
	}
	defer e.Close()
	if err := e.WriteRefusal(); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("reopened under the floor: %v, want ErrNoSpace", err)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "writes taken again", func() bool { return e.WriteRefusal() == nil })
}

// smallFS mounts a tmpfs of size bytes for the test (root only) and
// returns its path.
func smallFS(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small file system here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}
