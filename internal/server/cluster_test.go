package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/membership"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/quorum"
)

// sim is an in-process cluster: real Pebble per node, in-memory transport
// behind a fault injector, and a shared gossip view.
type sim struct {
	t      *testing.T
	net    *transport.MemNetwork
	faults *transport.Faults
	gossip *membership.Static
	nodes  map[string]*simNode
	ids    []string
	// configure, if set, adjusts every node's configuration.
	configure func(*NodeConfig)
}

type simNode struct {
	id     string
	dir    string
	clock  *clock.Offset
	node   *Node
	cancel context.CancelFunc
	done   chan error
}

func newSim(t *testing.T, n int) *sim {
	t.Helper()
	return newSimWith(t, n, nil)
}

// newSimWith is newSim with configure applied to every node's configuration.
func newSimWith(t *testing.T, n int, configure func(*NodeConfig)) *sim {
	t.Helper()
	s := &sim{t: t, net: transport.NewMemNetwork(), faults: transport.NewFaults(1), gossip: membership.NewStatic(), nodes: map[string]*simNode{}, configure: configure}
	for i := 1; i <= n; i++ {
		s.ids = append(s.ids, fmt.Sprintf("n%d", i))
	}
	for _, id := range s.ids {
		s.start(id, t.TempDir(), clock.NewOffset(0))
	}
	for _, id := range s.ids {
		s.ready(id)
	}
	t.Cleanup(func() {
		for _, sn := range s.nodes {
			s.stop(sn.id)
		}
	})
	return s
}

func (s *sim) start(id, dir string, clk *clock.Offset) {
	s.t.Helper()
	s.gossip.Add(id, membership.Meta{ClusterAddr: "mem/" + id})
	cfg := NodeConfig{
		ID: id, DataDir: dir, ClusterAddr: "mem/" + id,
		Transport: s.faults.Wrap(id, s.net.Transport()), Gossip: s.gossip.Of(id),
		BootstrapExpect: len(s.ids), Partitions: 16, RaftTick: 10 * time.Millisecond,
		RequestTimeout: 2 * time.Second, RecordCacheBytes: 1 << 20, Clock: clk,
		HintReplayInterval: 20 * time.Millisecond,
	}
	if s.configure != nil {
		s.configure(&cfg)
	}
	node, err := OpenNode(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.net.Register(id, node.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	sn := &simNode{id: id, dir: dir, clock: clk, node: node, cancel: cancel, done: make(chan error, 1)}
	go func() { sn.done <- node.Run(ctx) }()
	s.nodes[id] = sn
}

func (s *sim) ready(id string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.nodes[id].node.Meta().WaitReady(ctx); err != nil {
		s.t.Fatalf("%s not ready: %v", id, err)
	}
}

// stop shuts a node down (its data stays).
func (s *sim) stop(id string) {
	sn := s.nodes[id]
	if sn.cancel == nil {
		return
	}
	s.net.Register(id, nil)
	sn.cancel()
	<-sn.done
	sn.cancel = nil
}

// down stops a node and tells gossip it is dead.
func (s *sim) down(id string) {
	s.stop(id)
	s.gossip.SetState(id, membership.Dead)
}

func (s *sim) kv(id string) api.KV { return s.nodes[id].node.KV() }

// syncMeta waits until node id has applied every metadata change committed
// so far.
func syncMeta(t *testing.T, s *sim, id string) {
	t.Helper()
	testutil.Eventually(t, id+" to catch up with the metadata group", func() bool {
		ctx, cancel := context.WithTimeout(bg, time.Second)
		defer cancel()
		return s.nodes[id].node.Meta().Sync(ctx) == nil
	})
}

var bg = context.Background()

func w(l quorum.Level) api.WriteOptions { return api.WriteOptions{W: l} }
func r(l quorum.Level) api.ReadOptions  { return api.ReadOptions{R: l} }

func TestWriteOnOneNodeReadOnAnother(t *testing.T) {
	s := newSim(t, 3)
	for i := range 50 {
		k := fmt.Appendf(nil, "user:%d", i)
		if _, err := s.kv("n1").Put(bg, "default", k, fmt.Appendf(nil, "v%d", i), api.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		e, err := s.kv("n3").Get(bg, "default", fmt.Appendf(nil, "user:%d", i), api.ReadOptions{})
		if err != nil || string(e.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("user:%d through n3: %q %v", i, e.Value, err)
		}
	}
	// Every key reaches all N=3 replicas' disks; a QUORUM write answers
	// after two, so the third may still be on its way.
	for _, id := range s.ids {
		testutil.Eventually(t, id+" to hold a replica of user:7", func() bool {
			_, found, _ := s.nodes[id].node.Store().Read("default", []byte("user:7"))
			return found
		})
	}
	// Count reads one replica of each partition, which may be the third of
	// a write still on its way: it reaches 50 once every write has.
	testutil.Eventually(t, "a count of 50 through n2", func() bool {
		n, err := s.kv("n2").Count(bg, "default")
		return err == nil && n == 50
	})
	seen := map[string]bool{}
	var cursor uint64
	for {
		page, err := s.kv("n2").Scan(bg, "default", cursor, 7, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Keys {
			if seen[string(k)] {
				t.Fatalf("scan returned %q twice", k)
			}
			seen[string(k)] = true
		}
		if page.Next == 0 {
			break
		}
		cursor = page.Next
	}
	if len(seen) != 50 {
		t.Fatalf("cluster scan found %d keys", len(seen))
	}
}

func TestOneNodeDownQuorumWorksAllFails(t *testing.T) {
	s := newSim(t, 3)
	s.down("n2")
	for _, id := range []string{"n1", "n3"} {
		if _, err := s.kv(id).Put(bg, "default", []byte("k-"+id), []byte("v"), api.PutOptions{Write: w(quorum.Quorum)}); err != nil {
			t.Fatalf("QUORUM write via %s with one node down: %v", id, err)
		}
		if _, err := s.kv(id).Get(bg, "default", []byte("k-n1"), r(quorum.Quorum)); err != nil {
			t.Fatalf("QUORUM read via %s with one node down: %v", id, err)
		}
	}
	_, err := s.kv("n1").Put(bg, "default", []byte("k"), []byte("v"), api.PutOptions{Write: w(quorum.All)})
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "2 of 3 required replicas are up; nothing was written") {
		t.Fatalf("ALL write with one node down: %v", err)
	}
	if _, err := s.kv("n1").Get(bg, "default", []byte("k"), r(quorum.One)); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a refused ALL write was written: %v", err)
	}
	_, err = s.kv("n3").Get(bg, "default", []byte("k-n1"), r(quorum.All))
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "of 3 required replicas answered") {
		t.Fatalf("ALL read with one node down: %v", err)
	}
	if d := api.Describe(err); d.RESPPrefix != "UNAVAILABLE" || d.Status != 503 {
		t.Fatalf("wire form of unavailable: %+v", d)
	}
	// A node that is unreachable but not yet known dead counts the same.
	s.faults.Partition([]string{"n1", "n2"}, []string{"n3"})
	defer s.faults.Heal()
	_, err = s.kv("n1").Put(bg, "default", []byte("k2"), []byte("v"), api.PutOptions{Write: w(quorum.Quorum)})
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "1 of 2 required replicas acknowledged; the write may still have landed on some replicas") {
		t.Fatalf("QUORUM write with one down and one cut off: %v", err)
	}
}

func TestReadRepairFixesAStaleReplica(t *testing.T) {
	s := newSim(t, 3)
	s.faults.Partition([]string{"n1", "n2"}, []string{"n3"})
	if _, err := s.kv("n1").Put(bg, "default", []byte("k"), []byte("v"), api.PutOptions{Write: w(quorum.Quorum)}); err != nil {
		t.Fatal(err)
	}
	s.faults.Heal()
	if _, found, _ := s.nodes["n3"].node.Store().Read("default", []byte("k")); found {
		t.Fatal("n3 got the write across the partition")
	}
	if _, err := s.kv("n2").Get(bg, "default", []byte("k"), r(quorum.All)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "read repair to reach n3", func() bool {
		_, found, _ := s.nodes["n3"].node.Store().Read("default", []byte("k"))
		return found
	})
}

// attempt is one write of the partition test: its value, and the values it
// had read (its context) and so may legitimately replace.
type attempt struct {
	key, value string
	saw        []string
	acked      bool
}

// TestPartitionLosesNoAcknowledgedWrite: writers on both sides of a
// partition write the same keys at W=ONE, each with the context of its own
// latest read. After healing, every acknowledged value must still be there,
// as a value or a sibling, unless some write that had read it replaced it.
func TestPartitionLosesNoAcknowledgedWrite(t *testing.T) {
	s := newSim(t, 3)
	s.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	var mu sync.Mutex
	var attempts []attempt
	var wg sync.WaitGroup
	for _, via := range []string{"n1", "n2", "n3"} {
		for wkr := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 15 {
					key := fmt.Sprintf("k%d", i%3)
					vs, err := s.kv(via).GetVersions(bg, "default", []byte(key), r(quorum.One))
					if err != nil {
						continue
					}
					a := attempt{key: key, value: fmt.Sprintf("%s-%d-%d", via, wkr, i)}
					for _, v := range vs.Values {
						a.saw = append(a.saw, string(v.Value))
					}
					_, err = s.kv(via).Put(bg, "default", []byte(key), []byte(a.value),
						api.PutOptions{Write: api.WriteOptions{W: quorum.One, Context: vs.Context, HasContext: true}})
					a.acked = err == nil
					mu.Lock()
					attempts = append(attempts, a)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	s.faults.Heal()
	acked := 0
	for _, a := range attempts {
		if a.acked {
			acked++
		}
	}
	if acked < 40 {
		t.Fatalf("only %d writes acknowledged; the test did not exercise both sides", acked)
	}
	for _, key := range []string{"k0", "k1", "k2"} {
		vs, err := s.kv("n2").GetVersions(bg, "default", []byte(key), r(quorum.All))
		if err != nil {
			t.Fatal(err)
		}
		final := map[string]bool{}
		for _, v := range vs.Values {
			final[string(v.Value)] = true
		}
		for _, a := range attempts {
			if a.key != key || !a.acked || final[a.value] {
				continue
			}
			replaced := slices.ContainsFunc(attempts, func(b attempt) bool { return b.key == key && slices.Contains(b.saw, a.value) })
			if !replaced {
				t.Errorf("%s: acknowledged write %q lost: not among %v and no write read it", key, a.value, vs.Values)
			}
		}
		if len(vs.Values) < 2 {
			t.Logf("%s: %d values after the partition", key, len(vs.Values))
		}
	}
}

func TestSiblingsAreCappedAndResolved(t *testing.T) {
	s := newSim(t, 3)
	ctx := bg
	if err := s.nodes["n1"].node.Meta().CreateNamespace(ctx, metadata.Namespace{Name: "small", N: 3, Model: metadata.Eventual, Type: metadata.Bytes, MaxSiblings: 2}); err != nil {
		t.Fatal(err)
	}
	empty := "" // the empty context: concurrent with everything
	// W=ALL: the QUORUM read below may ask any two replicas.
	blind := api.PutOptions{Write: api.WriteOptions{W: quorum.All, Context: empty, HasContext: true}}
	for _, v := range []string{"a", "b"} {
		if _, err := s.kv("n2").Put(ctx, "small", []byte("k"), []byte(v), blind); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.kv("n2").Put(ctx, "small", []byte("k"), []byte("c"), blind)
	if !errors.Is(err, api.ErrTooManySiblings) || !strings.Contains(err.Error(), "allows 2") {
		t.Fatalf("third concurrent value: %v", err)
	}
	vs, err := s.kv("n3").GetVersions(ctx, "small", []byte("k"), api.ReadOptions{})
	if err != nil || len(vs.Values) != 2 {
		t.Fatalf("siblings: %+v %v", vs, err)
	}
	// Plain GET picks one, the same through every node.
	var picked []string
	for _, id := range s.ids {
		e, err := s.kv(id).Get(ctx, "small", []byte("k"), r(quorum.All))
		if err != nil {
			t.Fatal(err)
		}
		picked = append(picked, string(e.Value))
	}
	if picked[0] != picked[1] || picked[1] != picked[2] {
		t.Fatalf("nodes picked different siblings: %v", picked)
	}
	if _, err := s.kv("n1").Put(ctx, "small", []byte("k"), []byte("merged"), api.PutOptions{Write: api.WriteOptions{Context: vs.Context, HasContext: true}}); err != nil {
		t.Fatal(err)
	}
	vs, _ = s.kv("n3").GetVersions(ctx, "small", []byte("k"), r(quorum.All))
	if len(vs.Values) != 1 || string(vs.Values[0].Value) != "merged" {
		t.Fatalf("after resolution: %+v", vs.Values)
	}
	_, err = s.kv("n1").SetExpiry(ctx, "small", []byte("k"), s.nodes["n1"].node.Store().Now()+1000, api.ExpireAlways, api.WriteOptions{})
	if err != nil {
		t.Fatalf("expire after resolution: %v", err)
	}
}

// TestClockSkewChangesNoOutcome runs the same writes on a cluster with a
// correct clock and on one where n2 is three hours ahead: the values and
// siblings that result are the same.
//
// Every write waits for all three replicas. A write without a context
// supersedes what its coordinator has seen, so at QUORUM the outcome would
// depend on whether the previous write had reached that coordinator yet: a
// race of the scheduler, not of the clocks this test is about.
func TestClockSkewChangesNoOutcome(t *testing.T) {
	run := func(skew time.Duration) string {
		s := newSim(t, 3)
		s.nodes["n2"].clock.Set(skew)
		empty := "" // the empty context
		for i := range 10 {
			via := s.ids[i%3]
			opts := api.PutOptions{Write: w(quorum.All)}
			if i%4 == 0 {
				opts.Write = api.WriteOptions{W: quorum.All, Context: empty, HasContext: true}
			}
			if _, err := s.kv(via).Put(bg, "default", []byte(fmt.Sprint("k", i%2)), []byte(fmt.Sprint("v", i)), opts); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.kv("n2").Delete(bg, "default", []byte("k1"), w(quorum.All)); err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, k := range []string{"k0", "k1"} {
			vs, err := s.kv("n3").GetVersions(bg, "default", []byte(k), r(quorum.All))
			if err != nil {
				t.Fatal(err)
			}
			var vals []string
			for _, v := range vs.Values {
				vals = append(vals, string(v.Value))
			}
			slices.Sort(vals)
			out += fmt.Sprintf("%s=%v ", k, vals)
		}
		return out
	}
	straight, skewed := run(0), run(3*time.Hour)
	if straight != skewed {
		t.Fatalf("a skewed clock changed the outcome:\nstraight: %s\nskewed:   %s", straight, skewed)
	}
	// k0: v2 (no context) replaces v0; v4 (empty context) is concurrent with
	// v2; v6 (no context) replaces both; v8 (empty context) is concurrent
	// with v6. k1: every write replaces the last, and the delete removes v9.
	if want := "k0=[v6 v8] k1=[] "; straight != want {
		t.Fatalf("outcome %q, want %q", straight, want)
	}
	t.Log(straight)
}

func TestMetadataAndDataSurviveFullRestart(t *testing.T) {
	s := newSim(t, 3)
	if err := s.nodes["n3"].node.Meta().CreateNamespace(bg, metadata.Namespace{Name: "users", N: 2, Model: metadata.Eventual, Type: metadata.Bytes, MaxSiblings: 16}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.kv("n1").Put(bg, "users", []byte("alice"), []byte("a"), api.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	before := s.nodes["n1"].node.Meta().State()
	for _, id := range s.ids {
		s.stop(id)
	}
	for _, id := range s.ids {
		s.start(id, s.nodes[id].dir, s.nodes[id].clock)
	}
	for _, id := range s.ids {
		s.ready(id)
	}
	// Ready is "a member of a formed cluster"; the entries after that
	// (the namespace) a follower may apply only once a leader tells it
	// they are committed, if it had not heard so before it stopped.
	syncMeta(t, s, "n2")
	after := s.nodes["n2"].node.Meta().State()
	if after.ClusterID != before.ClusterID || !after.Ring.Equal(before.Ring) {
		t.Fatal("cluster identity or ring changed across a full restart")
	}
	if ns, ok := after.Namespace("users"); !ok || ns.N != 2 {
		t.Fatalf("namespace after restart: %+v", ns)
	}
	e, err := s.kv("n2").Get(bg, "users", []byte("alice"), r(quorum.All))
	if err != nil || string(e.Value) != "a" {
		t.Fatalf("data after restart: %q %v", e.Value, err)
	}
	_, err = s.kv("n2").Get(bg, "nope", []byte("alice"), api.ReadOptions{})
	if !errors.Is(err, api.ErrNoNamespace) {
		t.Fatalf("unknown namespace: %v", err)
	}
}

// TestCallerMayReuseItsBuffers: front ends reuse their argument buffers for
// the next command as soon as a write answers. Replication that continues
// after the answer (here delayed by the transport) must have copied the key:
// every replica ends up with each key's own value.
func TestCallerMayReuseItsBuffers(t *testing.T) {
	s := newSim(t, 3)
	s.faults.SetDelay(2*time.Millisecond, 15*time.Millisecond)
	key := make([]byte, 8)
	for i := range 40 {
		copy(key, fmt.Sprintf("key%05d", i))
		if _, err := s.kv("n1").Put(bg, "default", key, []byte(fmt.Sprint(i)), api.PutOptions{Write: w(quorum.One)}); err != nil {
			t.Fatal(err)
		}
	}
	s.faults.SetDelay(0, 0)
	for _, id := range s.ids {
		for i := range 40 {
			testutil.Eventually(t, fmt.Sprintf("%s to receive key%05d", id, i), func() bool {
				rec, found, err := s.nodes[id].node.Store().Read("default", fmt.Appendf(nil, "key%05d", i))
				if err != nil {
					t.Fatal(err)
				}
				if found {
					if p, _ := replica.Pick(rec.Live(0)); string(p.Value) != fmt.Sprint(i) {
						t.Fatalf("%s holds key%05d = %q", id, i, p.Value)
					}
				}
				return found
			})
		}
	}
}

// TestScanAndCountRouteAroundAnUnreachableReplica: with five nodes some
// partitions do not include the asking node; when the first replica of such
// a partition is cut off (and gossip has not noticed yet), SCAN and DBSIZE
// use the next one.
func TestScanAndCountRouteAroundAnUnreachableReplica(t *testing.T) {
	s := newSim(t, 5)
	for i := range 60 {
		if _, err := s.kv("n2").Put(bg, "default", fmt.Appendf(nil, "k%d", i), []byte("v"), api.PutOptions{Write: w(quorum.All)}); err != nil {
			t.Fatal(err)
		}
	}
	s.faults.Partition([]string{"n1"}, []string{"n2", "n3", "n4", "n5"})
	defer s.faults.Heal()
	if n, err := s.kv("n2").Count(bg, "default"); err != nil || n != 60 {
		t.Fatalf("count with n1 cut off: %d %v", n, err)
	}
	seen := 0
	var cursor uint64
	for {
		page, err := s.kv("n2").Scan(bg, "default", cursor, 10, nil)
		if err != nil {
			t.Fatalf("scan with n1 cut off: %v", err)
		}
		seen += len(page.Keys)
		if page.Next == 0 {
			break
		}
		cursor = page.Next
	}
	if seen != 60 {
		t.Fatalf("scan with n1 cut off found %d keys, want 60", seen)
	}
}

// TestNamespaceChangeWithoutQuorumFailsAndAppliesNothing: a node cut off
// from the other two answers a namespace creation within the request
// timeout, saying how many voters it reaches, and the namespace does not
// appear later, once the cut heals.
func TestNamespaceChangeWithoutQuorumFailsAndAppliesNothing(t *testing.T) {
	s := newSim(t, 3)
	s.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	s.gossip.SetState("n2", membership.Dead) // as n1's gossip would see it
	s.gossip.SetState("n3", membership.Dead)
	ns := metadata.Namespace{Name: "orphan", N: 3, Model: metadata.Eventual, Type: metadata.Bytes, MaxSiblings: 16}
	err := s.nodes["n1"].node.Meta().CreateNamespace(bg, ns)
	if !errors.Is(err, metadata.ErrNoQuorum) || !strings.Contains(err.Error(), "1 of 3 voters of the metadata group are reachable, 2 are needed; nothing was changed") {
		t.Fatalf("creating a namespace on a node cut off from the others: %v", err)
	}
	s.faults.Heal()
	s.gossip.SetState("n2", membership.Alive)
	s.gossip.SetState("n3", membership.Alive)
	for _, id := range s.ids {
		syncMeta(t, s, id)
		if _, ok := s.nodes[id].node.Meta().State().Namespace("orphan"); ok {
			t.Fatalf("%s has the namespace whose creation failed", id)
		}
	}
}
