package strong

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/pandodb/pando/internal/raftgroup"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// hostNode is one in-process node: its engine, sender and host.
type hostNode struct {
	id   uint64
	name string
	eng  *storage.Engine
	snd  *raftgroup.Sender
	h    *Host
}

// raftOnly is the node's service as its peers call it: Raft messages only.
type raftOnly struct {
	transport.Peer // nil: nothing else is called
	n              *hostNode
}

func (p raftOnly) Raft(_ context.Context, req *nodepb.RaftRequest) (*nodepb.RaftResponse, error) {
	h := p.n.host()
	if h == nil {
		return nil, transport.ErrUnreachable
	}
	for _, b := range req.GetBatches() {
		if err := h.HandleRaft(b); err != nil {
			return nil, err
		}
	}
	return &nodepb.RaftResponse{}, nil
}

func (n *hostNode) host() *Host {
	hostsMu.Lock()
	defer hostsMu.Unlock()
	return n.h
}

var hostsMu sync.Mutex // guards hostNode.h across restarts

type hostCluster struct {
	t      *testing.T
	faults *transport.Faults
	nodes  []*hostNode
	groups []uint64
}

// newHostCluster starts three nodes, each a member of groups partitions'
// groups, over a network with faults.
func newHostCluster(t *testing.T, groups int) *hostCluster {
	net := transport.NewMemNetwork()
	c := &hostCluster{t: t, faults: transport.NewFaults(7)}
	for p := range groups {
		c.groups = append(c.groups, GroupID(1, p))
	}
	names := map[uint64]string{}
	for i := range 3 {
		n := &hostNode{id: uint64(i + 1), name: fmt.Sprintf("n%d", i+1)}
		names[n.id] = n.name
		eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		n.eng = eng
		n.snd = raftgroup.NewSender(c.faults.Wrap(n.name, net.Transport()), func(id uint64) (string, bool) { s, ok := names[id]; return s, ok }, nil)
		net.Register(n.name, raftOnly{n: n})
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if h := n.host(); h != nil {
				h.Close()
			}
			n.snd.Close()
			n.eng.Close()
		}
	})
	return c
}

func (c *hostCluster) start(n *hostNode) {
	h := NewHost(HostConfig{Self: n.id, Engine: n.eng, Sender: n.snd, TickInterval: 10 * time.Millisecond})
	for _, g := range c.groups {
		if err := h.Open(g, []uint64{1, 2, 3}); err != nil {
			c.t.Fatal(err)
		}
	}
	hostsMu.Lock()
	n.h = h
	hostsMu.Unlock()
}

func (c *hostCluster) stop(n *hostNode) {
	hostsMu.Lock()
	h := n.h
	n.h = nil
	hostsMu.Unlock()
	h.Close()
}

// leaderOf waits until group has a leader every running member agrees on.
func (c *hostCluster) leaderOf(group uint64) *hostNode {
	c.t.Helper()
	var lead *hostNode
	testutil.Eventually(c.t, "a leader", func() bool {
		lead = nil
		for _, n := range c.nodes {
			h := n.host()
			if h == nil {
				continue
			}
			st, err := h.Status(group)
			if err != nil || st.Leader == 0 || (lead != nil && lead.id != st.Leader) {
				return false
			}
			lead = c.nodes[st.Leader-1]
		}
		return lead != nil && lead.host() != nil
	})
	return lead
}

// set writes key through n, again while the outcome is unknown or no
// leader is known (a SET of one value is idempotent): with 10ms ticks a
// loaded machine deposes leaders, and a proposal forwarded to a leader that
// is gone is lost without a word.
func (c *hostCluster) set(ctx context.Context, n *hostNode, group uint64, key, value string) error {
	for {
		try, cancel := context.WithTimeout(ctx, time.Second)
		_, err := n.host().Do(try, group, Set{Key: []byte(key), Value: []byte(value)})
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, ErrUnknown) && !errors.Is(err, ErrNoQuorum) {
			return err
		}
	}
}

// get reads key through n, again while no leader answers (see set).
func (c *hostCluster) get(ctx context.Context, n *hostNode, group uint64, key string) (value []byte, version uint64, found bool, err error) {
	for {
		try, cancel := context.WithTimeout(ctx, time.Second)
		value, version, found, err = n.host().Get(try, group, []byte(key))
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, ErrNoQuorum) {
			return value, version, found, err
		}
	}
}

// TestWriteThroughOneReplicaReadThroughAnother: a command applied through
// any member, leader or follower, is what every member's linearizable read
// returns afterwards.
func TestWriteThroughOneReplicaReadThroughAnother(t *testing.T) {
	c := newHostCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, n := range c.nodes {
		g := c.groups[i%len(c.groups)]
		c.leaderOf(g)
		key := fmt.Sprintf("k%d", i)
		if err := c.set(ctx, n, g, key, n.name); err != nil {
			t.Fatalf("set via %s: %v", n.name, err)
		}
		for _, m := range c.nodes {
			v, ver, ok, err := c.get(ctx, m, g, key)
			if err != nil || !ok || string(v) != n.name || ver == 0 {
				t.Fatalf("get %s via %s: %q version %d found %v err %v", key, m.name, v, ver, ok, err)
			}
		}
	}
	if _, err := c.nodes[0].host().Do(ctx, GroupID(9, 0), Del{}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("a group this node is not in: %v", err)
	}
}

// TestMinorityRefuses: a replica cut off from the other two answers every
// write and read with an error, never with a stale value or a write the
// majority does not have; the majority goes on; after healing the cut-off
// replica reads what the majority wrote.
func TestMinorityRefuses(t *testing.T) {
	c := newHostCluster(t, 1)
	g := c.groups[0]
	lead := c.leaderOf(g)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.set(ctx, lead, g, "balance", "100"); err != nil {
		t.Fatal(err)
	}
	// Cut the leader off: the minority side is the node that was leading,
	// the hardest case (it believes it leads until CheckQuorum deposes it).
	var majority []string
	for _, n := range c.nodes {
		if n != lead {
			majority = append(majority, n.name)
		}
	}
	c.faults.Partition([]string{lead.name}, majority)

	short, cancelShort := context.WithTimeout(ctx, time.Second)
	_, err := lead.host().Do(short, g, IncrBy{Key: []byte("balance"), Delta: -100, HasFloor: true})
	cancelShort()
	if !errors.Is(err, ErrNoQuorum) && !errors.Is(err, ErrUnknown) {
		t.Fatalf("a debit on the minority side: %v, want ErrNoQuorum or ErrUnknown", err)
	}
	other := c.nodes[0]
	if other == lead {
		other = c.nodes[1]
	}
	var r Result
	testutil.Eventually(t, "the majority to debit", func() bool {
		try, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		r, err = other.host().Do(try, g, IncrBy{Key: []byte("balance"), Delta: -60, HasFloor: true})
		return err == nil
	})
	if got := r.(IncrByResult).Value; got != 40 {
		// 40 exactly: the minority's debit of 100 was not applied, or this
		// one would have been refused below the floor.
		t.Fatalf("balance after the majority's debit: %d, want 40", got)
	}
	short, cancelShort = context.WithTimeout(ctx, time.Second)
	v, _, _, err := lead.host().Get(short, g, []byte("balance"))
	cancelShort()
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("a read on the minority side: %q, %v; want ErrNoQuorum", v, err)
	}
	c.faults.Heal()
	testutil.Eventually(t, "the healed replica to read the majority's debit", func() bool {
		try, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		v, _, _, err := lead.host().Get(try, g, []byte("balance"))
		return err == nil && string(v) == "40"
	})
}

// TestRestartedReplicaKeepsItsData: the leader stops (its groups closed,
// its disk kept); the others elect a leader and go on; restarted, it serves
// every write, those from before it stopped and those it missed.
func TestRestartedReplicaKeepsItsData(t *testing.T) {
	c := newHostCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g := c.groups[0]
	lead := c.leaderOf(g)
	for i := range 20 {
		if err := c.set(ctx, lead, g, fmt.Sprintf("k%d", i), "before"); err != nil {
			t.Fatal(err)
		}
	}
	c.stop(lead)
	next := c.leaderOf(g)
	for i := 10; i < 30; i++ {
		if err := c.set(ctx, next, g, fmt.Sprintf("k%d", i), "after"); err != nil {
			t.Fatal(err)
		}
	}
	c.start(lead)
	for i := range 30 {
		want := "before"
		if i >= 10 {
			want = "after"
		}
		v, _, ok, err := c.get(ctx, lead, g, fmt.Sprintf("k%d", i))
		if err != nil || !ok || string(v) != want {
			t.Fatalf("k%d on the restarted replica: %q found %v err %v, want %q", i, v, ok, err, want)
		}
	}
}

// casInput and casOutput are a register's operations for porcupine.
type casInput struct {
	op       string // get, set, cas
	key      string
	value    string // set and cas: the new value
	expected string // cas
}

type casOutput struct {
	value   string // get
	swapped bool   // cas
	unknown bool   // set or cas whose outcome is unknown
}

var casModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(casInput).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in, out, st := input.(casInput), output.(casOutput), state.(string)
		switch in.op {
		case "get":
			return out.value == st, st
		case "set":
			return true, in.value
		default:
			if st == in.expected {
				return out.swapped || out.unknown, in.value
			}
			return !out.swapped, st
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(casInput), output.(casOutput)
		return fmt.Sprintf("%s(%s, %q, %q) -> %+v", in.op, in.key, in.expected, in.value, out)
	},
}

// TestHistoriesAreLinearizableUnderFaults: clients read, write and
// compare-and-set a few keys through every node while the network
// partitions, heals, loses and duplicates messages, and leaders stop and
// restart. Every history, per key, must be linearizable, where a command
// whose outcome is unknown may have taken effect at any time after it
// began; and the faults must not have stopped progress altogether.
func TestHistoriesAreLinearizableUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seconds")
	}
	c := newHostCluster(t, 2)
	for _, g := range c.groups {
		c.leaderOf(g)
	}
	c.faults.SetLossy(0.03, 0.03, 0.02)
	start := time.Now()
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		counts  = map[string]int{}
	)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for client := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(client), 1))
			for seq := 0; ctx.Err() == nil; seq++ {
				n := c.nodes[rng.IntN(len(c.nodes))]
				h := n.host()
				if h == nil {
					continue
				}
				k := rng.IntN(4)
				key, g := fmt.Sprintf("k%d", k), c.groups[k%len(c.groups)]
				in := casInput{key: key, value: fmt.Sprintf("c%d-%d", client, seq)}
				call := time.Since(start).Nanoseconds()
				opCtx, opCancel := context.WithTimeout(ctx, 300*time.Millisecond)
				var out casOutput
				var err error
				switch rng.IntN(3) {
				case 0:
					in.op = "get"
					var v []byte
					v, _, _, err = h.Get(opCtx, g, []byte(key))
					out.value = string(v)
				case 1:
					in.op = "set"
					_, err = h.Do(opCtx, g, Set{Key: []byte(key), Value: []byte(in.value)})
				default:
					in.op = "cas"
					in.expected = fmt.Sprintf("c%d-%d", rng.IntN(6), rng.IntN(seq+1))
					if rng.IntN(4) == 0 {
						in.expected = ""
					}
					var r Result
					r, err = h.Do(opCtx, g, CAS{Key: []byte(key), ExpectedValue: []byte(in.expected), ExpectAbsent: in.expected == "", New: []byte(in.value)})
					if err == nil {
						out.swapped = r.(CASResult).Swapped
					}
				}
				opCancel()
				ret := time.Since(start).Nanoseconds()
				mu.Lock()
				switch {
				case err == nil:
					counts["ok"]++
					history = append(history, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
				case in.op != "get" && !errors.Is(err, ErrNoQuorum) && !errors.Is(err, ErrNotMember):
					// Unknown (or a stopped group): it may apply at any
					// time after it began. The client moves on as a new
					// process, as Jepsen's do.
					counts["unknown"]++
					history = append(history, porcupine.Operation{ClientId: 1000*(seq+1) + client, Input: in, Call: call, Output: casOutput{unknown: true}, Return: math.MaxInt64})
				default:
					counts["failed"]++ // definite: nothing happened
				}
				mu.Unlock()
			}
		}()
	}
	// The nemesis: partitions of every shape, and a stopped leader.
	rng := rand.New(rand.NewPCG(99, 2))
	for ctx.Err() == nil {
		a, b, x := c.nodes[0].name, c.nodes[1].name, c.nodes[2].name
		switch rng.IntN(4) {
		case 0:
			c.faults.Partition([]string{a}, []string{b, x})
		case 1:
			c.faults.Partition([]string{x}, []string{a, b})
		case 2:
			c.faults.Heal()
			lead := c.leaderOf(c.groups[rng.IntN(len(c.groups))])
			c.stop(lead)
			time.Sleep(300 * time.Millisecond) // the nemesis's schedule
			c.start(lead)
		default:
			c.faults.Heal()
		}
		select {
		case <-ctx.Done():
		case <-time.After(400 * time.Millisecond): // the nemesis's schedule
		}
	}
	wg.Wait()
	c.faults.Heal()
	t.Logf("operations: %v", counts)
	if counts["ok"] < 100 {
		t.Fatalf("only %d operations succeeded under the faults: %v", counts["ok"], counts)
	}
	res, info := porcupine.CheckOperationsVerbose(casModel, history, time.Minute)
	if res != porcupine.Ok {
		path := t.TempDir() + "/cas.html"
		_ = porcupine.VisualizePath(casModel, info, path)
		t.Fatalf("history not linearizable (%v); visualization in %s", res, path)
	}
}
