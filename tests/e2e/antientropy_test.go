package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
)

// TestAntiEntropyBringsBackAReplicaWithoutHints: n3 is killed while 3,000
// writes and deletes go through n1; the other nodes keep no hints (their
// hint store holds one byte) and no read repairs. After n3's restart, anti-
// entropy alone makes its own copy whole; `pando status` says when every
// partition was last in sync, and `pando anti-entropy budget` changes what
// it may move on every node.
func TestAntiEntropyBringsBackAReplicaWithoutHints(t *testing.T) {
	nodes := startCluster(t, 3, "--read-repair=false", "--hint-max-bytes=1", "--anti-entropy-interval=500ms")
	nodes[2].kill()
	c := nodes[0].client(t)
	const keys = 2250 // and every third deleted: 3,000 operations
	for i := range keys {
		k := fmt.Sprint("k", i)
		if err := c.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		if i%3 == 0 {
			if err := c.Del(ctx, k).Err(); err != nil {
				t.Fatalf("DEL %s: %v", k, err)
			}
		}
	}
	if v := nodes[0].metric(t, `pando_hints_pending{node="n3"}`); v != "" && v != "0" {
		t.Fatalf("n1 keeps %s hints for n3; this test wants none", v)
	}
	out, err := run(t, nil, "status", "--http", nodes[0].http)
	if err != nil || !strings.Contains(out, "anti-entropy on n1: not yet in sync with every replica") {
		t.Fatalf("pando status through n1 with n3 down:\n%s %v", out, err)
	}

	nodes[2].restart()
	start := time.Now()
	testutil.Eventually(t, "n3 to be in sync with every replica", func() bool {
		out, err := run(t, nil, "status", "--http", nodes[2].http)
		return err == nil && strings.Contains(out, "anti-entropy on n3: every partition in sync with its replicas as of")
	})
	t.Logf("n3 in sync %v after its restart", time.Since(start).Round(time.Millisecond))
	repaired := 0.0
	for _, n := range nodes {
		repaired += n.metricSum(t, "pando_antientropy_records_repaired_total")
	}
	if repaired < keys {
		t.Fatalf("anti-entropy repaired %v records over the cluster, want at least %d", repaired, keys)
	}

	nodes[2].holdsOwnCopy(t, keys)

	out, err = run(t, nil, "anti-entropy", "budget", "--records", "250", "--bytes", "1MiB", "--http", nodes[0].http)
	if err != nil || strings.Count(out, "budget 250 records/s, 1.0 MiB/s") != 3 {
		t.Fatalf("pando anti-entropy budget:\n%s %v", out, err)
	}
	out, err = run(t, nil, "status", "--partitions", "--http", nodes[1].http)
	if err != nil || !strings.Contains(out, "budget 250 records/s, 1.0 MiB/s") || !strings.Contains(out, "PARTITION") {
		t.Fatalf("pando status --partitions through n2 after the budget changed:\n%s %v", out, err)
	}
	if out, err := run(t, nil, "anti-entropy", "budget", "--http", nodes[0].http); err == nil {
		t.Fatalf("pando anti-entropy budget with no flag succeeded:\n%s", out)
	}
}
