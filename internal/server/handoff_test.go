package server

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/membership"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/quorum"
)

// replicasOf returns the preference list of key in ns.
func (s *sim) replicasOf(ns string, key []byte) []string {
	st := s.nodes[s.ids[0]].node.Meta().State()
	def, _ := st.Namespace(ns)
	return st.Ring.Preference(st.Ring.Partition(storage.Hash(ns, key)), st.Replicas(def))
}

// restart starts a stopped node again on its data and tells gossip it is up.
func (s *sim) restart(id string) {
	s.t.Helper()
	sn := s.nodes[id]
	s.start(id, sn.dir, sn.clock)
	s.gossip.SetState(id, membership.Alive)
	s.ready(id)
}

// churn writes keys k0..k(keys-1) at QUORUM through the given nodes, 16 at
// a time, and deletes every third one after writing it: keys+keys/3
// operations. It returns each key's final value ("" for deleted).
func (s *sim) churn(keys int, via ...string) map[string]string {
	s.t.Helper()
	want := make(map[string]string, keys)
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int)
	for worker := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kv := s.kv(via[worker%len(via)])
			for i := range work {
				key := fmt.Sprint("k", i)
				v := fmt.Sprint("v", i)
				if _, err := kv.Put(bg, "default", []byte(key), []byte(v), api.PutOptions{Write: w(quorum.Quorum)}); err != nil {
					s.t.Errorf("write %s: %v", key, err)
					return
				}
				if i%3 == 0 {
					v = ""
					if _, _, err := kv.Delete(bg, "default", []byte(key), w(quorum.Quorum)); err != nil {
						s.t.Errorf("delete %s: %v", key, err)
						return
					}
				}
				mu.Lock()
				want[key] = v
				mu.Unlock()
			}
		}()
	}
	for i := range keys {
		work <- i
	}
	close(work)
	wg.Wait()
	return want
}

// holds reports the keys whose live value on id's own copy is not want's.
func (s *sim) holds(id string, want map[string]string) (wrong []string) {
	st := s.nodes[id].node.Store()
	now := st.Now()
	for key, v := range want {
		rec, _, err := st.Read("default", []byte(key))
		if err != nil {
			s.t.Fatal(err)
		}
		p, ok := replica.Pick(rec.Live(now))
		if (v == "" && ok) || (v != "" && (!ok || string(p.Value) != v)) {
			wrong = append(wrong, key)
		}
	}
	return wrong
}

// TestHintsBringBackAReplicaThatWasDown: n3 is down while 10,000 writes and
// deletes go through n1 and n2. Read repair is off, so only hints can bring
// n3 up to date: soon after its restart its own copy holds every write and
// every delete.
func TestHintsBringBackAReplicaThatWasDown(t *testing.T) {
	s := newSimWith(t, 3, func(c *NodeConfig) { c.DisableReadRepair, c.DisableAntiEntropy = true, true })
	s.down("n3")
	want := s.churn(7500, "n1", "n2")
	pending := 0
	for _, id := range []string{"n1", "n2"} {
		pending += s.nodes[id].node.Hints().Stats().Pending["n3"]
	}
	if pending < 7500 {
		t.Fatalf("%d hints kept for n3 after 10,000 operations it missed", pending)
	}
	start := time.Now()
	s.restart("n3")
	testutil.Eventually(t, "n3 to hold every write and delete it missed", func() bool {
		return len(s.holds("n3", want)) == 0
	})
	t.Logf("n3 caught up on %d hints in %v after its restart", pending, time.Since(start).Round(time.Millisecond))
	for _, id := range []string{"n1", "n2"} {
		if st := s.nodes[id].node.Hints().Stats(); len(st.Pending) != 0 || st.Refused != 0 {
			t.Fatalf("%s after replay: %+v", id, st)
		}
	}
}

// TestFullHintStoreLosesNothingAcknowledged: with room for few hints, the
// store refuses the rest and counts them; every write is still acknowledged
// by two replicas and readable, and the hints that were kept are delivered.
func TestFullHintStoreLosesNothingAcknowledged(t *testing.T) {
	s := newSimWith(t, 3, func(c *NodeConfig) { c.DisableReadRepair, c.DisableAntiEntropy, c.HintMaxBytes = true, true, 16<<10 })
	s.down("n3")
	want := s.churn(600, "n1")
	st := s.nodes["n1"].node.Hints().Stats()
	if st.Refused == 0 || st.Pending["n3"] == 0 {
		t.Fatalf("hint store with 16 KiB after 800 records for n3: %+v; want some kept and the rest refused", st)
	}
	s.restart("n3")
	testutil.Eventually(t, "the kept hints to reach n3", func() bool {
		return len(s.nodes["n1"].node.Hints().Pending()) == 0
	})
	if wrong := s.holds("n3", want); len(wrong) == 0 {
		t.Fatal("n3 holds every write although hints were refused: the test did not fill the store")
	}
	for key, v := range want {
		e, err := s.kv("n3").Get(bg, "default", []byte(key), r(quorum.Quorum))
		if (v == "" && !errors.Is(err, api.ErrNotFound)) || (v != "" && (err != nil || string(e.Value) != v)) {
			t.Fatalf("%s through n3 at QUORUM: %q %v, want %q", key, e.Value, err, v)
		}
	}
}

// TestSloppyQuorumCountsFallbackHints: on five nodes, with two of a key's
// three replicas down, a write at QUORUM is refused in a strict namespace
// and acknowledged in a sloppy one, where the two other nodes keep the
// record as hints for the missing replicas; once those are back, the hints
// reach them.
func TestSloppyQuorumCountsFallbackHints(t *testing.T) {
	s := newSimWith(t, 5, func(c *NodeConfig) { c.DisableReadRepair, c.DisableAntiEntropy = true, true })
	for _, ns := range []metadata.Namespace{
		{Name: "strict", N: 3, Model: metadata.Eventual, Type: metadata.Bytes, MaxSiblings: 16},
		{Name: "sloppy", N: 3, Model: metadata.Eventual, Type: metadata.Bytes, MaxSiblings: 16, SloppyQuorum: true},
	} {
		if err := s.nodes["n1"].node.Meta().CreateNamespace(bg, ns); err != nil {
			t.Fatal(err)
		}
	}
	// Every node knows both before two go down (one may lead the
	// metadata group).
	for _, id := range s.ids {
		syncMeta(t, s, id)
	}
	key := []byte("k")
	pref := s.replicasOf("sloppy", key)
	var fallbacks []string
	for _, id := range s.ids {
		if !slices.Contains(pref, id) {
			fallbacks = append(fallbacks, id)
		}
	}
	// A key of the strict namespace with the same replicas.
	var strictKey []byte
	for i := 0; strictKey == nil; i++ {
		if k := fmt.Appendf(nil, "k%d", i); slices.Equal(s.replicasOf("strict", k), pref) {
			strictKey = k
		}
	}
	s.down(pref[1])
	s.down(pref[2])
	opts := api.PutOptions{Write: w(quorum.Quorum)}
	if _, err := s.kv(pref[0]).Put(bg, "strict", strictKey, []byte("v"), opts); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("strict namespace, 1 of 3 replicas up, write at QUORUM: %v; want it refused", err)
	}
	if _, err := s.kv(pref[0]).Put(bg, "sloppy", key, []byte("v"), opts); err != nil {
		t.Fatalf("sloppy namespace, 1 of 3 replicas up and 2 fallbacks, write at QUORUM: %v", err)
	}
	held := 0
	for _, f := range fallbacks {
		for target, n := range s.nodes[f].node.Hints().Pending() {
			if target == pref[1] || target == pref[2] {
				held += n
			}
		}
	}
	if held == 0 {
		t.Fatal("no fallback holds a hint for the missing replicas")
	}
	for _, id := range pref[1:] {
		s.restart(id)
	}
	def, _ := s.nodes["n1"].node.Meta().State().Namespace("sloppy")
	for _, id := range pref[1:] {
		testutil.Eventually(t, id+" to receive the write from hints", func() bool {
			rec, _, err := s.nodes[id].node.Store().Read(def.StorageName(), key)
			return err == nil && len(rec.Live(0)) == 1
		})
	}
}
