package raftgroup

import (
	"context"
	"testing"
	"time"
)

// TestUnreadResultDoesNotBlock: a proposer that never reads its result,
// and is handed more than one (its proposal went in twice), does not stall
// the group's goroutine: later proposals still commit.
func TestUnreadResultDoesNotBlock(t *testing.T) {
	c := newCluster(t, []uint64{1}, 1000)
	m := c.members[c.leader()]
	const id = 0xdead<<1 | 1
	ch := m.g.wait(id) // never read
	t.Cleanup(func() { // let a stuck group stop (runs before the cluster's cleanup)
		go func() {
			for {
				select {
				case <-ch:
				case <-m.done:
					return
				}
			}
		}()
	})
	for range 2 {
		m.g.props <- proposal{id: id, cmd: []byte("twice x")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := m.g.Propose(ctx, []byte("later y")); err != nil {
		t.Fatalf("a proposal after an unread result: %v", err)
	}
	if len(ch) != 1 {
		t.Fatalf("the unread waiter holds %d results, want 1", len(ch))
	}
}
