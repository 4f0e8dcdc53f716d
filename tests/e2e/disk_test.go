package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
)

// TestFullDisk: a node whose data directory is on a 48 MB file system,
// filled by 8 KiB values. Before the file system is full, writes are
// refused at once with -NOSPACE (never a hang), reads go on, /readyz and
// pando status say why, and the log says it once, not once per failed
// flush. Once space is freed, writes are taken again without a restart,
// and every acknowledged write is there.
func TestFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small file system here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 16<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, dataDir: filepath.Join(dir, "data"), args: []string{"--min-free-disk", "8MiB"}}
	n.start(nil)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(n.logs())
		}
	})
	c := n.client(t)
	raw := make([]byte, 6144)
	_, _ = rand.Read(raw)
	value := base64.StdEncoding.EncodeToString(raw) // 8 KiB that do not compress
	var acked []string
	var refusal error
	for i := 0; i < 10000 && refusal == nil; i++ {
		k := fmt.Sprintf("key:%d", i)
		start := time.Now()
		err := c.Set(ctx, k, value, 0).Err()
		if d := time.Since(start); d > 6*time.Second {
			t.Fatalf("SET %s took %v", k, d)
		}
		if err != nil {
			refusal = err
			break
		}
		acked = append(acked, k)
	}
	if refusal == nil || !strings.HasPrefix(refusal.Error(), "NOSPACE ") {
		t.Fatalf("after %d SETs of 8 KiB on 32 MB: %v, want a NOSPACE refusal", len(acked), refusal)
	}
	t.Logf("%d SETs of 8 KiB acknowledged, then: %v", len(acked), refusal)
	for range 3 { // refused again, at once
		if err := c.Set(ctx, "more", value, 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOSPACE ") {
			t.Fatalf("a SET while refusing: %v", err)
		}
	}
	if v, err := c.Get(ctx, acked[0]).Result(); err != nil || v != value {
		t.Fatalf("GET while writes are refused: %d bytes, %v", len(v), err)
	}
	resp, err := http.Get("http://" + n.http + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "data writes refused") {
		t.Fatalf("/readyz while refusing: %d %s", resp.StatusCode, body)
	}
	if out, err := run(t, nil, "status", "--http", n.http); err != nil || !strings.Contains(out, "data writes refused") {
		t.Fatalf("pando status while refusing:\n%s %v", out, err)
	}
	if got := n.metric(t, "pando_storage_writes_refused"); got != "1" {
		t.Fatalf("pando_storage_writes_refused = %q", got)
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "writes taken again once there is room", func() bool {
		return c.Set(ctx, "after", "v", 0).Err() == nil
	})
	for _, k := range acked {
		if v, err := c.Get(ctx, k).Result(); err != nil || v != value {
			t.Fatalf("acknowledged %s: %d bytes, %v", k, len(v), err)
		}
	}
	lines := 0
	for _, l := range strings.Split(n.logs(), "\n") {
		if strings.Contains(l, "refused") || strings.Contains(l, "background error") || strings.Contains(l, "accepted again") {
			lines++
		}
	}
	if lines > 4 {
		t.Fatalf("%d log lines about the disk:\n%s", lines, n.logs())
	}
}

// TestFailedFsyncReopensTheNode: a node whose write-ahead log fails an
// fsync (EIO, once, injected through --debug-disk-faults) answers the write
// that met it with -IOERR, never OK; it then stops acknowledging, opens
// its data directory again (the log as far as it was synced) on the same
// addresses, and serves again once the disk takes writes, with every
// acknowledged write there. No restart by hand.
func TestFailedFsyncReopensTheNode(t *testing.T) {
	n := startNode(t, t.TempDir(), "--debug-disk-faults")
	c := n.client(t)
	var acked []string
	for i := range 50 {
		k := fmt.Sprintf("key:%d", i)
		if err := c.Set(ctx, k, "v-"+k, 0).Err(); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, k)
	}
	fault := func(mode string) error {
		resp, err := http.Post("http://"+n.http+"/v1/debug/disk", "application/json", strings.NewReader(`{"fault":"`+mode+`","ops":1}`))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return nil
	}
	if err := fault("no-such-fault"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("an unknown fault: %v, want 400", err)
	}
	if err := fault("fsync"); err != nil { // the next fsync of the log fails
		t.Fatal(err)
	}
	err := c.Set(ctx, "failed", "v", 0).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "IOERR ") {
		t.Fatalf("SET meeting a failed fsync: %v, want IOERR", err)
	}
	testutil.Eventually(t, "the node reopened and takes writes", func() bool {
		return c.Set(ctx, "after", "v", 0).Err() == nil
	})
	for _, k := range acked {
		if v, err := c.Get(ctx, k).Result(); err != nil || v != "v-"+k {
			t.Fatalf("acknowledged %s after the reopen: %q %v", k, v, err)
		}
	}
	select {
	case <-n.done:
		t.Fatalf("the process exited: %v", n.exitErr)
	default:
	}
	logs := n.logs()
	for _, want := range []string{"storage failed a write", "reopening the node from its data directory"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the log does not say %q:\n%s", want, logs)
		}
	}
}
