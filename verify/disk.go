package verify

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// The disk nemesis fills a node's file system, then frees it. Each node's
// data directory is then a file system of its own (a tmpfs of
// diskFSBytes), and nodes run with --min-free-disk diskFloor: the fault
// writes ballast that leaves diskLeft free, under the floor, so the node
// refuses data writes (-NOSPACE) as it would on a full disk, and the heal
// removes it. The room under the floor is what a real node keeps for
// flushes, compactions, Raft logs and hints.
const (
	diskFSBytes = 512 << 20
	diskFloor   = 64 << 20
	diskLeft    = 32 << 20
)

func diskFlags() []string { return []string{"--min-free-disk", fmt.Sprint(diskFloor)} }

// diskAvailable tells why the disk nemesis cannot run here, if it cannot.
func diskAvailable() error {
	if os.Geteuid() != 0 {
		return errors.New("the disk nemesis needs root (a tmpfs per node)")
	}
	return nil
}

// mountDisks gives every node's data directory a file system of its own;
// the returned function unmounts them.
func (c *cluster) mountDisks() (func(), error) {
	var mounted []string
	undo := func() {
		for _, dir := range mounted {
			_ = exec.Command("umount", "-l", dir).Run()
		}
	}
	for _, n := range c.nodes {
		if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
			undo()
			return nil, err
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", diskFSBytes), "tmpfs", n.dataDir).CombinedOutput(); err != nil {
			undo()
			return nil, fmt.Errorf("mounting a file system for %s: %v %s", n.id, err, out)
		}
		mounted = append(mounted, n.dataDir)
	}
	return undo, nil
}

func (n *node) ballast() string { return filepath.Join(n.dataDir, "nemesis-ballast") }

// fillDisk leaves diskLeft free on the node's file system.
func (n *node) fillDisk() error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(n.dataDir, &st); err != nil {
		return err
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free <= diskLeft {
		return nil
	}
	f, err := os.OpenFile(n.ballast(), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	return syscall.Fallocate(int(f.Fd()), 0, 0, free-diskLeft)
}

// freeDisk removes the ballast.
func (n *node) freeDisk() error {
	if err := os.Remove(n.ballast()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
