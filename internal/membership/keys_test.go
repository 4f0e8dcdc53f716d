package membership

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
)

func TestParseKeys(t *testing.T) {
	k1, k2 := strings.Repeat("a", 32), strings.Repeat("b", 16)
	enc := base64.StdEncoding.EncodeToString
	keys, err := ParseKeys([]byte("# the encrypting key first\n\n" + enc([]byte(k1)) + "\n  " + enc([]byte(k2)) + "  \n"))
	if err != nil || len(keys) != 2 || string(keys[0]) != k1 || string(keys[1]) != k2 {
		t.Fatalf("keys %q, %v", keys, err)
	}
	secret := enc([]byte(strings.Repeat("c", 20)))
	for _, tc := range []struct{ file, want string }{
		{"", "no key"},
		{"# nothing\n", "no key"},
		{enc([]byte(k1)) + "\n%%%\n", "line 2: not base64"},
		{secret + "\n", "line 1: a key of 20 bytes"},
	} {
		_, err := ParseKeys([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("ParseKeys(%q) = %v, want %q", tc.file, err, tc.want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("an error quotes a key: %v", err)
		}
	}
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := ParseKeys([]byte(k)); err != nil || len(keys[0]) != 32 {
		t.Fatalf("a new key does not parse: %v", err)
	}
}

func newKey(t *testing.T) []byte {
	t.Helper()
	s, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	k, _ := base64.StdEncoding.DecodeString(s)
	return k
}

// keyed is a node gossiping with keys, counting what it refuses.
type keyed struct {
	*Membership
	refused atomic.Int64
}

func startKeyed(t *testing.T, id string, keys [][]byte, join ...string) *keyed {
	t.Helper()
	return startWith(t, Config{NodeID: id, Join: join, Keys: keys})
}

// startWith starts a node of cfg on loopback with fast timings, counting
// what it refuses.
func startWith(t *testing.T, cfg Config) *keyed {
	t.Helper()
	k := &keyed{}
	cfg.BindAddr, cfg.Fast = "127.0.0.1:0", true
	cfg.OnRefused = func(string) { k.refused.Add(1) }
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k.Membership = m
	t.Cleanup(func() { _ = m.Shutdown(time.Second) })
	if err := m.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	return k
}

// spreads changes m's metadata to mark and waits until every one of others
// has it: messages m encrypted, the others decrypted.
func spreads(t *testing.T, m *keyed, mark string, others ...*keyed) {
	t.Helper()
	if err := m.UpdateMeta(func(meta *Meta) { meta.HTTPAddr = mark }); err != nil {
		t.Fatal(err)
	}
	for _, o := range others {
		testutil.Eventually(t, fmt.Sprintf("%s to read %s's gossip (%s)", o.cfg.NodeID, m.cfg.NodeID, mark), func() bool {
			mb, ok := o.Member(m.cfg.NodeID)
			return ok && mb.HTTPAddr == mark && mb.State == Alive
		})
	}
}

// TestEncryptedGossipRefusesOutsiders: nodes sharing a key form a cluster;
// a node with another key, or with none, is refused by them (counted),
// never becomes a member, and sees none of them.
func TestEncryptedGossipRefusesOutsiders(t *testing.T) {
	key := newKey(t)
	a := startKeyed(t, "a", [][]byte{key})
	b := startKeyed(t, "b", [][]byte{key}, a.LocalAddr())
	spreads(t, a, "a1", b)
	spreads(t, b, "b1", a)
	for _, out := range []*keyed{
		startKeyed(t, "wrong-key", [][]byte{newKey(t)}, a.LocalAddr()),
		startKeyed(t, "no-key", nil, a.LocalAddr()),
	} {
		before := a.refused.Load()
		testutil.Eventually(t, "a to refuse "+out.cfg.NodeID, func() bool { return a.refused.Load() > before })
		for _, m := range []*keyed{a, b} {
			if _, ok := m.Member(out.cfg.NodeID); ok {
				t.Fatalf("%s counts %s, which has not the cluster's key", m.cfg.NodeID, out.cfg.NodeID)
			}
		}
		if _, ok := out.Member("a"); ok {
			t.Fatalf("%s sees a", out.cfg.NodeID)
		}
	}
	if got := a.KeyIDs(); len(got) != 1 || got[0] != KeyID(key) {
		t.Fatalf("key ids %v", got)
	}
}

// TestGossipKeyRotation: a key is replaced on a running cluster in three
// steps (add, use, remove), one node at a time, and at every step each
// node's gossip is read by the others with nothing refused; a node with
// only the new key joins after the switch, and one with only the old key
// is refused after its removal.
func TestGossipKeyRotation(t *testing.T) {
	old, next := newKey(t), newKey(t)
	a := startKeyed(t, "a", [][]byte{old})
	b := startKeyed(t, "b", [][]byte{old}, a.LocalAddr())
	c := startKeyed(t, "c", [][]byte{old}, a.LocalAddr())
	nodes := []*keyed{a, b, c}
	others := func(m *keyed) []*keyed {
		var out []*keyed
		for _, o := range nodes {
			if o != m {
				out = append(out, o)
			}
		}
		return out
	}
	for _, m := range nodes {
		spreads(t, m, m.cfg.NodeID+"-start", others(m)...)
	}
	for step, keys := range [][][]byte{{old, next}, {next, old}, {next}} {
		for _, m := range nodes { // one node at a time: the cluster is mixed
			if err := m.SetKeys(keys); err != nil {
				t.Fatal(err)
			}
			if got := m.KeyIDs(); got[0] != KeyID(keys[0]) || len(got) != len(keys) {
				t.Fatalf("step %d: %s uses %v", step+1, m.cfg.NodeID, got)
			}
			for _, o := range nodes {
				spreads(t, o, fmt.Sprintf("%s-%d-%s", o.cfg.NodeID, step, m.cfg.NodeID), others(o)...)
			}
		}
	}
	for _, m := range nodes {
		if n := m.refused.Load(); n != 0 {
			t.Fatalf("%s refused %d messages during the rotation", m.cfg.NodeID, n)
		}
	}
	d := startKeyed(t, "d", [][]byte{next}, a.LocalAddr())
	spreads(t, d, "d1", a, b, c)
	e := startKeyed(t, "e", [][]byte{old}, a.LocalAddr())
	testutil.Eventually(t, "a to refuse a node with only the old key", func() bool { return a.refused.Load() > 0 })
	if _, ok := a.Member("e"); ok || e.Up("a") {
		t.Fatal("a node with only the removed key is a member")
	}
	if err := a.SetKeys(nil); err == nil {
		t.Fatal("encryption turned off while running")
	}
	plain := startKeyed(t, "plain", nil)
	if err := plain.SetKeys([][]byte{next}); err == nil {
		t.Fatal("encryption turned on while running")
	}
}

// TestUnprovenNodesAreRefused: with a verifier, a node the verifier
// refuses never becomes a member, and is counted as refused; one it
// accepts joins (its first messages wait for the check, in the
// background, and the join is retried).
func TestUnprovenNodesAreRefused(t *testing.T) {
	var checked atomic.Int64
	verify := func(m Member) error {
		checked.Add(1)
		if m.ID == "evil" {
			return fmt.Errorf("no node certificate at %s", m.ClusterAddr)
		}
		return nil
	}
	start := func(id string, join ...string) *keyed {
		return startWith(t, Config{NodeID: id, Join: join, Verify: verify, Meta: Meta{ClusterAddr: "c-" + id}})
	}
	a := start("a")
	b := start("b", a.LocalAddr())
	testutil.Eventually(t, "a and b to see each other", func() bool { return a.Up("b") && b.Up("a") })
	evil := start("evil", a.LocalAddr())
	testutil.Eventually(t, "evil refused", func() bool { return a.refused.Load() > 0 })
	testutil.Eventually(t, "evil checked more than once (retried)", func() bool { return checked.Load() >= 3 })
	if _, ok := a.Member("evil"); ok {
		t.Fatal("a counts evil")
	}
	if _, ok := b.Member("evil"); ok {
		t.Fatal("b counts evil")
	}
	_ = evil
}
