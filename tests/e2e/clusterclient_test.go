package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// TestClusterClient: go-redis's ClusterClient, given one node's address,
// learns the cluster from CLUSTER SLOTS, writes each key through one of its
// replicas (on five nodes, where a plain client's node forwards the writes
// of keys it does not replicate), and carries on when a node is killed: the slots it led move to the next live
// replica in the answers, and the client follows when it reloads them.
// go-redis reloads on MOVED, which Pando never needs to send, and every
// ClusterStateReloadInterval (60 s by default): the README advises a few
// seconds, as here.
func TestClusterClient(t *testing.T) {
	nodes := startCluster(t, 5)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[0].resp}, ClusterStateReloadInterval: time.Second})
	defer cc.Close()
	shards, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	covered, masters := 0, map[string]bool{}
	for _, s := range shards {
		covered += s.End - s.Start + 1
		if len(s.Nodes) != 3 { // N = 3
			t.Fatalf("slots %d-%d list %d nodes, want the 3 replicas", s.Start, s.End, len(s.Nodes))
		}
		masters[s.Nodes[0].Addr] = true
	}
	if covered != 16384 || len(masters) != 5 {
		t.Fatalf("CLUSTER SLOTS covers %d slots with %d masters, want 16384 over 5", covered, len(masters))
	}
	for i := range 200 {
		if err := cc.Set(ctx, fmt.Sprint("k", i), i, 0).Err(); err != nil {
			t.Fatalf("SET through the cluster client: %v", err)
		}
	}
	forwarded := func() (n int) {
		for _, nd := range nodes {
			v, _ := strconv.Atoi(nd.metric(t, "pando_client_writes_forwarded_total"))
			n += v
		}
		return n
	}
	if n := forwarded(); n != 0 {
		t.Fatalf("%d of the cluster client's 200 writes were forwarded between nodes; each should reach a replica of its key", n)
	}
	plain := nodes[0].client(t)
	for i := range 200 {
		if err := plain.Set(ctx, fmt.Sprint("p", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n := forwarded(); n == 0 {
		t.Fatal("a plain client's 200 writes through one of five nodes were never forwarded: the metric counts nothing")
	}
	nodes[1].kill()
	testutil.Eventually(t, "the killed node to leave CLUSTER SLOTS", func() bool {
		out, err := cc.ClusterNodes(ctx).Result()
		return err == nil && strings.Count(out, ",fail") == 1
	})
	for i := range 200 {
		k := fmt.Sprint("k", i)
		testutil.Eventually(t, "a read of "+k+" through the cluster client", func() bool {
			v, err := cc.Get(ctx, k).Int()
			return err == nil && v == i
		})
	}
	if err := cc.Set(ctx, "after", "kill", 0).Err(); err != nil {
		t.Fatalf("SET with a node down: %v", err)
	}
}

// TestBenchClusterMode: pando bench --cluster routes every key to its
// slot's master, so on five nodes (N = 3) no write is forwarded between
// nodes; without it, connections to a node that is not a replica of the key
// are.
func TestBenchClusterMode(t *testing.T) {
	nodes := startCluster(t, 5)
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.resp)
	}
	forwarded := func() (n int) {
		for _, nd := range nodes {
			v, _ := strconv.Atoi(nd.metric(t, "pando_client_writes_forwarded_total"))
			n += v
		}
		return n
	}
	bench := func(extra ...string) string {
		args := append([]string{"bench", "--addr", strings.Join(addrs, ","), "--clients", "4", "--reads", "0",
			"--duration", "1s", "--warmup", "100ms", "--consistency", "quorum"}, extra...)
		out, err := run(t, nil, args...)
		if err != nil || !strings.Contains(out, "errors: 0 of") {
			t.Fatalf("pando %v: %v\n%s", args, err, out)
		}
		return out
	}
	bench("--cluster")
	if n := forwarded(); n != 0 {
		t.Fatalf("pando bench --cluster: %d writes forwarded between nodes, want 0", n)
	}
	bench()
	if n := forwarded(); n == 0 {
		t.Fatal("pando bench over plain connections to five nodes: no write forwarded")
	}
}
