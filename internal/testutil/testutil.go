package testutil

import (
	"os"
	"os/exec"
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
