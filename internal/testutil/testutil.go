package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test if it still does
// not after 20 seconds. what names the awaited state in the failure.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BuildPando builds the pando command into out, with the given build tags
// (may be empty), showing the compiler's output on stderr.
func BuildPando(out, tags string) error {
	cmd := exec.Command("go", "build", "-tags", tags, "-o", out, "github.com/pandodb/pando/cmd/pando")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// OverwriteKeepingTimes writes each of files from dir from over the file of
// that name in dir to, in place, and puts back the modification time the
// old file had: a change that a watch of file times cannot see.
func OverwriteKeepingTimes(t testing.TB, from, to string, files ...string) {
	t.Helper()
	for _, f := range files {
		st, err := os.Stat(filepath.Join(to, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(to, f), st.ModTime(), st.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
}
