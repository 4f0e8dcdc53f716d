package handoff

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/storage"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func openStore(t *testing.T, dir string, clk clock.Clock, maxBytes int64) (*Store, *storage.Engine) {
	t.Helper()
	eng, err := storage.Open(storage.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(Config{Engine: eng, Clock: clk, MaxBytes: maxBytes, MaxAge: time.Hour})
	if err != nil {
		eng.Close()
		t.Fatal(err)
	}
	return s, eng
}

// replica is a target node as the replayer reaches it: it keeps what it is
// sent, and can be down or failing.
type replica struct {
	mu   sync.Mutex
	up   bool
	fail error
	got  map[string][]string // by target: keys received, in order
}

func (r *replica) Up(string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

func (r *replica) Replay(_ context.Context, target string, hints []Hint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	for _, h := range hints {
		r.got[target] = append(r.got[target], fmt.Sprintf("%s/%s=%s", h.Namespace, h.Key, h.Record))
	}
	return nil
}

func hint(i int) Hint {
	return Hint{Namespace: "ns", Key: fmt.Appendf(nil, "k%04d", i), Record: fmt.Appendf(nil, "r%d", i)}
}

func TestHintsReplayOnceTheTargetIsUpAndSurviveRestarts(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewManual(t0)
	s, eng := openStore(t, dir, clk, 0)
	for i := range 1200 { // more than one replay call's worth
		if err := s.Add("n2", hint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Add("n3", hint(0), hint(1)); err != nil {
		t.Fatal(err)
	}
	eng.Close()

	// A restart finds them all.
	s, eng = openStore(t, dir, clk, 0)
	defer eng.Close()
	if p := s.Pending(); p["n2"] != 1200 || p["n3"] != 2 {
		t.Fatalf("after a restart: pending %v, want n2:1200 n3:2", p)
	}
	r := &replica{got: map[string][]string{}}
	if n := s.ReplayOnce(context.Background(), r); n != 0 {
		t.Fatalf("replayed %d hints to targets that are down", n)
	}
	r.up, r.fail = true, errors.New("connection refused")
	if n := s.ReplayOnce(context.Background(), r); n != 0 || s.Pending()["n2"] != 1200 {
		t.Fatalf("a failed replay delivered %d and left %v", n, s.Pending())
	}
	r.fail = nil
	if n := s.ReplayOnce(context.Background(), r); n != 1202 {
		t.Fatalf("replayed %d hints, want 1202", n)
	}
	if len(s.Pending()) != 0 {
		t.Fatalf("pending after replay: %v", s.Pending())
	}
	got := r.got["n2"]
	if len(got) != 1200 || got[0] != "ns/k0000=r0" || got[1199] != "ns/k1199=r1199" {
		t.Fatalf("n2 received %d hints, first %q last %q: want all, oldest first", len(got), got[0], got[len(got)-1])
	}
	if st := s.Stats(); st.Replayed != 1202 || st.PendingBytes != 0 || testutil.ToFloat64(s.pendingBytes) != 0 {
		t.Fatalf("stats %+v, pending bytes metric %v", st, testutil.ToFloat64(s.pendingBytes))
	}
	// Nothing is left on disk either.
	lo, hi := storage.HintSpan("")
	it, err := eng.NewIter(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	if it.First() {
		t.Fatalf("hint %q still stored after delivery", it.Key())
	}
	it.Close()
}

func TestFullStoreRefusesClearlyAndRecovers(t *testing.T) {
	clk := clock.NewManual(t0)
	s, eng := openStore(t, t.TempDir(), clk, 1000)
	defer eng.Close()
	accepted := 0
	var err error
	for i := 0; err == nil; i++ {
		if err = s.Add("n2", hint(i)); err == nil {
			accepted++
		}
	}
	if !errors.Is(err, ErrFull) || accepted == 0 {
		t.Fatalf("after %d hints: %v, want ErrFull", accepted, err)
	}
	if st := s.Stats(); st.Refused != 1 || st.Pending["n2"] != accepted {
		t.Fatalf("stats %+v: the refused hint must be counted and nothing accepted lost", st)
	}
	r := &replica{up: true, got: map[string][]string{}}
	if n := s.ReplayOnce(context.Background(), r); n != accepted {
		t.Fatalf("replayed %d of %d accepted hints", n, accepted)
	}
	if err := s.Add("n2", hint(0)); err != nil {
		t.Fatalf("after replay freed the store: %v", err)
	}
}

func TestHintsOlderThanMaxAgeAreDroppedAndCounted(t *testing.T) {
	clk := clock.NewManual(t0)
	s, eng := openStore(t, t.TempDir(), clk, 0)
	defer eng.Close()
	if err := s.Add("n2", hint(1), hint(2)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	if err := s.Add("n2", hint(3)); err != nil {
		t.Fatal(err)
	}
	r := &replica{up: true, got: map[string][]string{}}
	if n := s.ReplayOnce(context.Background(), r); n != 1 {
		t.Fatalf("replayed %d, want only the fresh hint", n)
	}
	if got := r.got["n2"]; len(got) != 1 || got[0] != "ns/k0003=r3" {
		t.Fatalf("delivered %v", got)
	}
	if st := s.Stats(); st.Expired != 2 || len(st.Pending) != 0 {
		t.Fatalf("stats %+v, want 2 expired and nothing pending", st)
	}
}

// TestHintsAgeFromWhenTheyMissedTheirReplica: a record that waited on a
// cut-off link before it became a hint has aged already. Added an hour
// and a half after it was made, with an hour's MaxAge, it is never
// replayed; the replay reports when each hint it delivers was made.
func TestHintsAgeFromWhenTheyMissedTheirReplica(t *testing.T) {
	clk := clock.NewManual(t0)
	s, eng := openStore(t, t.TempDir(), clk, 0)
	defer eng.Close()
	old, fresh := hint(1), hint(2)
	old.Made = t0.Add(-90 * time.Minute).UnixMilli()
	fresh.Made = t0.Add(-time.Minute).UnixMilli()
	ahead := hint(3)
	ahead.Made = t0.Add(time.Hour).UnixMilli() // a sender's clock ahead: aged from now
	if err := s.Add("n2", old, fresh, ahead); err != nil {
		t.Fatal(err)
	}
	var made []int64
	r := &recordMade{replica: replica{up: true, got: map[string][]string{}}, made: &made}
	if n := s.ReplayOnce(context.Background(), r); n != 2 {
		t.Fatalf("replayed %d hints, want the two younger than MaxAge", n)
	}
	if got := r.got["n2"]; len(got) != 2 || got[0] != "ns/k0002=r2" || got[1] != "ns/k0003=r3" {
		t.Fatalf("delivered %v", got)
	}
	if want := []int64{fresh.Made, t0.UnixMilli()}; len(made) != 2 || made[0] != want[0] || made[1] != want[1] {
		t.Fatalf("replayed hints made at %v, want %v", made, want)
	}
	if st := s.Stats(); st.Expired != 1 {
		t.Fatalf("stats %+v, want the old hint expired", st)
	}
}

// recordMade is a replica that also notes when each hint was made.
type recordMade struct {
	replica
	made *[]int64
}

func (r *recordMade) Replay(ctx context.Context, target string, hints []Hint) error {
	for _, h := range hints {
		*r.made = append(*r.made, h.Made)
	}
	return r.replica.Replay(ctx, target, hints)
}

func FuzzDecodeHint(f *testing.F) {
	f.Add(encodeHint(hint(7)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHint(b)
		if err != nil {
			return
		}
		if got := encodeHint(h); string(got) != string(b) {
			t.Fatalf("decode then encode changed %x to %x", b, got)
		}
	})
}
