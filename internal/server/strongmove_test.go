package server

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/strong"
	"github.com/pandodb/pando/internal/testutil"
)

// counters increments strong counters through random nodes until halted,
// each increment with a request id and retried with it until answered, so
// each takes effect once; it counts those acknowledged per key.
type counters struct {
	mu      sync.Mutex
	acked   map[string]int64
	doubt   int // increments given up unanswered at the halt: may have applied
	stop    chan struct{}
	done    sync.WaitGroup
	errors  map[string]int
	retries int
}

func (s *sim) startCounters(keys int, via ...string) *counters {
	c := &counters{acked: map[string]int64{}, errors: map[string]int{}, stop: make(chan struct{})}
	kvs := make([]api.Strong, len(via))
	for i, id := range via {
		kvs[i] = s.kv(id).(api.Strong)
	}
	for g := range 4 {
		c.done.Add(1)
		go func() {
			defer c.done.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("c%d", rand.IntN(keys))
				id := fmt.Sprintf("g%d-%d", g, i)
				for attempt := 0; ; attempt++ {
					select {
					case <-c.stop:
						if attempt > 0 {
							c.mu.Lock()
							c.doubt++
							c.mu.Unlock()
						}
						return
					default:
					}
					_, err := kvs[rand.IntN(len(kvs))].IncrBy(bg, "bank", []byte(key), 1, nil, id)
					c.mu.Lock()
					if err == nil {
						c.acked[key]++
					} else {
						c.errors[errKind(err)]++
						c.retries++
					}
					c.mu.Unlock()
					if err == nil {
						break
					}
					time.Sleep(10 * time.Millisecond) // a client's back-off
				}
			}
		}()
	}
	return c
}

func errKind(err error) string {
	for _, e := range []error{api.ErrUnavailable, api.ErrOutcomeUnknown} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return err.Error()
}

func (c *counters) total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, v := range c.acked {
		n += v
	}
	return n
}

func (c *counters) halt() {
	close(c.stop)
	c.done.Wait()
}

// groupsMatchRing checks that every member of every group of strong
// namespace name has exactly the ring's replicas of its partition as
// voters, and that nodes outside them run no member.
func (s *sim) groupsMatchRing(name string, nodes ...string) {
	s.t.Helper()
	st := s.nodes["n1"].node.Meta().State()
	ns, _ := st.Namespace(name)
	for p := range st.Ring.Partitions() {
		pref := st.Ring.Preference(p, 3)
		want := slices.Sorted(slices.Values(metadata.RaftIDs(pref)))
		group := strong.GroupID(ns.Generation, p)
		for _, id := range nodes {
			if !slices.Contains(pref, id) {
				testutil.Eventually(s.t, fmt.Sprintf("%s to drop partition %d's group", id, p), func() bool {
					return !slices.Contains(s.nodes[id].node.Strong().Groups(), group)
				})
				continue
			}
			testutil.Eventually(s.t, fmt.Sprintf("%s's member of partition %d to have voters %v", id, p, want), func() bool {
				gs, err := s.nodes[id].node.Strong().Status(group)
				return err == nil && slices.Equal(gs.Voters, want) && len(gs.Learners) == 0
			})
		}
	}
}

// TestStrongPartitionsMoveThroughRaft: a strong namespace's partitions
// move with the ring through Raft membership changes while increments go
// on through every node: a joining node becomes a learner, then a voter,
// and a replaced one leaves its groups, leaders included, and deletes
// them. Every acknowledged increment (each once, by its request id) is in
// the counters afterwards, read through the new nodes, and each group's
// voters are its partition's replicas in the new ring.
func TestStrongPartitionsMoveThroughRaft(t *testing.T) {
	// Ticks of 50ms: a loaded machine's elections stay rare.
	s := newSimWith(t, 3, func(c *NodeConfig) { c.RaftTick = 50 * time.Millisecond })
	createStrong(t, s, "bank")
	inc := s.startCounters(40, "n1", "n2", "n3")
	testutil.Eventually(t, "some increments", func() bool { return inc.total() > 100 })
	s.join("n4")
	s.move(metadata.Change{Kind: metadata.ChangeJoin, Node: "n4"})
	s.groupsMatchRing("bank", "n1", "n2", "n3", "n4")
	grown := inc.total()

	s.join("n5")
	led := 0 // groups the replaced node leads: it hands each over before it leaves
	for _, g := range s.nodes["n2"].node.Strong().Groups() {
		if gs, err := s.nodes["n2"].node.Strong().Status(g); err == nil && gs.Leader == metadata.RaftID("n2") {
			led++
		}
	}
	s.move(metadata.Change{Kind: metadata.ChangeReplace, Node: "n2", With: "n5"})
	s.groupsMatchRing("bank", "n1", "n2", "n3", "n4", "n5")
	inc.halt()
	if len(s.nodes["n2"].node.Strong().Groups()) != 0 {
		t.Fatalf("n2 still runs groups %v after it was replaced", s.nodes["n2"].node.Strong().Groups())
	}
	var sum int64
	for key, acked := range inc.acked {
		via := []string{"n4", "n5"}[len(key)%2]
		var got int64
		testutil.Eventually(t, "a linearizable read of "+key, func() bool {
			e, err := s.kv(via).Get(bg, "bank", []byte(key), api.ReadOptions{})
			if err != nil {
				return false
			}
			got, err = strconv.ParseInt(string(e.Value), 10, 64)
			return err == nil
		})
		if got < acked {
			t.Fatalf("%s is %d through %s; %d increments of it were acknowledged", key, got, via, acked)
		}
		sum += got
	}
	total := inc.total()
	if sum > total+int64(inc.doubt) {
		t.Fatalf("the counters sum to %d: %d increments acknowledged and %d in doubt, so some counted twice", sum, total, inc.doubt)
	}
	t.Logf("%d increments acknowledged (%d once n4 had joined), %d in doubt at the halt, %d refusals retried %v; n2 led %d groups when it was replaced", total, grown, inc.doubt, inc.retries, inc.errors, led)
}
