package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pandodb/pando/dvv"
	"pgregory.net/rapid"
)

// setOf builds a record by successive writes, each at node with ctx = what
// the previous write left (so the last write supersedes the rest), unless
// concurrent is set (empty context: a new sibling).
func recordOf(writes ...struct {
	node       string
	val        string
	exp        int64
	tomb       bool
	concurrent bool
}) Record {
	var s dvv.Set
	for _, w := range writes {
		ctx := s.Context()
		if w.concurrent {
			ctx = nil
		}
		s = dvv.Update(ctx, s, w.node, EncodeSibling(w.tomb, w.exp, 0, []byte(w.val)))
	}
	return Record{Set: s}
}

type w = struct {
	node       string
	val        string
	exp        int64
	tomb       bool
	concurrent bool
}

func TestRecordRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var s dvv.Set
		for i := range rapid.IntRange(0, 12).Draw(t, "writes") {
			node := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "node")
			var ctx dvv.Context
			if rapid.Bool().Draw(t, "sawAll") {
				ctx = s.Context()
			}
			v := EncodeSibling(rapid.Bool().Draw(t, "tomb"), rapid.Int64Range(0, 1<<40).Draw(t, "exp"), 0, fmt.Appendf(nil, "v%d", i))
			s = dvv.Update(ctx, s, node, v)
		}
		in := Record{Set: s}
		enc := AppendRecord(nil, &in)
		var out Record
		if err := DecodeRecord(enc, &out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(AppendRecord(nil, &out), enc) {
			t.Fatal("re-encoding differs")
		}
		if len(out.Siblings()) != in.Set.Len() {
			t.Fatalf("%d siblings decoded, %d stored", len(out.Siblings()), in.Set.Len())
		}
	})
}

func TestVersion1RecordsAreRead(t *testing.T) {
	// byte 1, flags, uvarint expiry, uvarint causal length, causal, value.
	v1 := []byte{1, 0}
	v1 = binary.AppendUvarint(v1, 1234)
	v1 = binary.AppendUvarint(v1, 0)
	v1 = append(v1, "old value"...)
	var r Record
	if err := DecodeRecord(v1, &r); err != nil {
		t.Fatal(err)
	}
	sibs := r.Siblings()
	if len(sibs) != 1 || string(sibs[0].Value) != "old value" || sibs[0].ExpireAt != 1234 || sibs[0].Dot != (dvv.Dot{Node: LegacyNode, Counter: 1}) {
		t.Fatalf("version 1 record: %+v", sibs)
	}
	// The first write that saw it supersedes it.
	next := dvv.Update(r.Set.Context(), r.Set, "n1", EncodeSibling(false, 0, 0, []byte("new")))
	if next.Len() != 1 {
		t.Fatalf("write after upgrade left %d siblings", next.Len())
	}
}

func TestDecodeRefusesGarbage(t *testing.T) {
	good := recordOf(w{node: "a", val: "x"})
	bad := AppendRecord(nil, &good)
	bad[len(bad)-4] = 0x7f // the sibling's flags byte
	for name, b := range map[string][]byte{
		"empty":           {},
		"unknown version": {9, 0},
		"truncated set":   {recordV2, 5},
		"bad sibling":     bad,
		"v1 truncated":    {recordV1},
	} {
		var r Record
		if err := DecodeRecord(b, &r); !errors.Is(err, ErrCorruptRecord) {
			t.Errorf("%s: got %v, want ErrCorruptRecord", name, err)
		}
	}
}

func TestLiveAndPick(t *testing.T) {
	r := recordOf(
		w{node: "a", val: "a1"},
		w{node: "b", val: "b1", concurrent: true},
		w{node: "c", val: "c-expired", exp: 100, concurrent: true},
		w{node: "d", val: "d-deleted", tomb: true, concurrent: true},
	)
	live := r.Live(100)
	if len(live) != 2 {
		t.Fatalf("live siblings: %+v", live)
	}
	// Both have counter 1: the greater node id wins.
	if p, _ := Pick(live); string(p.Value) != "b1" {
		t.Fatalf("picked %q", p.Value)
	}
	if _, ok := Pick(nil); ok {
		t.Fatal("picked from nothing")
	}
	// Pick does not depend on order.
	rapid.Check(t, func(rt *rapid.T) {
		sibs := r.Siblings()
		rand.Shuffle(len(sibs), func(i, j int) { sibs[i], sibs[j] = sibs[j], sibs[i] })
		a, _ := Pick(sibs)
		b, _ := Pick(r.Siblings())
		if a.Dot != b.Dot {
			rt.Fatalf("pick depends on order: %v vs %v", a.Dot, b.Dot)
		}
	})
}

func TestReclaimAt(t *testing.T) {
	for _, tc := range []struct {
		r    Record
		want int64
	}{
		{recordOf(w{node: "a", val: "x", exp: 50}), 50},
		{recordOf(w{node: "a", val: "x", exp: 50}, w{node: "b", val: "y", exp: 70, concurrent: true}), 70},
		{recordOf(w{node: "a", val: "x", exp: 50}, w{node: "b", val: "y", concurrent: true}), 0},
		{recordOf(w{node: "a", val: "", tomb: true}), 0},
	} {
		if got := tc.r.reclaimAt(); got != tc.want {
			t.Errorf("reclaimAt = %d, want %d", got, tc.want)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range []Record{
		recordOf(w{node: "a", val: "v"}),
		recordOf(w{node: "a", val: "v", exp: 9}, w{node: "b", val: "", tomb: true, concurrent: true}),
	} {
		f.Add(AppendRecord(nil, &r))
	}
	f.Add([]byte{1, 0, 0, 0, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if err := DecodeRecord(b, &r); err != nil {
			return
		}
		enc := AppendRecord(nil, &r)
		var r2 Record
		if err := DecodeRecord(enc, &r2); err != nil {
			t.Fatalf("re-encoding of an accepted record does not decode: %v", err)
		}
		if !bytes.Equal(AppendRecord(nil, &r2), enc) {
			t.Fatal("encoding is not stable")
		}
		_ = r.Siblings()
		_ = r.Live(0)
	})
}

func TestStampsRoundTripAndOrderConcurrentSiblings(t *testing.T) {
	// Two concurrent writes: n1's has the higher counter, n2's the later
	// stamp. Pick shows the later one; both stay.
	var s dvv.Set
	for i := range 3 {
		s = dvv.Update(nil, s, "n1", EncodeSibling(false, 0, int64(100+i), fmt.Appendf(nil, "n1-%d", i)))
	}
	s = dvv.Update(nil, s, "n2", EncodeSibling(false, 0, 500, []byte("n2")))
	var rec Record
	if err := DecodeRecord(AppendRecord(nil, &Record{Set: s}), &rec); err != nil {
		t.Fatal(err)
	}
	live := rec.Live(0)
	if len(live) != 4 {
		t.Fatalf("%d siblings, want all 4 concurrent writes", len(live))
	}
	if p, _ := Pick(live); string(p.Value) != "n2" || p.Stamp != 500 {
		t.Fatalf("Pick chose %q (stamp %d); want n2, stamped latest, over n1's higher counter", p.Value, p.Stamp)
	}
	// Without stamps (records from before them), the counter decides.
	legacy := dvv.Update(nil, dvv.Update(nil, dvv.Set{}, "n1", EncodeSibling(false, 0, 0, []byte("a"))), "n2", EncodeSibling(false, 0, 0, []byte("b")))
	old := Record{Set: legacy}
	if p, _ := Pick(old.Live(0)); string(p.Value) != "b" {
		t.Fatalf("unstamped tie: %q, want b (greater node id)", p.Value)
	}
	// A stamp flag with a zero stamp is not a valid encoding.
	bad := []byte{flagStamp, 0, 0}
	if _, err := decodeSibling(dvv.Dot{}, bad); err == nil {
		t.Fatal("a zero stamp behind the stamp flag was accepted")
	}
}
