package resp_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pandodb/pando/internal/api"
	"github.com/redis/go-redis/v9"
)

// A lone node presents itself as a Redis Cluster of one that owns every
// slot, and a cluster client works against it.
func TestClusterCommandsOnALoneNode(t *testing.T) {
	ts := start(t, api.DefaultLimits())
	c := ts.client(t)
	if n, err := c.ClusterKeySlot(ctx, "somekey").Result(); err != nil || n != 11058 {
		t.Fatalf("CLUSTER KEYSLOT somekey: %d %v, want 11058 as Redis", n, err)
	}
	a, _ := c.ClusterKeySlot(ctx, "{user42}.cart").Result()
	b, _ := c.ClusterKeySlot(ctx, "{user42}.orders").Result()
	if a != b {
		t.Fatalf("keys with one hash tag in slots %d and %d", a, b)
	}
	id, err := c.Do(ctx, "cluster", "myid").Text()
	if err != nil || len(id) != 40 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("CLUSTER MYID: %q %v, want 40 hex digits", id, err)
	}
	slots, err := c.ClusterSlots(ctx).Result()
	if err != nil || len(slots) != 1 || slots[0].Start != 0 || slots[0].End != 16383 || len(slots[0].Nodes) != 1 ||
		slots[0].Nodes[0].Addr != ts.addr || slots[0].Nodes[0].ID != id {
		t.Fatalf("CLUSTER SLOTS: %+v %v", slots, err)
	}
	shards, err := c.ClusterShards(ctx).Result()
	if err != nil || len(shards) != 1 || len(shards[0].Nodes) != 1 || shards[0].Nodes[0].Role != "master" {
		t.Fatalf("CLUSTER SHARDS: %+v %v", shards, err)
	}
	nodes, err := c.ClusterNodes(ctx).Result()
	if err != nil || !strings.HasPrefix(nodes, id+" "+ts.addr+"@0 myself,master") || !strings.Contains(nodes, " 0-16383") {
		t.Fatalf("CLUSTER NODES: %q %v", nodes, err)
	}
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
		t.Fatalf("CLUSTER INFO: %q %v", info, err)
	}
	for _, cmd := range []string{"readonly", "readwrite", "asking"} {
		if err := c.Do(ctx, cmd).Err(); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	if err := c.Do(ctx, "cluster", "meet", "a", "1").Err(); err == nil || !strings.Contains(err.Error(), "Try CLUSTER SLOTS") {
		t.Fatalf("CLUSTER MEET: %v", err)
	}

	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{ts.addr}})
	defer cc.Close()
	for i := range 20 {
		k := fmt.Sprintf("{user%d}.name", i)
		if err := cc.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("cluster client SET: %v", err)
		}
		if v, err := cc.Get(ctx, k).Int(); err != nil || v != i {
			t.Fatalf("cluster client GET %s: %d %v", k, v, err)
		}
	}
}
