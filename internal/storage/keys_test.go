package storage

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

func TestDataKeyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ns := rapid.StringN(0, 20, MaxNamespaceLen).Draw(t, "ns")
		key := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "key")
		k := DataKey(nil, ns, key)
		gotNS, h, gotKey, err := ParseDataKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if gotNS != ns || !bytes.Equal(gotKey, key) || h != Hash(ns, key) {
			t.Fatalf("round trip: got (%q, %x, %q), want (%q, %x, %q)", gotNS, h, gotKey, ns, Hash(ns, key), key)
		}
		lo, hi := DataSpan(ns, 0)
		if bytes.Compare(k, lo) < 0 || bytes.Compare(k, hi) >= 0 {
			t.Fatalf("key %x outside its namespace span [%x, %x)", k, lo, hi)
		}
		at := rapid.Int64Range(0, 1<<50).Draw(t, "at")
		gotAt, gotData, err := ParseExpiryKey(ExpiryKey(nil, at, k))
		if err != nil || gotAt != at || !bytes.Equal(gotData, k) {
			t.Fatalf("expiry key round trip: (%d, %x, %v)", gotAt, gotData, err)
		}
	})
}

func TestHashSeparatesNamespaceFromKey(t *testing.T) {
	// "ab"+"c" and "a"+"bc" must not collide by construction.
	if Hash("ab", []byte("c")) == Hash("a", []byte("bc")) {
		t.Fatal("namespace and key run together in the hash")
	}
}

func TestExpirySpanOrdersByTime(t *testing.T) {
	k := DataKey(nil, "ns", []byte("k"))
	_, hi := ExpirySpan(100)
	if bytes.Compare(ExpiryKey(nil, 99, k), hi) >= 0 {
		t.Fatal("entry at 99 is not before the span's end at 100")
	}
	if bytes.Compare(ExpiryKey(nil, 100, k), hi) < 0 {
		t.Fatal("entry at 100 is inside the span ending at 100")
	}
}

func TestHintKeyRoundTripAndOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		target := rapid.StringN(1, 20, 255).Draw(t, "target")
		at := rapid.Int64Range(0, 1<<50).Draw(t, "at")
		seq := rapid.Uint64().Draw(t, "seq")
		k := HintKey(target, at, seq)
		gotT, gotAt, gotSeq, err := ParseHintKey(k)
		if err != nil || gotT != target || gotAt != at || gotSeq != seq {
			t.Fatalf("round trip: (%q, %d, %d, %v)", gotT, gotAt, gotSeq, err)
		}
		lo, hi := HintSpan(target)
		if bytes.Compare(k, lo) < 0 || bytes.Compare(k, hi) >= 0 {
			t.Fatalf("hint key %x outside its target's span [%x, %x)", k, lo, hi)
		}
		if later := HintKey(target, at+1, 0); bytes.Compare(k, later) >= 0 {
			t.Fatal("a hint does not sort before a later one of the same target")
		}
		other := target + "x"
		olo, ohi := HintSpan(other)
		if bytes.Compare(k, olo) >= 0 && bytes.Compare(k, ohi) < 0 {
			t.Fatalf("%q's hint is inside %q's span", target, other)
		}
		alo, ahi := HintSpan("")
		if bytes.Compare(k, alo) < 0 || bytes.Compare(k, ahi) >= 0 {
			t.Fatal("hint key outside the span of all hints")
		}
	})
}

func TestStrongKeyRoundTripAndSpans(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		group := rapid.Uint64().Draw(t, "group")
		key := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "key")
		k := StrongKey(nil, group, key)
		gotGroup, gotKey, err := ParseStrongKey(k)
		if err != nil || gotGroup != group || !bytes.Equal(gotKey, key) {
			t.Fatalf("round trip: (%d, %q, %v), want (%d, %q)", gotGroup, gotKey, err, group, key)
		}
		in := func(k, lo, hi []byte) bool {
			return bytes.Compare(k, lo) >= 0 && (hi == nil || bytes.Compare(k, hi) < 0)
		}
		lo, hi := StrongSpan(group)
		if !in(k, lo, hi) {
			t.Fatalf("key %x outside its group's span [%x, %x)", k, lo, hi)
		}
		// Restore replaces a group's span: it must hold neither the
		// group's applied index nor another group's keys.
		if in(StrongAppliedKey(group), lo, hi) {
			t.Fatal("the applied index is inside the group's data span")
		}
		random := rapid.Uint64().Filter(func(g uint64) bool { return g != group }).Draw(t, "other")
		for _, other := range []uint64{group - 1, group + 1, random} {
			if olo, ohi := StrongSpan(other); in(k, olo, ohi) {
				t.Fatalf("group %d's key is inside group %d's span", group, other)
			}
			if in(StrongAppliedKey(other), lo, hi) {
				t.Fatalf("group %d's applied index is inside group %d's span", other, group)
			}
		}
		key2 := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "key2")
		if got, want := bytes.Compare(k, StrongKey(nil, group, key2)), bytes.Compare(key, key2); got != want {
			t.Fatalf("strong keys sort %d, their record keys %d", got, want)
		}
		if _, _, err := ParseStrongKey(StrongAppliedKey(group)); err == nil {
			t.Fatal("the applied-index key parses as a data key")
		}
	})
}

func TestStrongKeysAreNotNamespaces(t *testing.T) {
	e := openTest(t, t.TempDir())
	defer e.Close()
	b := e.NewBatch()
	b.Set(DataKey(nil, "ns", []byte("k")), []byte("v"))
	b.Set(StrongKey(nil, 7, []byte("k")), []byte("v"))
	b.Set(StrongAppliedKey(7), []byte("1"))
	if err := e.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	got, err := e.DataNamespaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "ns" {
		t.Fatalf("namespaces %q, want only [ns]", got)
	}
}
