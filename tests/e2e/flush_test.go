package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pandodb/pando/internal/testutil"
)

// TestFlushAndDrop: FLUSHDB through one node empties the namespace for every
// node; pando ns drop asks for --yes, then removes a namespace, whose name
// can be used again for an empty one.
func TestFlushAndDrop(t *testing.T) {
	nodes := startCluster(t, 3)
	c1, c2, c3 := nodes[0].client(t), nodes[1].client(t), nodes[2].client(t)
	for i := range 20 {
		if err := c1.Set(ctx, fmt.Sprint("k", i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c2.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("FLUSHDB: %v", err)
	}
	testutil.Eventually(t, "DBSIZE through n3 to be 0", func() bool {
		n, err := c3.DBSize(ctx).Result()
		return err == nil && n == 0
	})
	if err := c3.Set(ctx, "after", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := c1.Get(ctx, "after").Result(); err != nil || v != "v" {
		t.Fatalf("a write after FLUSHDB: %q %v", v, err)
	}

	if out, err := run(t, nil, "ns", "create", "temp", "--http", nodes[0].http); err != nil {
		t.Fatalf("ns create: %v\n%s", err, out)
	}
	if err := c1.Do(ctx, "namespace", "temp").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c1.Set(ctx, "k", "old", 0).Err(); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, "ns", "drop", "temp", "--http", nodes[1].http)
	if err == nil || !strings.Contains(out, "run again with --yes") {
		t.Fatalf("ns drop without --yes: %v\n%s", err, out)
	}
	if out, err := run(t, nil, "ns", "drop", "temp", "--yes", "--http", nodes[1].http); err != nil || !strings.Contains(out, "namespace temp dropped") {
		t.Fatalf("ns drop --yes: %v\n%s", err, out)
	}
	testutil.Eventually(t, "the dropped namespace to be gone through n3", func() bool {
		err := c3.Do(ctx, "namespace", "temp").Err()
		return err != nil && strings.Contains(err.Error(), "no such namespace")
	})
	if out, err := run(t, nil, "ns", "create", "temp", "--http", nodes[2].http); err != nil {
		t.Fatalf("creating it again: %v\n%s", err, out)
	}
	fresh := nodes[0].client(t)
	if err := fresh.Do(ctx, "namespace", "temp").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := fresh.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("k in the namespace created again: %d %v; want it empty", n, err)
	}
}
