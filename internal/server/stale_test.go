package server

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/quorum"
)

// The tests in this file act through a replica that missed writes: n1 is
// cut off while a write goes through n2 at QUORUM, the cut heals, and the
// next operation goes through n1, whose own copy of the key is stale. Hints
// are switched off, so n1 stays stale until the operation itself reads the
// other replicas. Each checks a promise of ARCHITECTURE.md section 1 that
// the coordinator's local copy alone cannot keep.

// missWrite writes key=value through n2 at QUORUM while n1 cannot be
// reached, so only n2 and n3 hold it.
func (s *sim) missWrite(key, value string, opts api.PutOptions) {
	s.t.Helper()
	s.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	defer s.faults.Heal()
	opts.Write.W = quorum.Quorum
	if _, err := s.kv("n2").Put(bg, "default", []byte(key), []byte(value), opts); err != nil {
		s.t.Fatalf("write %s=%s through n2 with n1 cut off: %v", key, value, err)
	}
	rec, _, err := s.nodes["n1"].node.Store().Read("default", []byte(key))
	if err != nil {
		s.t.Fatal(err)
	}
	for _, sib := range rec.Siblings() {
		if string(sib.Value) == value {
			s.t.Fatalf("n1 received %s=%s across the partition", key, value)
		}
	}
}

func newStaleSim(t *testing.T) *sim {
	return newSimWith(t, 3, func(c *NodeConfig) { c.DisableHints, c.DisableAntiEntropy = true, true })
}

// readEverywhere reads key at QUORUM through every node.
func (s *sim) readEverywhere(key string) []string {
	s.t.Helper()
	var out []string
	for _, id := range s.ids {
		e, err := s.kv(id).Get(bg, "default", []byte(key), r(quorum.Quorum))
		switch {
		case errors.Is(err, api.ErrNotFound):
			out = append(out, "<nil>")
		case err != nil:
			s.t.Fatalf("GET %s through %s: %v", key, id, err)
		default:
			out = append(out, string(e.Value))
		}
	}
	return out
}

func wantEverywhere(t *testing.T, s *sim, key, want string) {
	t.Helper()
	got := s.readEverywhere(key)
	for i, v := range got {
		if v != want {
			t.Fatalf("GET %s at QUORUM through n1, n2, n3: %v; through %s want %q", key, got, s.ids[i], want)
		}
	}
}

// Read-your-writes: a SET acknowledged at QUORUM through the stale replica
// is what a QUORUM read returns, through every node.
func TestSetThroughStaleReplicaIsRead(t *testing.T) {
	s := newStaleSim(t)
	s.missWrite("k", "mid", api.PutOptions{})
	if _, err := s.kv("n1").Put(bg, "default", []byte("k"), []byte("newest"), api.PutOptions{Write: w(quorum.Quorum)}); err != nil {
		t.Fatal(err)
	}
	wantEverywhere(t, s, "k", "newest")
	vs, err := s.kv("n3").GetVersions(bg, "default", []byte("k"), r(quorum.All))
	if err != nil || len(vs.Values) != 1 {
		t.Fatalf("the write through n1 saw mid at QUORUM and must supersede it: %+v %v", vs.Values, err)
	}
}

// A DEL through the stale replica deletes what the other replicas hold.
func TestDeleteThroughStaleReplicaDeletes(t *testing.T) {
	s := newStaleSim(t)
	s.missWrite("k", "v", api.PutOptions{})
	old, found, err := s.kv("n1").Delete(bg, "default", []byte("k"), w(quorum.Quorum))
	if err != nil || !found || string(old.Value) != "v" {
		t.Fatalf("DEL through the stale replica: found=%v old=%q err=%v; want the value it deleted", found, old.Value, err)
	}
	wantEverywhere(t, s, "k", "<nil>")
}

// An expired key does not bring back the value it replaced, which the stale
// replica still holds.
func TestExpiryDoesNotResurrect(t *testing.T) {
	s := newStaleSim(t)
	if _, err := s.kv("n1").Put(bg, "default", []byte("k"), []byte("old"), api.PutOptions{Write: w(quorum.All)}); err != nil {
		t.Fatal(err)
	}
	exp := s.nodes["n2"].node.Store().Now() + 1000
	s.missWrite("k", "new", api.PutOptions{ExpireAt: exp})
	for _, id := range s.ids {
		s.nodes[id].clock.Set(2 * time.Second)
	}
	// The reapers run now rather than on their schedule.
	for _, id := range s.ids {
		if _, err := s.nodes[id].node.Store().ReapOnce(); err != nil {
			t.Fatal(err)
		}
	}
	for _, level := range []quorum.Level{quorum.Quorum, quorum.All} {
		for _, id := range s.ids {
			e, err := s.kv(id).Get(bg, "default", []byte("k"), r(level))
			if !errors.Is(err, api.ErrNotFound) {
				t.Fatalf("GET k at %v through %s after expiry: %q %v; want nothing (the older value must not return)", level, id, e.Value, err)
			}
		}
	}
}

// Conditional and reading writes decide on what a read at R sees, not on the
// coordinator's stale copy.
func TestConditionalWritesThroughStaleReplica(t *testing.T) {
	s := newStaleSim(t)
	for i, key := range []string{"nx", "xx", "expire", "getdel", "getset"} {
		s.missWrite(key, fmt.Sprint("v", i), api.PutOptions{})
	}
	n1 := s.kv("n1")
	res, err := n1.Put(bg, "default", []byte("nx"), []byte("mine"), api.PutOptions{Cond: api.IfAbsent, Write: w(quorum.Quorum)})
	if err != nil || res.Applied {
		t.Fatalf("SET nx mine NX through the stale replica: applied=%v %v; the key exists", res.Applied, err)
	}
	wantEverywhere(t, s, "nx", "v0")

	res, err = n1.Put(bg, "default", []byte("xx"), []byte("mine"), api.PutOptions{Cond: api.IfPresent, Write: w(quorum.Quorum)})
	if err != nil || !res.Applied {
		t.Fatalf("SET xx mine XX through the stale replica: applied=%v %v; the key exists", res.Applied, err)
	}
	wantEverywhere(t, s, "xx", "mine")

	at := s.nodes["n1"].node.Store().Now() + 100_000
	ok, err := n1.SetExpiry(bg, "default", []byte("expire"), at, api.ExpireAlways, w(quorum.Quorum))
	if err != nil || !ok {
		t.Fatalf("EXPIRE through the stale replica: %v %v; the key exists", ok, err)
	}
	for _, id := range s.ids {
		e, err := s.kv(id).Get(bg, "default", []byte("expire"), r(quorum.Quorum))
		if err != nil || e.ExpireAt != at || string(e.Value) != "v2" {
			t.Fatalf("after EXPIRE, through %s: %q expires %d, %v; want v2 expiring at %d", id, e.Value, e.ExpireAt, err, at)
		}
	}

	old, found, err := n1.Delete(bg, "default", []byte("getdel"), w(quorum.Quorum))
	if err != nil || !found || string(old.Value) != "v3" {
		t.Fatalf("GETDEL through the stale replica: %q found=%v %v", old.Value, found, err)
	}
	wantEverywhere(t, s, "getdel", "<nil>")

	res, err = n1.Put(bg, "default", []byte("getset"), []byte("mine"), api.PutOptions{ReturnOld: true, Write: w(quorum.Quorum)})
	if err != nil || !res.OldFound || string(res.Old.Value) != "v4" {
		t.Fatalf("SET getset mine GET through the stale replica: old %q found=%v %v", res.Old.Value, res.OldFound, err)
	}
	wantEverywhere(t, s, "getset", "mine")
}

// Writes at W=ONE on the two sides of a partition did not see each other:
// causality keeps both, as siblings. A read at ALL afterwards must still
// show the client's last write, not the side that wrote more often: the
// stamps of the two writes order them where causality cannot.
func TestConcurrentWritesShowTheLatest(t *testing.T) {
	s := newStaleSim(t)
	s.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	one := api.WriteOptions{W: quorum.One, R: quorum.One}
	for i := range 5 { // n1's dot counter climbs past n2's
		if _, err := s.kv("n1").Put(bg, "default", []byte("k"), fmt.Appendf(nil, "n1-%d", i), api.PutOptions{Write: one}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.kv("n2").Put(bg, "default", []byte("k"), []byte("last"), api.PutOptions{Write: one}); err != nil {
		t.Fatal(err)
	}
	s.faults.Heal()
	for _, id := range s.ids {
		vs, err := s.kv(id).GetVersions(bg, "default", []byte("k"), r(quorum.All))
		if err != nil || len(vs.Values) != 2 {
			t.Fatalf("through %s at ALL: %+v %v; want both sides' writes, as siblings", id, vs.Values, err)
		}
		e, err := s.kv(id).Get(bg, "default", []byte("k"), r(quorum.All))
		if err != nil || string(e.Value) != "last" {
			t.Fatalf("GET through %s at ALL: %q %v; want the last write", id, e.Value, err)
		}
	}
}

// A clock that ran ahead and was set right must not keep ordering later
// concurrent writes: n2's clock is 90 minutes ahead while it writes k, then
// is corrected; later, the two sides of a partition write k at ONE, n2's
// side several times first, n1 last. GET shows n1's write, the last one
// made. (Stamps raised past the stamps a write saw, as a hybrid logical
// clock's are, would show n2's side: it saw more writes.)
func TestAClockThatRanAheadDoesNotOrderLaterWrites(t *testing.T) {
	s := newStaleSim(t)
	s.nodes["n2"].clock.Set(90 * time.Minute)
	if _, err := s.kv("n2").Put(bg, "default", []byte("k"), []byte("from the future"), api.PutOptions{Write: w(quorum.All)}); err != nil {
		t.Fatal(err)
	}
	s.nodes["n2"].clock.Set(0)
	s.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	one := api.PutOptions{Write: api.WriteOptions{W: quorum.One, R: quorum.One}}
	for i := range 3 {
		if _, err := s.kv("n2").Put(bg, "default", []byte("k"), fmt.Appendf(nil, "n2-%d", i), one); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.kv("n1").Put(bg, "default", []byte("k"), []byte("last"), one); err != nil {
		t.Fatal(err)
	}
	s.faults.Heal()
	for _, id := range s.ids {
		e, err := s.kv(id).Get(bg, "default", []byte("k"), r(quorum.All))
		if err != nil || string(e.Value) != "last" {
			t.Fatalf("GET through %s at ALL: %q %v; want the last write", id, e.Value, err)
		}
	}
}
