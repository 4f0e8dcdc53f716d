package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// startCluster runs n pando processes that form one cluster: fixed gossip
// ports (each node's --join lists them all, its own included), kernel-chosen
// ports for the rest, and extra flags on every node.
func startCluster(t *testing.T, n int, extra ...string) []*node {
	t.Helper()
	ports := freePorts(t, n)
	var join []string
	for i := range n {
		join = append(join, fmt.Sprintf("127.0.0.1:%d", ports[i]))
	}
	nodes := make([]*node, n)
	var wg sync.WaitGroup
	for i := range n {
		nodes[i] = &node{t: t, dataDir: t.TempDir(), args: []string{
			"--node-id", fmt.Sprintf("n%d", i+1), "--bootstrap-expect", fmt.Sprint(n),
			"--join", strings.Join(join, ","), "--gossip-profile", "local", "--request-timeout", "2s",
		}}
		nodes[i].args = append(nodes[i].args, extra...)
	}
	// The harness passes --gossip-addr 127.0.0.1:0; a later flag wins.
	for i := range n {
		nodes[i].args = append(nodes[i].args, "--gossip-addr", join[i])
	}
	errs := make(chan string, n)
	for _, nd := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs <- fmt.Sprint(r)
				}
			}()
			nd.start(nil)
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	return nodes
}

func TestClusterWriteThroughOneReadThroughAnother(t *testing.T) {
	nodes := startCluster(t, 3)
	c1, c3 := nodes[0].client(t), nodes[2].client(t)
	for i := range 100 {
		if err := c1.Set(ctx, fmt.Sprint("key:", i), fmt.Sprint("value:", i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		if v, err := c3.Get(ctx, fmt.Sprint("key:", i)).Result(); err != nil || v != fmt.Sprint("value:", i) {
			t.Fatalf("key:%d through n3: %q %v", i, v, err)
		}
	}
	// n1 coordinated the 100 writes and sent each to both other replicas.
	testutil.Eventually(t, "n1 to report 200 replicated records", func() bool {
		return nodes[0].metric(t, "pando_replication_batch_records_sum") == "200"
	})
	if v := nodes[0].metric(t, `pando_replication_failed_records_total{peer="n2"}`); v != "" {
		t.Fatalf("%s records to n2 failed", v)
	}
	if n, err := nodes[1].client(t).DBSize(ctx).Result(); err != nil || n != 100 {
		t.Fatalf("DBSIZE through n2: %d %v", n, err)
	}
	// A namespace created through n2's HTTP API is usable through n1 at once.
	resp, err := http.Post("http://"+nodes[1].http+"/v1/ns", "application/json", strings.NewReader(`{"name":"users","n":2}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create namespace: %v %v", resp, err)
	}
	resp.Body.Close()
	single := redis.NewClient(&redis.Options{Addr: nodes[0].resp, PoolSize: 1})
	defer single.Close()
	if err := single.Do(ctx, "namespace", "users").Err(); err != nil {
		t.Fatalf("NAMESPACE users through n1 right after creating it through n2: %v", err)
	}
	if err := single.Set(ctx, "alice", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, "get", "--http", nodes[2].http, "--ns", "users", "alice")
	if err != nil || out != "a" {
		t.Fatalf("pando get through n3: %q %v", out, err)
	}
	out, err = run(t, nil, "status", "--http", nodes[2].http)
	if err != nil || strings.Count(out, " up ") != 3 || !strings.Contains(out, "users") {
		t.Fatalf("pando status:\n%s %v", out, err)
	}
}

// TestClusterKillDuringQuorumWrites: clients write unique keys at QUORUM
// through two nodes while the third is killed with SIGKILL and restarted.
// Every acknowledged write must be readable afterwards.
func TestClusterKillDuringQuorumWrites(t *testing.T) {
	nodes := startCluster(t, 3)
	var acked sync.Map
	var count, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, via := range []*node{nodes[0], nodes[2]} {
		c := redis.NewClient(&redis.Options{Addr: via.resp, PoolSize: 8, MaxRetries: -1})
		defer c.Close()
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					k := fmt.Sprintf("%s-w%d-%d", via.resp, w, i)
					if err := c.Set(ctx, k, k, 0).Err(); err == nil {
						acked.Store(k, true)
						count.Add(1)
					} else {
						failed.Add(1)
					}
				}
			}()
		}
	}
	waitFor := func(n int64) {
		deadline := time.Now().Add(60 * time.Second)
		for count.Load() < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polling a counter
		}
	}
	waitFor(500)
	nodes[1].kill()
	before := count.Load()
	waitFor(before + 500) // writes go on with one node down
	if count.Load() < before+500 {
		t.Fatalf("writes stalled with one node down: %d acknowledged after the kill", count.Load()-before)
	}
	nodes[1].restart()
	waitFor(count.Load() + 300)
	close(stop)
	wg.Wait()
	t.Logf("%d writes acknowledged, %d refused", count.Load(), failed.Load())
	c2 := redis.NewClient(&redis.Options{Addr: nodes[1].resp, PoolSize: 1})
	defer c2.Close()
	if err := c2.Do(ctx, "consistency", "all").Err(); err != nil {
		t.Fatal(err)
	}
	missing := 0
	acked.Range(func(k, _ any) bool {
		if v, err := c2.Get(ctx, k.(string)).Result(); err != nil || v != k {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged %s: %q %v", k, v, err)
			}
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d acknowledged writes lost", missing)
	}
}

// TestCandidateAdmittedAndRemoved: a node started with --join against a
// running cluster is a candidate, not a member: it is listed as such, and
// does not serve, until `pando cluster join` admits it; then it serves
// every key (owning none until its staged join is committed). Stopped, it
// is removed for good with `pando cluster remove` once no staged change
// names it, and a member that owns partitions is never removed.
func TestCandidateAdmittedAndRemoved(t *testing.T) {
	nodes := startCluster(t, 3)
	n1 := nodes[0].http
	n4 := &node{t: t, dataDir: t.TempDir(), args: []string{
		"--node-id", "n4", "--join", nodes[0].args[slices.Index(nodes[0].args, "--gossip-addr")+1],
		"--gossip-profile", "local", "--request-timeout", "2s",
	}}
	started := make(chan struct{})
	go func() {
		defer close(started)
		n4.start(nil) // returns once n4 serves, that is once admitted
	}()
	testutil.Eventually(t, "n4 listed as a candidate", func() bool {
		out, err := run(t, nil, "status", "--http", n1)
		return err == nil && regexp.MustCompile(`(?m)^n4\s+up\s+candidate\s`).MatchString(out)
	})
	if out, err := run(t, nil, "cluster", "join", "n9", "--http", n1); err == nil || !strings.Contains(out, "no node n9 is up") {
		t.Fatalf("admitting an unknown node: %v\n%s", err, out)
	}
	if out, err := run(t, nil, "cluster", "join", "n4", "--http", n1); err != nil || !strings.Contains(out, "admitted n4") {
		t.Fatalf("pando cluster join n4: %v\n%s", err, out)
	}
	<-started
	if n4.resp == "" {
		t.Fatal("n4 never served after it was admitted")
	}
	c4 := n4.client(t)
	if err := c4.Set(ctx, "through-n4", "v", 0).Err(); err != nil {
		t.Fatalf("SET through the admitted node: %v", err)
	}
	if v, err := nodes[2].client(t).Get(ctx, "through-n4").Result(); err != nil || v != "v" {
		t.Fatalf("GET through n3 of a key written through n4: %q %v", v, err)
	}
	out, err := run(t, nil, "status", "--http", n1)
	if err != nil || !regexp.MustCompile(`(?m)^n4\s+up\s+learner\s+0\s`).MatchString(out) {
		t.Fatalf("status after admitting n4 (a learner owning nothing):\n%s %v", out, err)
	}
	if out, err := run(t, nil, "cluster", "remove", "n4", "--http", n1); err == nil || !strings.Contains(out, "is up") {
		t.Fatalf("removing a member that is up: %v\n%s", err, out)
	}
	n4.stop()
	testutil.Eventually(t, "n4 seen down", func() bool {
		out, err := run(t, nil, "status", "--http", n1)
		return err == nil && regexp.MustCompile(`(?m)^n4\s+(down|stopped)\s`).MatchString(out)
	})
	if out, err := run(t, nil, "cluster", "remove", "n4", "--http", n1); err == nil || !strings.Contains(out, "staged change") {
		t.Fatalf("removing a member a staged join names: %v\n%s", err, out)
	}
	if out, err := run(t, nil, "cluster", "clear", "--http", n1); err != nil {
		t.Fatalf("pando cluster clear: %v\n%s", err, out)
	}
	if out, err := run(t, nil, "cluster", "remove", "n4", "--http", n1); err != nil || !strings.Contains(out, "removed n4") {
		t.Fatalf("pando cluster remove n4: %v\n%s", err, out)
	}
	nodes[2].stop()
	// n3 may have led the metadata group: until another leads, the remove
	// is refused for want of a quorum; then for what n3 owns, never done.
	var out3 string
	testutil.Eventually(t, "removing n3, which owns partitions, refused for that", func() bool {
		out3, err = run(t, nil, "cluster", "remove", "n3", "--http", n1)
		if err == nil {
			t.Fatalf("a member that owns partitions was removed:\n%s", out3)
		}
		return strings.Contains(out3, "owns")
	})
}

// TestScaleOutWithTheCLI: a fourth node joins a running cluster with
// `pando cluster join`, `plan` shows what moves before anything does,
// `commit` and `wait` move its share to it while a client keeps writing;
// then every key written is read through it, it owns a balanced share,
// and `leave` hands everything back, after which it is removed for good.
func TestScaleOutWithTheCLI(t *testing.T) {
	nodes := startCluster(t, 3)
	n1 := nodes[0].http
	c1 := nodes[0].client(t)
	written := 0
	for ; written < 500; written++ {
		if err := c1.Set(ctx, fmt.Sprint("before:", written), written, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A strong namespace moves too, through its partitions' Raft groups.
	if out, err := run(t, nil, "ns", "create", "bank", "--model", "strong", "--http", n1); err != nil {
		t.Fatalf("pando ns create bank: %v\n%s", err, out)
	}
	s1 := nodes[0].nsClient(t, "bank")
	strongSet := func(i int) error {
		// A SET is idempotent: one answered UNAVAILABLE (a group electing)
		// or UNKNOWN is sent again.
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := s1.Set(ctx, fmt.Sprint("acct:", i), i, 0).Err()
			if err == nil || time.Now().After(deadline) {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range 100 {
		if err := strongSet(i); err != nil {
			t.Fatalf("SET acct:%d in strong namespace bank: %v", i, err)
		}
	}
	n4 := &node{t: t, dataDir: t.TempDir(), args: []string{
		"--node-id", "n4", "--join", nodes[0].args[slices.Index(nodes[0].args, "--gossip-addr")+1],
		"--gossip-profile", "local", "--request-timeout", "2s",
	}}
	started := make(chan struct{})
	go func() { defer close(started); n4.start(nil) }()
	testutil.Eventually(t, "n4 a candidate", func() bool {
		out, err := run(t, nil, "status", "--http", n1)
		return err == nil && regexp.MustCompile(`(?m)^n4\s+up\s+candidate\s`).MatchString(out)
	})
	if out, err := run(t, nil, "cluster", "join", "n4", "--http", n1); err != nil || !strings.Contains(out, "staged: join n4") {
		t.Fatalf("pando cluster join n4: %v\n%s", err, out)
	}
	<-started
	if out, err := run(t, nil, "status", "--http", n1); err != nil || !strings.Contains(out, "staged, not committed: 1 change") {
		t.Fatalf("status with a join staged:\n%s %v", out, err)
	}
	out, err := run(t, nil, "cluster", "plan", "--http", n1)
	if err != nil || !regexp.MustCompile(`(?m)^n4\s+0\s+16\s+\d+`).MatchString(out) || !strings.Contains(out, "partition copies move") || !strings.Contains(out, "raft groups of strong partitions change members") {
		t.Fatalf("pando cluster plan:\n%s %v", out, err)
	}
	if out, err := run(t, nil, "cluster", "commit", "--http", n1); err != nil || !strings.Contains(out, "committed move") {
		t.Fatalf("pando cluster commit: %v\n%s", err, out)
	}
	stop := make(chan struct{})
	writes := make(chan int)
	go func() {
		i := 0
		defer func() { writes <- i }()
		for ; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := c1.Set(ctx, fmt.Sprint("during:", i), i, 0).Err(); err != nil {
				t.Errorf("SET during the move: %v", err)
				return
			}
			if i%20 == 0 {
				if err := strongSet(100 + i/20); err != nil {
					t.Errorf("SET in strong namespace bank during the move: %v", err)
					return
				}
			}
		}
	}()
	if out, err := run(t, nil, "cluster", "wait", "--timeout", "60s", "--http", n1); err != nil || !strings.Contains(out, "has finished") {
		t.Fatalf("pando cluster wait: %v\n%s", err, out)
	}
	close(stop)
	during := <-writes
	out, err = run(t, nil, "status", "--http", n1)
	if err != nil || !regexp.MustCompile(`(?m)^n4\s+up\s+\w+\s+16\s`).MatchString(out) {
		t.Fatalf("status after the move (n4 owning 16 of 64):\n%s %v", out, err)
	}
	c4 := n4.client(t)
	for i := range written {
		if v, err := c4.Get(ctx, fmt.Sprint("before:", i)).Int(); err != nil || v != i {
			t.Fatalf("GET before:%d through n4: %d %v", i, v, err)
		}
	}
	for i := range during {
		if v, err := c4.Get(ctx, fmt.Sprint("during:", i)).Int(); err != nil || v != i {
			t.Fatalf("GET during:%d through n4: %d %v", i, v, err)
		}
	}
	s4 := n4.nsClient(t, "bank")
	for i := range 100 + (during+19)/20 {
		if v, err := s4.Get(ctx, fmt.Sprint("acct:", i)).Int(); err != nil || v != i {
			t.Fatalf("GET acct:%d in strong namespace bank through n4: %d %v", i, v, err)
		}
	}
	t.Logf("%d writes before the move and %d during it, all read through n4, with %d strong keys", written, during, 100+(during+19)/20)
	if out, err := run(t, nil, "cluster", "leave", "n4", "--http", n1); err != nil {
		t.Fatalf("pando cluster leave n4: %v\n%s", err, out)
	}
	if out, err := run(t, nil, "cluster", "commit", "--http", n1); err != nil {
		t.Fatalf("pando cluster commit: %v\n%s", err, out)
	}
	if out, err := run(t, nil, "cluster", "wait", "--timeout", "60s", "--http", n1); err != nil {
		t.Fatalf("pando cluster wait: %v\n%s", err, out)
	}
	n4.stop()
	testutil.Eventually(t, "n4 removed once down", func() bool {
		out, err := run(t, nil, "cluster", "remove", "n4", "--http", n1)
		return err == nil && strings.Contains(out, "removed n4")
	})
	c3 := nodes[2].client(t)
	for i := range during {
		if v, err := c3.Get(ctx, fmt.Sprint("during:", i)).Int(); err != nil || v != i {
			t.Fatalf("GET during:%d through n3 after n4 left: %d %v", i, v, err)
		}
	}
}
