package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pandodb/pando/internal/testutil"
)

// TestEncryptedGossip: nodes started with --gossip-key-file form a cluster
// whose gossip is encrypted; a node with another key, or with none, is
// refused (counted, logged), never listed, never a member; and the key is
// rotated on the running cluster by editing the file in three steps, the
// cluster serving throughout.
func TestEncryptedGossip(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	for _, d := range []string{dir, other} {
		if out, err := run(t, nil, "cert", "create-gossip-key", "--out", d); err != nil {
			t.Fatalf("create-gossip-key: %v\n%s", err, out)
		}
	}
	if out, err := run(t, nil, "cert", "create-gossip-key", "--out", dir); err == nil || !strings.Contains(out, "never overwritten") {
		t.Fatalf("a second create-gossip-key over the first: %v\n%s", err, out)
	}
	keyFile := filepath.Join(dir, "gossip.key")
	oldKey, _ := os.ReadFile(keyFile)
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("gossip.key: %v %v", st.Mode(), err)
	}
	nodes := startCluster(t, 3, "--gossip-key-file", keyFile)
	c1, c3 := nodes[0].client(t), nodes[2].client(t)
	works := func(k string) {
		t.Helper()
		if err := c1.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatalf("SET %s through n1: %v", k, err)
		}
		if v, err := c3.Get(ctx, k).Result(); err != nil || v != "v" {
			t.Fatalf("GET %s through n3: %q %v", k, v, err)
		}
	}
	works("before")
	n1gossip := nodes[0].args[slices.Index(nodes[0].args, "--gossip-addr")+1]
	for i, keyArgs := range [][]string{{"--gossip-key-file", filepath.Join(other, "gossip.key")}, nil} {
		id := fmt.Sprintf("outsider%d", i)
		before := nodes[0].metricSum(t, "pando_gossip_refused_total")
		cmd := exec.Command(pandoBin, append([]string{"server", "--node-id", id, "--data-dir", t.TempDir(),
			"--resp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--cluster-addr", "127.0.0.1:0",
			"--gossip-addr", "127.0.0.1:0", "--join", n1gossip, "--gossip-profile", "local"}, keyArgs...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		testutil.Eventually(t, "n1 to refuse "+id, func() bool {
			return nodes[0].metricSum(t, "pando_gossip_refused_total") > before
		})
		out, err := run(t, nil, "status", "--http", nodes[0].http)
		if err != nil || strings.Contains(out, id) {
			t.Fatalf("%s, whose gossip was refused, is listed:\n%s %v", id, out, err)
		}
	}
	if !strings.Contains(nodes[0].logs(), "refused gossip not encrypted with a key of this cluster") {
		t.Fatalf("n1's log does not say it refused gossip:\n%s", nodes[0].logs())
	}

	// Rotation: the three nodes share the file; each reads it again
	// within a second of a change.
	newKey, _ := os.ReadFile(filepath.Join(other, "gossip.key"))
	reloads := func() int { // "gossip keys reloaded" lines on every node
		n := 0
		for _, nd := range nodes {
			n += strings.Count(nd.logs(), "gossip keys reloaded")
		}
		return n
	}
	for step, content := range []string{
		string(oldKey) + string(newKey), // both read, the old encrypts
		string(newKey) + string(oldKey), // the new encrypts
		string(newKey),                  // the old is gone
	} {
		if err := os.WriteFile(keyFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		want := 3 * (step + 1)
		testutil.Eventually(t, fmt.Sprintf("step %d read by every node", step+1), func() bool { return reloads() >= want })
		works(fmt.Sprintf("step%d", step+1))
	}
	out, err := run(t, nil, "status", "--http", nodes[0].http)
	if err != nil || len(regexp.MustCompile(`(?m)^n\d\s+up\s`).FindAllString(out, -1)) != 3 {
		t.Fatalf("after the rotation:\n%s %v", out, err)
	}
	// A file that does not parse keeps the keys in use.
	if err := os.WriteFile(keyFile, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the bad file reported", func() bool {
		return strings.Contains(nodes[0].logs(), "gossip key file changed but cannot be used")
	})
	works("after")
}
