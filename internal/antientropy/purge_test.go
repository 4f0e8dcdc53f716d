package antientropy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/replica"
)

// del deletes key on s with a tombstone stamped at stamp (Unix µs).
func del(t *testing.T, s *replica.Store, key string, stamp int64) {
	t.Helper()
	_, err := s.Update("ns", []byte(key), func(cur replica.Record, _ bool) (replica.Record, bool, error) {
		return replica.Record{Set: dvv.Update(cur.Set.Context(), cur.Set, "n1", replica.EncodeSibling(true, 0, stamp, nil))}, true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// mesh is three replicas of a one-partition layout that exchange as
// their runners would: each with each other one.
type mesh struct {
	t     *testing.T
	sides map[string]*side
	now   int64 // Unix µs by which exchanges date agreements
}

func newMesh(t *testing.T) *mesh {
	m := &mesh{t: t, sides: map[string]*side{}}
	for _, n := range []string{"a", "b", "c"} {
		m.sides[n] = newSide(t, Layout{Partitions: 1})
		m.sides[n].trees.Now = func() time.Time { return time.UnixMicro(m.now) }
	}
	return m
}

func (m *mesh) others(n string) []string {
	var out []string
	for o := range m.sides {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}

// round has every replica in up exchange with every other one in up, and
// returns the records moved.
func (m *mesh) round(up ...string) int {
	moved := 0
	for _, n := range up {
		for _, o := range up {
			if o == n {
				continue
			}
			res, err := Exchange(context.Background(), m.sides[n].trees, m.sides[n], o, m.sides[o], ID{"ns", 0}, nil)
			if err != nil {
				m.t.Fatal(err)
			}
			moved += res.Pulled
		}
	}
	return moved
}

// purge runs every replica's purge at cutoff and returns what it removed.
func (m *mesh) purge(cutoff int64) int {
	total := 0
	for n, s := range m.sides {
		p, err := Purge(context.Background(), s.trees, s, m.peer, ID{"ns", 0}, m.others(n), cutoff)
		if err != nil {
			m.t.Fatal(err)
		}
		total += p
	}
	return total
}

func (m *mesh) peer(n string) Peer { return m.sides[n] }

func (m *mesh) holds(n, key string) bool {
	rec, err := m.sides[n].Record("ns", []byte(key))
	if err != nil {
		m.t.Fatal(err)
	}
	return rec != nil
}

// A tombstone is purged only once every replica is known to hold it and
// its grace has passed; then it is gone from every replica for good.
func TestTombstonesArePurgedOnlyOnceEveryReplicaHoldsThem(t *testing.T) {
	m := newMesh(t)
	const keys = 200
	for i := range keys {
		for _, s := range m.sides {
			put(t, s.store, fmt.Sprint("k", i), "v")
		}
	}
	// c is away while every other key is deleted on a and b.
	for i := 0; i < keys; i += 2 {
		for _, n := range []string{"a", "b"} {
			del(t, m.sides[n].store, fmt.Sprint("k", i), 1000)
		}
	}
	m.round("a", "b")
	if n := m.purge(1 << 62); n != 0 {
		t.Fatalf("%d tombstones purged while c, which holds their values, was never compared", n)
	}
	if moved := m.round("a", "b", "c"); moved == 0 {
		t.Fatal("c came back and nothing moved")
	}
	if n := m.purge(999); n != 0 {
		t.Fatalf("%d tombstones purged before their grace ended", n)
	}
	// One more round so that every pair has found the other equal.
	m.round("a", "b", "c")
	// The first replica to purge does it on all three.
	if n := m.purge(1000); n != keys/2 {
		t.Fatalf("purged %d tombstones, want %d", n, keys/2)
	}
	if moved := m.round("a", "b", "c"); moved != 0 {
		t.Fatalf("after the purge exchanges moved %d records; a purged tombstone came back", moved)
	}
	for i := range keys {
		for n := range m.sides {
			if got, want := m.holds(n, fmt.Sprint("k", i)), i%2 == 1; got != want {
				t.Fatalf("k%d on %s: held %v, want %v", i, n, got, want)
			}
		}
	}
}

// A tombstone whose own grace passed long ago is still kept until every
// replica has been known to hold it for the grace: a replica that got it
// only now may have answered a read, or an exchange, with the value it
// deleted a moment ago, and that answer may still be merged somewhere.
func TestPurgeWaitsForTheAgreementToAge(t *testing.T) {
	m := newMesh(t)
	for _, n := range []string{"a", "b"} {
		put(t, m.sides[n].store, "gone", "v")
		del(t, m.sides[n].store, "gone", 1000)
	}
	put(t, m.sides["c"].store, "gone", "v") // c missed the delete
	m.now = 3000
	if moved := m.round("a", "b", "c"); moved == 0 {
		t.Fatal("c was not given the delete")
	}
	m.round("a", "b", "c")
	if n := m.purge(2999); n != 0 {
		t.Fatalf("purged %d tombstones that c has held for less than the grace", n)
	}
	if n := m.purge(3000); n != 1 {
		t.Fatalf("purged %d tombstones once the agreement was as old as the grace, want 1", n)
	}
	for n := range m.sides {
		if m.holds(n, "gone") {
			t.Fatalf("%s still holds the purged key", n)
		}
	}
}

// A replica that lost a tombstone's bucket agreement (a write since, or a
// replica never compared) keeps the tombstone; one whose grace has not
// ended is looked at again when it does, without any write.
func TestPurgeWaitsForGraceAndAgreement(t *testing.T) {
	m := newMesh(t)
	for _, s := range m.sides {
		put(t, s.store, "gone", "v")
		del(t, s.store, "gone", 5000)
	}
	m.round("a", "b", "c")
	if n := m.purge(4999); n != 0 {
		t.Fatalf("purged %d young tombstones", n)
	}
	// A write lands on a after the agreement: a's purge must not trust the
	// old agreement for a changed bucket, and the others, asking a to purge
	// too, must keep their tombstone when a does not purge.
	put(t, m.sides["a"].store, "gone", "back")
	if n := m.purge(5000); n != 0 {
		t.Fatalf("purged %d tombstones, want none (a's record changed)", n)
	}
	if !m.holds("a", "gone") {
		t.Fatal("a's rewritten record was purged")
	}
	m.round("a", "b", "c")
	for n := range m.sides {
		rec, _ := m.sides[n].Record("ns", []byte("gone"))
		var r replica.Record
		if err := replica.DecodeRecord(rec, &r); err != nil || len(r.Siblings()) != 1 || string(r.Siblings()[0].Value) != "back" {
			t.Fatalf("%s after the write and a round: %+v %v", n, r.Siblings(), err)
		}
	}
}
