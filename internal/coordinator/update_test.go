package coordinator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/quorum"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"pgregory.net/rapid"
)

// TestUpdatesApplyAlikeOnEveryReplica runs random histories of updates
// over three replicas that miss some of them and exchange records at
// random (anti-entropy), and checks what sending updates instead of
// records relies on: a replica whose copy is an update's base always
// applies it (an update comes out the same everywhere, or every update
// would cost a second send), every record it makes has the coordinator's
// digest, and one whose copy differs refuses it.
func TestUpdatesApplyAlikeOnEveryReplica(t *testing.T) {
	for _, typ := range []metadata.Type{metadata.Counter, metadata.Set, metadata.Map} {
		t.Run(string(typ), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				var copies [3]replica.Record
				caches := [3]*stateCache{newStateCache(1 << 20), newStateCache(1 << 20), newStateCache(1 << 20)}
				key := []byte("k")
				for step := range rapid.IntRange(1, 40).Draw(rt, "steps") {
					if rapid.IntRange(0, 4).Draw(rt, "sync") == 0 {
						a, b := rapid.IntRange(0, 2).Draw(rt, "from"), rapid.IntRange(0, 2).Draw(rt, "to")
						copies[b] = replica.Record{Set: dvv.Sync(copies[b].Set, copies[a].Set)}
						continue
					}
					coord := rapid.IntRange(0, 2).Draw(rt, "coordinator")
					u := update{t: typ, by: by{actor: fmt.Sprintf("n%d.1", coord), now: int64(step)}, stamp: int64(step), op: drawOp(rt, typ)}
					if typ == metadata.Counter && rapid.Bool().Draw(rt, "with id") {
						u.by.id = fmt.Sprintf("req-%d", rapid.IntRange(0, 5).Draw(rt, "id"))
					}
					base := copies[coord]
					next, _, _, changed, err := u.apply(caches[coord], "s", key, base, replica.DigestOf(&base))
					if err != nil || !changed {
						continue
					}
					if fresh, _, _, _, _ := u.apply(newStateCache(1<<20), "s", key, base, replica.DigestOf(&base)); !replica.SameRecord(&fresh, &next) {
						rt.Fatalf("%v from a cached state made another record than from the decoded record", u.op)
					}
					copies[coord] = next
					in := incoming{update: &u, base: replica.DigestOf(&base), result: replica.DigestOf(&next)}
					for r := range copies {
						if r == coord || rapid.IntRange(0, 3).Draw(rt, "missed") == 0 {
							continue
						}
						cur := copies[r]
						before := replica.DigestOf(&cur)
						got, ok := in.applyTo(caches[r], "s", key, cur)
						switch {
						case (before == in.base || before == in.result) != ok:
							rt.Fatalf("replica %d (base matches: %v) applied %v: %v", r, before == in.base, u.op, ok)
						case ok && replica.DigestOf(&got) != in.result:
							rt.Fatalf("replica %d made another record of %v", r, u.op)
						case ok:
							copies[r] = got
						default: // the coordinator sends the record
							copies[r] = replica.Record{Set: dvv.Sync(cur.Set, next.Set)}
						}
					}
				}
			})
		})
	}
}

func drawOp(rt *rapid.T, typ metadata.Type) api.Op {
	name := func(label string) []byte { return []byte(rapid.SampledFrom([]string{"a", "b", "c"}).Draw(rt, label)) }
	switch typ {
	case metadata.Counter:
		if rapid.IntRange(0, 5).Draw(rt, "clear") == 0 {
			return api.Op{Kind: api.OpClear}
		}
		return api.Op{Kind: api.OpIncrement, Delta: rapid.Int64Range(-5, 5).Draw(rt, "delta")}
	case metadata.Set:
		kind := rapid.SampledFrom([]api.OpKind{api.OpAdd, api.OpAdd, api.OpRemove, api.OpClear}).Draw(rt, "kind")
		return api.Op{Kind: kind, Members: [][]byte{name("member")}}
	}
	switch rapid.IntRange(0, 3).Draw(rt, "kind") {
	case 0:
		return api.Op{Kind: api.OpAssign, Members: [][]byte{name("field")}, Values: [][]byte{[]byte(rapid.SampledFrom([]string{"1", "7", "x"}).Draw(rt, "value"))}}
	case 1:
		return api.Op{Kind: api.OpIncrement, Field: name("field"), Delta: rapid.Int64Range(-3, 3).Draw(rt, "delta")}
	case 2:
		return api.Op{Kind: api.OpRemove, Members: [][]byte{name("field")}}
	}
	return api.Op{Kind: api.OpClear}
}

// TestUpdatesTravelAsUpdates: on a healthy cluster, adds to a set reach the
// other replicas as updates that each applies (no record sent, no miss),
// and the read before each reads contexts, not records; every replica
// holds the coordinator's record. A replica that missed adds is sent the
// record with the next one. A coordinator whose copy lacks an add made
// elsewhere reads the records of the replicas that have it.
func TestUpdatesTravelAsUpdates(t *testing.T) {
	cl := newCluster(t, nil)
	all := api.WriteOptions{W: quorum.All, R: quorum.All}
	key := []byte("palette")
	_, pl, err := cl.nodes["n1"].c.placeSynced(bg, "tags", key)
	if err != nil {
		t.Fatal(err)
	}
	first, second, third := pl.pref[0], pl.pref[1], pl.pref[2]
	c := cl.nodes[first].c
	colours := 0
	add := func(via string, o api.WriteOptions) {
		t.Helper()
		colours++
		m := []byte(fmt.Sprintf("colour-%03d-%s", colours, strings.Repeat("x", 40)))
		if _, err := cl.nodes[via].c.Update(bg, "tags", key, api.Op{Kind: api.OpAdd, Members: [][]byte{m}}, o); err != nil {
			t.Fatalf("SADD through %s: %v", via, err)
		}
	}
	for range 10 { // a set large enough to be sent as updates
		add(first, all)
	}
	sent0 := promtest.ToFloat64(c.updatesSent)
	for range 30 {
		add(first, all)
	}
	if sent, missed, reads := promtest.ToFloat64(c.updatesSent)-sent0, promtest.ToFloat64(c.updatesMissed), promtest.ToFloat64(c.updateReads); sent != 60 || missed != 0 || reads != 0 {
		t.Fatalf("30 adds to 2 replicas: %v sent as updates, %v missed, %v read records; want 60, 0, 0", sent, missed, reads)
	}
	cl.sameEverywhere(pl.store, key)

	cl.live.set(third, true) // gossip believes it down: it misses the next ones
	for range 3 {
		add(first, api.WriteOptions{W: quorum.Quorum, R: quorum.Quorum})
	}
	cl.live.set(third, false)
	add(first, all)
	if missed := promtest.ToFloat64(c.updatesMissed); missed != 1 {
		t.Fatalf("%v updates missed, want 1: the replica that missed three", missed)
	}
	cl.sameEverywhere(pl.store, key)

	cl.live.set(first, true) // the next add is made by the second replica
	add(second, api.WriteOptions{W: quorum.Quorum, R: quorum.Quorum})
	cl.live.set(first, false)
	add(first, all)
	if reads := promtest.ToFloat64(c.updateReads); reads != 1 {
		t.Fatalf("%v updates read records, want 1", reads)
	}
	cl.sameEverywhere(pl.store, key)
	for _, id := range pl.pref {
		if v, err := cl.nodes[id].c.Value(bg, "tags", key, api.ReadOptions{R: quorum.One}); err != nil || len(v.Members) != colours {
			t.Fatalf("%s's copy holds %d members (%v), want %d", id, len(v.Members), err, colours)
		}
	}
}

// TestSmallRecordsTravelWhole: a small counter costs less sent whole than
// as an update; it is.
func TestSmallRecordsTravelWhole(t *testing.T) {
	cl := newCluster(t, nil)
	c := cl.nodes["n1"].c
	for i := range 20 {
		if _, err := c.Update(bg, "hits", []byte(fmt.Sprint("page-", i)), api.Op{Kind: api.OpIncrement, Delta: 1}, api.WriteOptions{W: quorum.All, R: quorum.All}); err != nil {
			t.Fatal(err)
		}
	}
	if sent := promtest.ToFloat64(c.updatesSent); sent != 0 {
		t.Fatalf("%v updates of one-key counters sent as updates", sent)
	}
}

// sameEverywhere fails the test unless every node's own copy of key in
// store has one digest.
func (cl *cluster) sameEverywhere(store string, key []byte) {
	cl.t.Helper()
	var first replica.Digest
	for i, id := range ids {
		rec, found, err := cl.nodes[id].store.Read(store, key)
		if err != nil || !found {
			cl.t.Fatalf("%s's copy: %v %v", id, found, err)
		}
		if d := replica.DigestOf(&rec); i == 0 {
			first = d
		} else if d != first {
			cl.t.Fatalf("%s's copy differs from %s's", id, ids[0])
		}
	}
}

// TestStateCacheStaysWithinItsBound: entries beyond the bound evict
// others; a state too large is not kept; an entry is taken once, and only
// for its digest.
func TestStateCacheStaysWithinItsBound(t *testing.T) {
	c := newStateCache(1000)
	for i := range 50 {
		c.put("s", []byte(fmt.Sprint(i)), cachedState{digest: replica.Digest{byte(i)}, size: 100})
		if c.bytes > 1000 || len(c.entries) > 10 {
			t.Fatalf("after %d puts: %d bytes in %d entries, bound 1000", i+1, c.bytes, len(c.entries))
		}
	}
	if _, ok := c.take("s", []byte("49"), replica.Digest{49}); !ok {
		t.Fatal("the last state put is gone")
	}
	if _, ok := c.take("s", []byte("49"), replica.Digest{49}); ok {
		t.Fatal("a state taken twice")
	}
	c.put("s", []byte("x"), cachedState{digest: replica.Digest{1}, size: 100})
	if _, ok := c.take("s", []byte("x"), replica.Digest{2}); ok {
		t.Fatal("a state taken for another record's digest")
	}
	c.put("s", []byte("big"), cachedState{size: 251})
	if _, ok := c.entries[cacheKey("s", []byte("big"))]; ok {
		t.Fatal("a state over a quarter of the bound was kept")
	}
}

// TestUpdateOwnsItsMembers: a front end reuses its buffers once a write is
// answered, and the update still on its way to the other replicas must not
// change with them (it did: replicas then made another record, and needed
// the whole one sent).
func TestUpdateOwnsItsMembers(t *testing.T) {
	cl := newCluster(t, nil)
	key := []byte("colours")
	_, pl, err := cl.nodes["n1"].c.placeSynced(bg, "tags", key)
	if err != nil {
		t.Fatal(err)
	}
	c := cl.nodes[pl.pref[0]].c
	large := []byte(strings.Repeat("x", minUpdateRecordBytes)) // so that adds travel as updates
	if _, err := c.Update(bg, "tags", key, api.Op{Kind: api.OpAdd, Members: [][]byte{large}}, api.WriteOptions{W: quorum.All, R: quorum.All}); err != nil {
		t.Fatal(err)
	}
	cl.faults.SetDelay(20*time.Millisecond, 40*time.Millisecond)
	buf := []byte("red")
	if _, err := c.Update(bg, "tags", key, api.Op{Kind: api.OpAdd, Members: [][]byte{buf}}, api.WriteOptions{W: quorum.One, R: quorum.One}); err != nil {
		t.Fatal(err)
	}
	copy(buf, "tan") // the next command, read into the same buffer
	cl.faults.SetDelay(0, 0)
	for _, id := range pl.pref {
		testutil.Eventually(t, id+" holds the set", func() bool {
			v, err := cl.nodes[id].c.Value(bg, "tags", key, api.ReadOptions{R: quorum.One})
			return err == nil && len(v.Members) == 2
		})
		v, _ := cl.nodes[id].c.Value(bg, "tags", key, api.ReadOptions{R: quorum.One})
		if got := string(v.Members[0]); got != "red" {
			t.Fatalf("%s holds %q, want red", id, got)
		}
	}
	if sent, missed := promtest.ToFloat64(c.updatesSent), promtest.ToFloat64(c.updatesMissed); sent != 2 || missed != 0 {
		t.Fatalf("%v updates sent, %v of them not applied; want 2 and 0", sent, missed)
	}
}
