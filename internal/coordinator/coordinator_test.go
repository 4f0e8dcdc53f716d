package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/handoff"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
	"github.com/pandodb/pando/quorum"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// cluster is three coordinators over real Pebble stores, fixed metadata and
// an in-memory network behind a fault injector: the coordinator alone,
// without Raft or gossip.
type cluster struct {
	t      *testing.T
	faults *transport.Faults
	live   *liveness
	nodes  map[string]*testNode
}

type testNode struct {
	c     *Coordinator
	store *replica.Store
	hints *handoff.Store
}

// liveness is the gossip view the coordinators share.
type liveness struct {
	mu   sync.Mutex
	down map[string]bool
}

func (l *liveness) Up(node string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down[node]
}

func (l *liveness) set(node string, down bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down[node] = down
}

var ids = []string{"n1", "n2", "n3"}

// newCluster starts the three coordinators; configure adjusts each's Config.
func newCluster(t *testing.T, configure func(*Config)) *cluster {
	t.Helper()
	return newClusterAt(t, nil, configure)
}

// newClusterAt is newCluster with clk for every node's store (nil: the
// real clock).
func newClusterAt(t *testing.T, clk clock.Clock, configure func(*Config)) *cluster {
	t.Helper()
	net := transport.NewMemNetwork()
	cl := &cluster{t: t, faults: transport.NewFaults(7), live: &liveness{down: map[string]bool{}}, nodes: map[string]*testNode{}}
	meta := metadata.Fixed{S: metadata.FixedCluster(ids, 8,
		metadata.Namespace{Name: "hits", N: 3, Model: metadata.Eventual, Type: metadata.Counter},
		metadata.Namespace{Name: "tags", N: 3, Model: metadata.Eventual, Type: metadata.Set})}
	for _, id := range ids {
		eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.Close() })
		store, err := replica.New(replica.Config{Engine: eng, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		hints, err := handoff.Open(handoff.Config{Engine: eng})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{
			Self: id, Actor: id + ".1", Store: store, Meta: meta, Liveness: cl.live, Hints: hints,
			Transport: cl.faults.Wrap(id, net.Transport()), Timeout: time.Second, ReadRepairChance: -1,
			Registerer: prometheus.NewRegistry(),
		}
		if configure != nil {
			configure(&cfg)
		}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		net.Register(id, dataOnly{c.Handler()})
		cl.nodes[id] = &testNode{c: c, store: store, hints: hints}
	}
	return cl
}

// dataOnly serves a coordinator's part of the node protocol; these nodes
// run no Raft group.
type dataOnly struct{ Handler }

func (dataOnly) Raft(context.Context, *nodepb.RaftRequest) (*nodepb.RaftResponse, error) {
	return nil, errors.New("no raft here")
}

func (dataOnly) Strong(context.Context, *nodepb.StrongRequest) (*nodepb.StrongResponse, error) {
	return nil, errors.New("no raft here")
}

var bg = context.Background()

func at(w quorum.Level) api.PutOptions { return api.PutOptions{Write: api.WriteOptions{W: w}} }

// values returns the live values of key on node's own copy.
func (cl *cluster) values(node, key string) []string {
	cl.t.Helper()
	st := cl.nodes[node].store
	rec, _, err := st.Read("default", []byte(key))
	if err != nil {
		cl.t.Fatal(err)
	}
	var out []string
	for _, s := range rec.Live(st.Now()) {
		out = append(out, string(s.Value))
	}
	return out
}

// A plain write through a replica that missed the key's last write learns
// of it through its replication and is written again over it: one value
// everywhere, not two siblings.
func TestPlainWriteThroughStaleReplicaIsWrittenAgain(t *testing.T) {
	cl := newCluster(t, func(c *Config) { c.Hints = nil })
	cl.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	if _, err := cl.nodes["n2"].c.Put(bg, "default", []byte("k"), []byte("a"), at(quorum.Quorum)); err != nil {
		t.Fatal(err)
	}
	cl.faults.Heal()
	n1 := cl.nodes["n1"].c
	if _, err := n1.Put(bg, "default", []byte("k"), []byte("b"), at(quorum.Quorum)); err != nil {
		t.Fatal(err)
	}
	if got := promtest.ToFloat64(n1.rewrites); got != 1 {
		t.Fatalf("rewrites: %v, want 1 (n1 did not know of a)", got)
	}
	vs, err := cl.nodes["n3"].c.GetVersions(bg, "default", []byte("k"), api.ReadOptions{R: quorum.All})
	if err != nil || len(vs.Values) != 1 || string(vs.Values[0].Value) != "b" {
		t.Fatalf("after the write through n1: %+v %v, want b alone", vs.Values, err)
	}
	// A write through an up-to-date replica needs one round.
	if _, err := n1.Put(bg, "default", []byte("k"), []byte("c"), at(quorum.Quorum)); err != nil {
		t.Fatal(err)
	}
	if got := promtest.ToFloat64(n1.rewrites); got != 1 {
		t.Fatalf("rewrites after a write on a fresh copy: %v, want still 1", got)
	}
}

// A conditional write cannot decide without a read at R: cut off from the
// other replicas, it is refused and writes nothing; a plain write still
// succeeds at W=ONE and leaves hints for the replicas it could not reach.
func TestConditionalWriteNeedsItsRead(t *testing.T) {
	cl := newCluster(t, nil)
	cl.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	n1 := cl.nodes["n1"].c
	_, err := n1.Put(bg, "default", []byte("k"), []byte("v"), api.PutOptions{Cond: api.IfAbsent, Write: api.WriteOptions{W: quorum.One}})
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "1 of 2 required replicas answered the read this write depends on; nothing was written") {
		t.Fatalf("SET NX cut off from the other replicas: %v", err)
	}
	if v := cl.values("n1", "k"); len(v) != 0 {
		t.Fatalf("a refused write was written: %v", v)
	}
	if _, err := n1.Put(bg, "default", []byte("k"), []byte("v"), at(quorum.One)); err != nil {
		t.Fatalf("plain write at ONE cut off from the other replicas: %v", err)
	}
	testutil.Eventually(t, "hints for n2 and n3", func() bool {
		p := cl.nodes["n1"].hints.Pending()
		return p["n2"] == 1 && p["n3"] == 1
	})
	cl.faults.Heal()
	if n := cl.nodes["n1"].hints.ReplayOnce(bg, n1); n != 2 {
		t.Fatalf("replayed %d hints, want 2", n)
	}
	for _, id := range ids {
		if v := cl.values(id, "k"); len(v) != 1 || v[0] != "v" {
			t.Fatalf("%s after replay: %v", id, v)
		}
	}
}

// Answers lost on the way back: the replicas have the record but the
// coordinator cannot know, so a write at ALL reports that it may have
// landed, and keeps hints, whose replay changes nothing.
func TestLostAnswersReportMaybeAndHintsAreHarmless(t *testing.T) {
	cl := newCluster(t, nil)
	cl.faults.SetLossy(0, 1, 0)
	n1 := cl.nodes["n1"].c
	_, err := n1.Put(bg, "default", []byte("k"), []byte("v"), at(quorum.All))
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "1 of 3 required replicas acknowledged; the write may still have landed") {
		t.Fatalf("write at ALL with every answer lost: %v", err)
	}
	cl.faults.SetLossy(0, 0, 0)
	for _, id := range ids {
		if v := cl.values(id, "k"); len(v) != 1 {
			t.Fatalf("%s: %v, want the write (only its answer was lost)", id, v)
		}
	}
	before := cl.values("n2", "k")
	if n := cl.nodes["n1"].hints.ReplayOnce(bg, n1); n != 2 {
		t.Fatalf("replayed %d hints, want 2", n)
	}
	if after := cl.values("n2", "k"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("replaying a hint the replica already had changed it: %v to %v", before, after)
	}
}

// Read repair also reaches, in the background, the replica a QUORUM read
// did not ask.
func TestReadRepairReachesUnaskedReplica(t *testing.T) {
	cl := newCluster(t, func(c *Config) { c.Hints, c.ReadRepairChance = nil, 1 })
	cl.faults.Partition([]string{"n3"}, []string{"n1", "n2"})
	if _, err := cl.nodes["n1"].c.Put(bg, "default", []byte("k"), []byte("v"), at(quorum.Quorum)); err != nil {
		t.Fatal(err)
	}
	cl.faults.Heal()
	if v := cl.values("n3", "k"); len(v) != 0 {
		t.Fatalf("n3 got the write across the partition: %v", v)
	}
	// n1 asks itself and n2, which agree; n3 is read and repaired after.
	if _, err := cl.nodes["n1"].c.Get(bg, "default", []byte("k"), api.ReadOptions{R: quorum.Quorum}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "read repair to reach n3", func() bool { return len(cl.values("n3", "k")) == 1 })
}

// A replica gossip believes down is not called: its records go straight to
// hints, and are delivered once it is up.
func TestDownReplicaGetsHints(t *testing.T) {
	cl := newCluster(t, nil)
	cl.live.set("n3", true)
	n1 := cl.nodes["n1"].c
	for i := range 20 {
		if _, err := n1.Put(bg, "default", fmt.Appendf(nil, "k%d", i), []byte("v"), at(quorum.Quorum)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "20 hints for n3", func() bool { return cl.nodes["n1"].hints.Pending()["n3"] == 20 })
	if n := cl.nodes["n1"].hints.ReplayOnce(bg, n1); n != 0 {
		t.Fatalf("replayed %d hints to a node still down", n)
	}
	cl.live.set("n3", false)
	if n := cl.nodes["n1"].hints.ReplayOnce(bg, n1); n != 20 {
		t.Fatalf("replayed %d hints, want 20", n)
	}
	for i := range 20 {
		if v := cl.values("n3", fmt.Sprint("k", i)); len(v) != 1 {
			t.Fatalf("k%d on n3 after replay: %v", i, v)
		}
	}
}

func TestBatcherBoundsItsQueue(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 10)
	var mu sync.Mutex
	var batches [][]int
	b := &batcher[int]{
		maxItems: 3, maxBytes: 1 << 20, maxQueued: 5,
		size: func(int) int { return 1 },
		flush: func(batch []int) {
			entered <- struct{}{}
			<-release
			mu.Lock()
			batches = append(batches, batch)
			mu.Unlock()
		},
	}
	// The first item goes out at once and waits in flush; five more fill
	// the queue; the sixth finds it full.
	if !b.add(0) {
		t.Fatal("the first item was refused")
	}
	<-entered
	for i := 1; i < 6; i++ {
		if !b.add(i) {
			t.Fatalf("item %d refused with room left", i)
		}
	}
	if b.add(6) {
		t.Fatal("an item past maxQueued was accepted")
	}
	close(release)
	testutil.Eventually(t, "every accepted item to be flushed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, bt := range batches {
			n += len(bt)
		}
		return n == 6
	})
	if fmt.Sprint(batches) != "[[0] [1 2 3] [4 5]]" {
		t.Fatalf("batches %v, want [[0] [1 2 3] [4 5]]: in order, at most maxItems each", batches)
	}
}

// TestRecordHeldUpLongerThanTheGraceIsRefused: a record that set out for
// a replica before a delete, and arrives after the tombstone's grace (a
// partition held it in a socket, or its sender was paused), may find the
// tombstone purged, as n3 here, which never saw the key. It is refused
// and counted; the same record sent just now is taken, which is what
// brought deleted values back before.
func TestRecordHeldUpLongerThanTheGraceIsRefused(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	const grace = time.Minute
	cl := newClusterAt(t, clk, func(c *Config) { c.StaleAfter, c.Hints = grace, nil })
	cl.faults.Partition([]string{"n1", "n2"}, []string{"n3"})
	key := []byte("k")
	if _, err := cl.nodes["n1"].c.Put(bg, "default", key, []byte("v1"), at(quorum.Quorum)); err != nil {
		t.Fatal(err)
	}
	rec, _, err := cl.nodes["n1"].store.Read("default", key)
	if err != nil {
		t.Fatal(err)
	}
	sent := clk.Now().UnixMicro()
	if _, deleted, err := cl.nodes["n1"].c.Delete(bg, "default", key, api.WriteOptions{W: quorum.Quorum}); err != nil || !deleted {
		t.Fatalf("DEL: deleted %v, %v", deleted, err)
	}
	clk.Advance(grace + time.Second)
	n3 := cl.nodes["n3"].c.Handler()
	held := &nodepb.ReplicateRequest{Namespace: "default", Key: key, Record: replica.AppendRecord(nil, &rec), SentMicros: sent}
	resp, err := n3.ReplicateBatch(bg, &nodepb.ReplicateBatchRequest{Items: []*nodepb.ReplicateRequest{held}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Errors) != 1 || !strings.Contains(resp.Errors[0], "longer than the tombstone grace") {
		t.Fatalf("held-up record answered %q, want a refusal as stale", resp.Errors)
	}
	if _, err := n3.Replicate(bg, held); err == nil || !errors.Is(err, errStale) {
		t.Fatalf("held-up record through Replicate: %v, want errStale", err)
	}
	if v := cl.values("n3", "k"); len(v) != 0 {
		t.Fatalf("n3 took the deleted value: %v", v)
	}
	if got := promtest.ToFloat64(cl.nodes["n3"].c.staleRefused); got != 2 {
		t.Fatalf("stale refusals counted %v, want 2", got)
	}
	held.SentMicros = clk.Now().UnixMicro()
	if resp, err := n3.ReplicateBatch(bg, &nodepb.ReplicateBatchRequest{Items: []*nodepb.ReplicateRequest{held}}); err != nil || resp.Errors[0] != "" {
		t.Fatalf("a fresh record: %v %q", err, resp.GetErrors())
	}
	if v := cl.values("n3", "k"); len(v) != 1 || v[0] != "v1" {
		t.Fatalf("n3 after a fresh record: %v, want v1", v)
	}
}
