package server

import (
	"testing"
	"time"

	"github.com/pandodb/pando/internal/replica"
)

// TestAntiEntropyAloneBringsBackAReplica: n3 is down while 10,000 writes and
// deletes go through n1 and n2, with hints and read repair off, so nothing
// but anti-entropy can bring n3 up to date. One round on n3 does: it holds
// every write and no deleted key, and the round moved no more than twice
// the size of the records n3 lacked (keys included).
func TestAntiEntropyAloneBringsBackAReplica(t *testing.T) {
	s := newSimWith(t, 3, func(c *NodeConfig) {
		c.DisableHints, c.DisableReadRepair = true, true
		c.AntiEntropyInterval = time.Hour // rounds run when the test says
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
	if again := s.nodes["n3"].node.AntiEntropy().Round(bg); again.Pulled+again.Pushed != 0 || again.Buckets != 0 {
		t.Fatalf("a second round still found %d buckets and moved %d records", again.Buckets, again.Pulled+again.Pushed)
	}
	if st := s.nodes["n3"].node.AntiEntropy().Status(); st.OldestSync.IsZero() || st.Rounds != 2 {
		t.Fatalf("status after two rounds: %+v", st)
	}
}
