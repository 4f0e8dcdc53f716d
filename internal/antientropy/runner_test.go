package antientropy

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// A round repairs every partition and reports it in sync; a partition with
// a replica away is never reported in sync, whatever the others agree on.
func TestRunnerReportsSyncOnlyWithEveryReplica(t *testing.T) {
	layout := Layout{Partitions: 4}
	a, b := newSide(t, layout), newSide(t, layout)
	for i := range 40 {
		put(t, b.store, fmt.Sprint("k", i), "only on b")
	}
	away := false
	r, err := NewRunner(Config{
		Trees: a.trees, Local: a, Peer: func(string) Peer { return b },
		Plan: func() []Task {
			var tasks []Task
			for p := range layout.Partitions {
				t := Task{ID: ID{"ns", p}, Peers: []string{"b"}}
				if away && p == 2 {
					t.Away = []string{"c"}
				}
				tasks = append(tasks, t)
			}
			return tasks
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); !st.OldestSync.IsZero() || st.Rounds != 0 {
		t.Fatalf("before any round: %+v", st)
	}
	before := time.Now()
	if res := r.Round(context.Background()); res.Pulled != 40 {
		t.Fatalf("first round pulled %d records, want 40", res.Pulled)
	}
	st := r.Status()
	if st.Rounds != 1 || st.Repaired != 40 || st.Bytes == 0 || len(st.Partitions) != 4 || st.OldestSync.Before(before) {
		t.Fatalf("after a repairing round: %+v", st)
	}
	synced := st.OldestSync

	away = true
	r.Round(context.Background())
	st = r.Status()
	if st.Partitions[2].LastSync != synced || !st.OldestSync.Equal(synced) {
		t.Fatalf("partition 2 with a replica away: last sync %v, oldest %v; want both kept at %v", st.Partitions[2].LastSync, st.OldestSync, synced)
	}
	if !st.Partitions[1].LastSync.After(synced) {
		t.Fatalf("partition 1, all replicas up, not synced again: %v", st.Partitions[1].LastSync)
	}
	if st.Repaired != 40 {
		t.Fatalf("an equal round repaired %d records in all, want the first round's 40", st.Repaired)
	}
}

func TestRunnerBudgetChangesAtRunTime(t *testing.T) {
	a := newSide(t, Layout{Partitions: 1})
	r, err := NewRunner(Config{Trees: a.trees, Local: a, Peer: func(string) Peer { return a }, Plan: func() []Task { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.RecordsPerSecond != 0 || st.BytesPerSecond != 0 {
		t.Fatalf("default budget %v records/s, %v bytes/s; want no bound", st.RecordsPerSecond, st.BytesPerSecond)
	}
	if err := r.SetBudget(500, 1<<20); err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.RecordsPerSecond != 500 || st.BytesPerSecond != 1<<20 {
		t.Fatalf("budget after SetBudget: %v records/s, %v bytes/s", st.RecordsPerSecond, st.BytesPerSecond)
	}
	if err := r.SetBudget(-1, 0); err == nil {
		t.Fatal("a negative budget was accepted")
	}
}

// A write whose mark the tree missed (here: dropped on purpose) hides from
// exchanges until the round that recomputes its tree whole, one tree a
// round in turn; then it is found and pulled.
func TestRescanFindsWhatATreeMissed(t *testing.T) {
	layout := Layout{Partitions: 4}
	a, b := newSide(t, layout), newSide(t, layout)
	for i := range 40 {
		put(t, a.store, fmt.Sprint("k", i), "v")
		put(t, b.store, fmt.Sprint("k", i), "v")
	}
	plan := func() []Task {
		var tasks []Task
		for p := range layout.Partitions {
			tasks = append(tasks, Task{ID: ID{"ns", p}, Peers: []string{"a"}})
		}
		return tasks
	}
	ra, err := NewRunner(Config{Trees: a.trees, Local: a, Peer: func(string) Peer { return b }, Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := NewRunner(Config{Trees: b.trees, Local: b, Peer: func(string) Peer { return a }, Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	ra.Round(context.Background())
	rb.Round(context.Background())
	a.blind.Store(true)
	put(t, a.store, "k7", "unseen by a's tree")
	a.blind.Store(false)
	pulled := 0
	rounds := 0
	for ; rounds < layout.Partitions+1 && pulled == 0; rounds++ {
		ra.Round(context.Background())
		pulled = rb.Round(context.Background()).Pulled
	}
	if pulled != 1 {
		t.Fatalf("b pulled %d records in %d rounds; want the write a's tree missed, within %d rounds", pulled, rounds, layout.Partitions+1)
	}
	if rec, _ := b.Record("ns", []byte("k7")); !bytes.Contains(rec, []byte("unseen")) {
		t.Fatalf("b's k7 after the rescan: %q", rec)
	}

}
