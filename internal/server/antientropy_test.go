package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/quorum"
)

// TestAntiEntropyAloneBringsBackAReplica: n3 is down while 10,000 writes and
// deletes go through n1 and n2, with hints and read repair off, so nothing
// but anti-entropy can bring n3 up to date. One round on n3 does: it holds
// every write and no deleted key, and the round moved no more than twice
// the size of the records n3 lacked (keys included).
func TestAntiEntropyAloneBringsBackAReplica(t *testing.T) {
	s := newSimWith(t, 3, func(c *NodeConfig) {
		c.DisableHints, c.DisableReadRepair = true, true
		c.ManualAntiEntropy = true // rounds run when the test says
	})
	s.down("n3")
	want := s.churn(7500, "n1", "n2")
	s.restart("n3")
	live := 0
	for _, v := range want {
		if v != "" {
			live++
		}
	}
	if wrong := s.holds("n3", want); len(wrong) < live {
		t.Fatalf("n3 lacks only %d of the %d keys written while it was down: the test did not make it diverge", len(wrong), live)
	}
	divergent := 0
	st := s.nodes["n1"].node.Store()
	for key := range want {
		rec, _, err := st.Read("default", []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		divergent += len(key) + len(replica.AppendRecord(nil, &rec))
	}
	start := time.Now()
	res := s.nodes["n3"].node.AntiEntropy().Round(bg)
	took := time.Since(start)
	if wrong := s.holds("n3", want); len(wrong) != 0 {
		t.Fatalf("after one round of anti-entropy n3 still lacks %d keys, e.g. %s", len(wrong), wrong[0])
	}
	sent := res.Bytes + res.Overhead
	t.Logf("one round on n3: %d records pulled, %d bytes of records and %d of hashes and listings for %d divergent bytes, in %v",
		res.Pulled, res.Bytes, res.Overhead, divergent, took.Round(time.Millisecond))
	if sent > 2*divergent {
		t.Fatalf("the round moved %d bytes for %d bytes of divergent records: more than twice", sent, divergent)
	}
	// A second round finds every tree equal.
	if again := s.nodes["n3"].node.AntiEntropy().Round(bg); again.Pulled != 0 || again.Buckets != 0 {
		t.Fatalf("a second round still found %d buckets and moved %d records", again.Buckets, again.Pulled)
	}
	if st := s.nodes["n3"].node.AntiEntropy().Status(); st.OldestSync.IsZero() || st.Rounds != 2 {
		t.Fatalf("status after two rounds: %+v", st)
	}
}

// tombstones counts the records of the default namespace on id's disk that
// hold only tombstones, and all its records.
func (s *sim) tombstones(id string) (tombs, all int) {
	s.t.Helper()
	err := s.nodes[id].node.Store().Records("default", 0, 0, true, func(_, raw []byte) error {
		var rec replica.Record
		if err := replica.DecodeRecord(raw, &rec); err != nil {
			return err
		}
		all++
		if _, only := rec.Tombstones(); only {
			tombs++
		}
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return tombs, all
}

// TestTombstonesLeaveDiskOnlyOnceEveryReplicaHoldsThem: 3,000 keys are
// written on all three nodes; n3 goes down and every third key is deleted
// through n1 and n2. However long n3 stays away (the clocks run 24 h past
// the grace), n1 and n2 keep every tombstone. Once n3 is back, rounds of
// anti-entropy give it the deletes, and then the tombstones leave every
// disk; no deleted key comes back on any replica, at any point.
func TestTombstonesLeaveDiskOnlyOnceEveryReplicaHoldsThem(t *testing.T) {
	const grace = time.Hour
	s := newSimWith(t, 3, func(c *NodeConfig) {
		c.DisableHints, c.DisableReadRepair = true, true
		c.ManualAntiEntropy = true // rounds run when the test says
		c.HintMaxAge, c.TombstoneGrace = grace, grace
	})
	const keys = 3000
	want := map[string]string{}
	for i := range keys {
		k := fmt.Sprint("k", i)
		if _, err := s.kv("n1").Put(bg, "default", []byte(k), []byte(k), api.PutOptions{Write: w(quorum.All)}); err != nil {
			t.Fatal(err)
		}
		want[k] = k
	}
	s.down("n3")
	deleted := 0
	for i := 0; i < keys; i += 3 {
		k := fmt.Sprint("k", i)
		if _, _, err := s.kv(s.ids[i%2]).Delete(bg, "default", []byte(k), w(quorum.Quorum)); err != nil {
			t.Fatal(err)
		}
		want[k] = ""
		deleted++
	}
	ahead := grace + 24*time.Hour
	for _, id := range s.ids {
		s.nodes[id].clock.Set(ahead)
	}
	for range 2 {
		for _, id := range []string{"n1", "n2"} {
			if res := s.nodes[id].node.AntiEntropy().Round(bg); res.Settled != 0 {
				t.Fatalf("%s purged %d tombstones while n3, which holds their values, was down", id, res.Settled)
			}
		}
	}
	for _, id := range []string{"n1", "n2"} {
		if tombs, _ := s.tombstones(id); tombs != deleted {
			t.Fatalf("%s holds %d tombstones with n3 away, want all %d", id, tombs, deleted)
		}
	}

	s.restart("n3")
	rounds := 0
	for ; rounds < 10; rounds++ {
		left := 0
		for _, id := range s.ids {
			s.nodes[id].node.AntiEntropy().Round(bg)
			for _, id := range s.ids {
				if wrong := s.holds(id, want); len(wrong) > 0 && id != "n3" {
					t.Fatalf("%s after a round: %d keys wrong, e.g. %s", id, len(wrong), wrong[0])
				}
			}
		}
		for _, id := range s.ids {
			tombs, _ := s.tombstones(id)
			left += tombs
		}
		if left == 0 {
			break
		}
		// Agreements must be as old as the grace before a purge trusts them.
		ahead += grace
		for _, id := range s.ids {
			s.nodes[id].clock.Set(ahead)
		}
	}
	for _, id := range s.ids {
		tombs, all := s.tombstones(id)
		if tombs != 0 || all != keys-deleted {
			t.Fatalf("%s after %d rounds: %d tombstones and %d records on disk, want 0 and %d", id, rounds+1, tombs, all, keys-deleted)
		}
		if wrong := s.holds(id, want); len(wrong) > 0 {
			t.Fatalf("%s: %d keys wrong, e.g. %s", id, len(wrong), wrong[0])
		}
	}
	t.Logf("%d tombstones purged from each replica within %d rounds of n3's return", deleted, rounds+1)
	// Nothing comes back: a further round moves nothing.
	for _, id := range s.ids {
		if res := s.nodes[id].node.AntiEntropy().Round(bg); res.Pulled != 0 {
			t.Fatalf("a round on %s after the purge moved %d records", id, res.Pulled)
		}
	}
}

// TestVersionVectorsStayBoundedAcrossRestarts: n1 restarts 100 times and
// writes one key after each start, under a new epoch actor each time
// (ADR 0004). Once every replica has held the key for its grace,
// anti-entropy leaves its version vector one entry per node, on every
// replica, and the value is still the last one written.
func TestVersionVectorsStayBoundedAcrossRestarts(t *testing.T) {
	const grace = time.Hour
	s := newSimWith(t, 3, func(c *NodeConfig) {
		c.ManualAntiEntropy = true // rounds run when the test says
		c.HintMaxAge, c.TombstoneGrace = grace, grace
	})
	key := []byte("counter")
	const restarts = 100
	for i := range restarts {
		s.stop("n1")
		s.restart("n1")
		if _, err := s.kv("n1").Put(bg, "default", key, []byte(fmt.Sprint(i)), api.PutOptions{Write: w(quorum.All)}); err != nil {
			t.Fatalf("write after restart %d: %v", i, err)
		}
	}
	entries := func(id string) int {
		rec, _, err := s.nodes[id].node.Store().Read("default", key)
		if err != nil {
			t.Fatal(err)
		}
		return len(rec.Set.Entries)
	}
	if n := entries("n2"); n < restarts {
		t.Fatalf("n2's record has %d entries after %d restarts of its writer; the test did not grow it", n, restarts)
	}
	// A round finds every replica equal; once that agreement is as old as
	// the grace, the next settles.
	for _, ahead := range []time.Duration{grace + time.Minute, 2*grace + time.Minute} {
		for _, id := range s.ids {
			s.nodes[id].clock.Set(ahead)
		}
		for _, id := range s.ids {
			s.nodes[id].node.AntiEntropy().Round(bg)
		}
	}
	want := map[string]string{string(key): fmt.Sprint(restarts - 1)}
	for _, id := range s.ids {
		if n := entries(id); n > 1 {
			t.Errorf("%s: %d version vector entries after settling, want 1", id, n)
		}
		if wrong := s.holds(id, want); len(wrong) > 0 {
			t.Errorf("%s lost the last write", id)
		}
	}
}
