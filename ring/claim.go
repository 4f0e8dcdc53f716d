package ring

import (
	"fmt"
	"slices"
)

// New returns a ring of p partitions (a power of two, 1 <= p <= 16384) whose
// owners are claimed for nodes: a balanced assignment in which any n
// consecutive partitions have distinct owners whenever that is possible (see
// the package documentation for when it is). The order of nodes does not
// matter; n must be at least 1.
func New(p int, nodes []NodeID, n int) (*Ring, error) {
	sorted, err := validate(p, nodes, n)
	if err != nil {
		return nil, err
	}
	m := len(sorted)
	c := newClaim(p, m, n, nil)
	if seq := diverse(p, m, c.w, nil, nil); seq != nil && c.feasible() {
		c.load(seq)
		if c.conflicts() == 0 {
			return c.ring(sorted), nil
		}
	}
	c = newClaim(p, m, n, nil)
	c.load(layout(p, m, c.w))
	if !c.feasible() {
		// Best effort: fewer repeated owners in a window, still balanced.
		// There is no previous ring, so swaps cost no movement.
		c.repair(true)
	}
	return c.ring(sorted), nil
}

// Reclaim returns a ring for the node set nodes, changing as few owners of r
// as it can: partitions of nodes no longer in the set are reassigned, new
// nodes take partitions from the most loaded nodes, the result is balanced
// (every node owns floor(P/M) or ceil(P/M) partitions, M = len(nodes)), and
// any n consecutive partitions have distinct owners whenever that is possible.
// r is not modified. Reclaim with the nodes and n a ring was made for returns
// an equal ring.
func (r *Ring) Reclaim(nodes []NodeID, n int) (*Ring, error) {
	sorted, err := validate(r.partitions, nodes, n)
	if err != nil {
		return nil, err
	}
	index := make(map[NodeID]int, len(sorted))
	for i, id := range sorted {
		index[id] = i
	}
	orig := make([]int, r.partitions)
	for i, o := range r.owners {
		if x, ok := index[o]; ok {
			orig[i] = x
		} else {
			orig[i] = -1 // owner removed: this partition must move
		}
	}
	c := newClaim(r.partitions, len(sorted), n, orig)
	for i, x := range orig {
		if x >= 0 {
			c.assign(i, x)
		}
	}
	forced := c.rebalance()
	if !c.feasible() {
		// Best effort, without moving anything more to do it.
		c.repair(true)
		return c.ring(sorted), nil
	}
	c.reassign()
	c.repair(false)
	c.escape(4 * c.p)
	c.settle(forced)
	return c.ring(sorted), nil
}

// validate checks the arguments of New and Reclaim and returns a sorted copy
// of nodes.
func validate(p int, nodes []NodeID, n int) ([]NodeID, error) {
	if !validPartitions(p) {
		return nil, fmt.Errorf("%w, got %d", ErrPartitions, p)
	}
	if n < 1 {
		return nil, fmt.Errorf("%w, got %d", ErrReplicas, n)
	}
	if len(nodes) == 0 {
		return nil, ErrNoNodes
	}
	sorted := slices.Clone(nodes)
	slices.Sort(sorted)
	for i, id := range sorted {
		if id == "" {
			return nil, ErrEmptyNode
		}
		if i > 0 && sorted[i-1] == id {
			return nil, fmt.Errorf("%w %q", ErrDuplicateNode, id)
		}
	}
	return sorted, nil
}

// ceilDiv returns ceil(a/b) for a >= 0, b > 0.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// feasible reports whether p partitions can be owned by m nodes, balanced,
// with any w consecutive partitions owned by distinct nodes (w <= p).
//
// With m >= p every partition has its own owner. Otherwise a node owning c
// partitions needs c*w <= p (its partitions are at least w apart around the
// ring), so the most loaded, ceil(p/m), must satisfy it; layout shows that
// this is also enough.
func feasible(p, m, w int) bool {
	switch {
	case m >= p:
		return true
	case m < w:
		return false
	default:
		return ceilDiv(p, m)*w <= p
	}
}

// Substitute returns a ring in which node with owns exactly the partitions
// old owned, every other owner unchanged: a replacement moves one node's
// share and nothing else. with must not own partitions in r already (the
// window property would break) and must differ from old.
func (r *Ring) Substitute(old, with NodeID) (*Ring, error) {
	if old == with || with == "" {
		return nil, fmt.Errorf("%w: replace %q with %q", ErrSubstitute, old, with)
	}
	if slices.Contains(r.nodes, with) {
		return nil, fmt.Errorf("%w: %s owns partitions already", ErrSubstitute, with)
	}
	if !slices.Contains(r.nodes, old) {
		return nil, fmt.Errorf("%w: %s owns no partitions", ErrSubstitute, old)
	}
	owners := slices.Clone(r.owners)
	for i, o := range owners {
		if o == old {
			owners[i] = with
		}
	}
	return newRing(owners), nil
}
