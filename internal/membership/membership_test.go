package membership

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
)

func start(t *testing.T, id string, join ...string) *Membership {
	t.Helper()
	m, err := New(Config{
		NodeID: id, BindAddr: "127.0.0.1:0", Join: join, Fast: true,
		Meta: Meta{ClusterAddr: "c-" + id, RESPAddr: "r-" + id, HTTPAddr: "h-" + id},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

func states(m *Membership) string {
	s := ""
	for _, mb := range m.Members() {
		s += fmt.Sprintf("%s=%s ", mb.ID, mb.State)
	}
	return s
}

func TestGossipFindsAndLosesNodes(t *testing.T) {
	a := start(t, "a")
	defer a.Shutdown(time.Second)
	b := start(t, "b", a.LocalAddr())
	// c gets a list that includes its own address and a dead one.
	c := start(t, "c", "127.0.0.1:1", a.LocalAddr())
	for _, m := range []*Membership{a, b, c} {
		testutil.Eventually(t, "three alive members", func() bool { return states(m) == "a=alive b=alive c=alive " })
	}
	mb, _ := a.Member("c")
	if mb.ClusterAddr != "c-c" || mb.RESPAddr != "r-c" || mb.HTTPAddr != "h-c" {
		t.Fatalf("gossiped metadata of c: %+v", mb)
	}
	// A clean shutdown is a leave.
	if err := c.Shutdown(time.Second); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "c to have left", func() bool { mb, _ := a.Member("c"); return mb.State == Left })
	if a.Up("c") {
		t.Fatal("a left node is up")
	}
	// A node that stops answering is detected as dead.
	b.ml.Shutdown()
	close(b.stop)
	testutil.Eventually(t, "b to be dead", func() bool { mb, _ := a.Member("b"); return mb.State == Dead })
	if !a.Up("a") {
		t.Fatal("a does not see itself up")
	}
}

func TestJoinRetriesUntilAPeerAppears(t *testing.T) {
	// b is told to join an address where nobody listens yet; a joins b.
	b := start(t, "b", "127.0.0.1:1")
	defer b.Shutdown(time.Second)
	a := start(t, "a", b.LocalAddr())
	defer a.Shutdown(time.Second)
	testutil.Eventually(t, "b to see a", func() bool { return b.Up("a") })
}

// TestDeadMembersAreReconnected: after a node is declared dead and comes back
// on the same address (as after a healed partition), the others find it
// again without being told.
func TestDeadMembersAreReconnected(t *testing.T) {
	a := start(t, "a")
	defer a.Shutdown(time.Second)
	b := start(t, "b", a.LocalAddr())
	addr := b.LocalAddr()
	testutil.Eventually(t, "a to see b", func() bool { return a.Up("b") })
	// b vanishes without leaving; a declares it dead.
	b.ml.Shutdown()
	close(b.stop)
	b.wg.Wait()
	testutil.Eventually(t, "b to be dead", func() bool { mb, _ := a.Member("b"); return mb.State == Dead })
	// b comes back on the same address, joining nobody: a must reconnect.
	b2, err := New(Config{NodeID: "b", BindAddr: addr, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Shutdown(time.Second)
	testutil.Eventually(t, "a to reconnect to b", func() bool { return a.Up("b") })
}
