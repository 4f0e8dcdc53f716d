package ring

import (
	"container/heap"
	"slices"
)

// rebalance brings every node to its quota, moving as few partitions as it
// can and creating no conflict where it can avoid one. On entry the owner
// table is the previous ring with the partitions of removed nodes
// unassigned. In order:
//
//   - fillFree hands the unassigned partitions to nodes below quota that fit
//     there without a conflict;
//   - spread lets each node still below quota take partitions from nodes
//     above quota, evenly spaced (this is how a new node gets its share);
//   - augment finds chains of takes for the needs left over, each costing
//     an extra move or so;
//   - force meets whatever is still left, with as few conflicts as it can.
//
// It returns the number of partitions that must move whatever the claim:
// the unassigned ones plus the excess of nodes above quota.
func (c *claim) rebalance() (forced int) {
	c.setQuotas()
	for _, o := range c.owner {
		if o < 0 {
			forced++
		}
	}
	for x := range c.m {
		forced += max(0, -c.need(x))
	}
	c.fillFree()
	for _, x := range c.byNeed() {
		c.spread(x)
	}
	for c.augment() {
	}
	c.force()
	return forced
}

// setQuotas gives each node floor(P/M) partitions and the P%M nodes that own
// the most now one more, so that as few partitions as possible move. Among
// nodes that own equally many, it prefers those that can take more of the
// unassigned partitions without a conflict, then the lower number.
func (c *claim) setQuotas() {
	base, extra := c.p/c.m, c.p%c.m
	fits := make([]int, c.m)
	for i, o := range c.owner {
		if o >= 0 {
			continue
		}
		for x := range c.m {
			if c.compatible(x, i) {
				fits[x]++
			}
		}
	}
	order := make([]int, c.m)
	for x := range order {
		order[x] = x
	}
	slices.SortStableFunc(order, func(x, y int) int {
		if c.count[x] != c.count[y] {
			return c.count[y] - c.count[x]
		}
		return fits[y] - fits[x]
	})
	for rank, x := range order {
		c.quota[x] = base
		if rank < extra {
			c.quota[x]++
		}
	}
}

// byNeed returns the nodes below their quota, the neediest first.
func (c *claim) byNeed() []int {
	var xs []int
	for x := range c.m {
		if c.need(x) > 0 {
			xs = append(xs, x)
		}
	}
	slices.SortStableFunc(xs, func(x, y int) int { return c.need(y) - c.need(x) })
	return xs
}

// fillFree gives each unassigned partition to a node below its quota that can
// own it without a conflict: the neediest such node, then the lowest number.
// The partitions with the fewest candidates go first.
func (c *claim) fillFree() {
	var free []int
	cands := make([]int, c.p) // nodes that could take each partition
	for i, o := range c.owner {
		if o >= 0 {
			continue
		}
		free = append(free, i)
		for x := range c.m {
			if c.need(x) > 0 && c.compatible(x, i) {
				cands[i]++
			}
		}
	}
	slices.SortStableFunc(free, func(i, j int) int { return cands[i] - cands[j] })
	for _, i := range free {
		best := -1
		for x := range c.m {
			if c.need(x) > 0 && c.compatible(x, i) && (best < 0 || c.need(x) > c.need(best)) {
				best = x
			}
		}
		if best >= 0 {
			c.assign(i, best)
		}
	}
}

// spare reports whether partition i can be taken from its owner without
// leaving the owner below its quota: it is unassigned or its owner is above
// quota.
func (c *claim) spare(i int) bool {
	o := c.owner[i]
	return o < 0 || c.need(o) < 0
}

// spread lets node x, below its quota, take spare partitions. It first takes
// spare partitions that are in a conflict (taking them removes it), then
// spaces the rest evenly: each stretch between two partitions of x gets a
// share of the picks in proportion to its length, and each pick goes to the
// spare partition nearest its ideal position that x can own without a
// conflict. A brand-new node thereby ends up evenly spread around the ring.
func (c *claim) spread(x int) {
	for i := range c.owner {
		if c.need(x) == 0 {
			return
		}
		if c.spare(i) && c.owner[i] != x && c.involving(i) > 0 && c.compatible(x, i) {
			c.assign(i, x)
		}
	}
	k := c.need(x)
	if k <= 0 {
		return
	}
	var targets []int
	occ := c.positions(x)
	if len(occ) == 0 {
		// One stretch, the whole ring, from the first spare partition.
		s := max(0, slices.IndexFunc(c.owner, func(o int) bool { return o < 0 || c.need(o) < 0 }))
		for j := range k {
			targets = append(targets, s+j*c.p/k)
		}
	} else {
		for _, g := range c.apportion(occ, k) {
			for j := 1; j <= g.picks; j++ {
				targets = append(targets, g.start+(j*g.length+(g.picks+1)/2)/(g.picks+1))
			}
		}
	}
	reach := max(ceilDiv(c.p, c.quota[x]), 2*c.w) // about the spacing between picks
	for _, t := range targets {
		c.placeNear(x, t, reach)
	}
}

// positions returns the partitions x owns, in increasing order.
func (c *claim) positions(x int) []int {
	var occ []int
	for i, o := range c.owner {
		if o == x {
			occ = append(occ, i)
		}
	}
	return occ
}

// apportion divides k picks among the stretches between consecutive
// partitions in occ (sorted, non-empty), one at a time to the stretch whose
// parts would be longest (D'Hondt's method), so that the stretches end up as
// even as possible.
func (c *claim) apportion(occ []int, k int) []gap {
	gs := make(gaps, len(occ))
	for j, i := range occ {
		gs[j] = gap{start: i, length: c.forward(i, occ[(j+1)%len(occ)])}
		if len(occ) == 1 {
			gs[j].length = c.p
		}
	}
	heap.Init(&gs)
	for range k {
		gs[0].picks++
		heap.Fix(&gs, 0)
	}
	slices.SortFunc(gs, func(a, b gap) int { return a.start - b.start })
	return gs
}

// placeNear gives x the spare partition nearest t (mod P), at most reach
// away, that x can own without a conflict, if there is one; ties go to the
// later partition.
func (c *claim) placeNear(x, t, reach int) {
	for d := 0; d <= min(reach, c.p/2); d++ {
		for _, i := range [2]int{t + d, t - d} {
			i = ((i % c.p) + c.p) % c.p
			if c.spare(i) && c.owner[i] != x && c.compatible(x, i) {
				c.assign(i, x)
				return
			}
		}
	}
}

// gap is a stretch of the ring between two partitions of one node: start is
// the first, start+length (mod P) the next; picks is how many partitions the
// node is to take inside it.
type gap struct{ start, length, picks int }

// gaps is a max-heap of gaps by the length of their parts once their picks
// are placed, length/(picks+1), then by lowest start.
type gaps []gap

func (h gaps) Len() int { return len(h) }
func (h gaps) Less(i, j int) bool {
	// length_i/(picks_i+1) > length_j/(picks_j+1), without division.
	a := h[i].length * (h[j].picks + 1)
	b := h[j].length * (h[i].picks + 1)
	if a != b {
		return a > b
	}
	return h[i].start < h[j].start
}
func (h gaps) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *gaps) Push(v any)   { *h = append(*h, v.(gap)) }
func (h *gaps) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// augment finds the cheapest chain of takes that gives one more partition to
// a node below its quota without creating a conflict, and applies it; it
// reports whether it found one. A chain is: x0 takes a partition of x1, x1
// takes one of x2, ..., and the last node takes a spare partition, so only x0
// and the spare partition's owner change counts. The search is Dijkstra's
// over nodes, a take costing 1 when it moves a partition away from its
// original owner and 0 when the partition had moved already; ties go to
// fewer takes, then lower numbers. Compatibility is judged on the current
// table: every node in a chain takes one partition and gives at most one, so
// the chain creates no conflict.
func (c *claim) augment() bool {
	const inf = 1 << 30
	type label struct {
		cost, hops int
		from, part int // the chain continues: from takes part (from this node)
		done       bool
	}
	ls := make([]label, c.m)
	for z := range ls {
		ls[z] = label{cost: inf, from: -1}
		if c.need(z) > 0 {
			ls[z].cost = 0
		}
	}
	better := func(a, b label) bool {
		return a.cost < b.cost || (a.cost == b.cost && a.hops < b.hops)
	}
	endNode, endPart, end := -1, -1, label{cost: inf}
	for c.budget > 0 {
		x := -1 // settle the cheapest node not yet done
		for z := range ls {
			if !ls[z].done && ls[z].cost < inf && (x < 0 || better(ls[z], ls[x])) {
				x = z
			}
		}
		if x < 0 || !better(ls[x], end) {
			break
		}
		ls[x].done = true
		c.budget -= c.p
		for i, o := range c.owner {
			if o == x || !c.compatible(x, i) {
				continue
			}
			l := label{cost: ls[x].cost + b2i(!c.moved(i) && x != c.orig[i]), hops: ls[x].hops + 1, from: x, part: i}
			if c.spare(i) {
				if better(l, end) {
					endNode, endPart, end = x, i, l
				}
			} else if !ls[o].done && better(l, ls[o]) {
				ls[o] = l
			}
		}
	}
	if endNode < 0 {
		return false
	}
	// Apply from the spare end back to the needy node.
	for x, i := endNode, endPart; ; {
		c.assign(i, x)
		if ls[x].from < 0 {
			return true
		}
		x, i = ls[x].from, ls[x].part
	}
}

// reassign removes conflicts one partition at a time: it takes a partition
// in a conflict away from its owner and lets augment find a conflict-free
// chain that gives the owner another partition and ends by filling this one.
// Every success removes at least one conflict and adds none.
func (c *claim) reassign() {
	for progress := true; progress; {
		progress = false
		for i, x := range c.owner {
			if c.involving(i) == 0 {
				continue
			}
			c.assign(i, -1)
			if c.augment() {
				progress = true
				continue
			}
			c.assign(i, x)
		}
	}
}

// force completes the quotas when no conflict-free choice is left: each
// remaining unassigned partition, and then each remaining need, goes where it
// adds the fewest conflicts. Repair then works on what this leaves.
func (c *claim) force() {
	for i, o := range c.owner {
		if o >= 0 {
			continue
		}
		best, bestK := -1, 0
		for x := range c.m {
			if c.need(x) <= 0 {
				continue
			}
			if k := c.takeDelta(x, i); best < 0 || k < bestK || (k == bestK && c.need(x) > c.need(best)) {
				best, bestK = x, k
			}
		}
		c.assign(i, best)
	}
	for _, x := range c.byNeed() {
		// Rank the partitions of nodes above quota by the conflicts x would
		// add there, then take them in that order, re-ranking a partition
		// whose count got worse through an earlier take.
		type cand struct{ i, k int }
		var cs []cand
		for i, o := range c.owner {
			if o != x && c.need(o) < 0 {
				cs = append(cs, cand{i, c.takeDelta(x, i)})
			}
		}
		for c.need(x) > 0 && len(cs) > 0 {
			slices.SortStableFunc(cs, func(a, b cand) int { return a.k - b.k })
			var later []cand
			for _, cd := range cs {
				switch {
				case c.need(x) == 0:
				case c.owner[cd.i] == x || c.need(c.owner[cd.i]) >= 0:
					continue // taken, or its owner is down to quota
				case c.takeDelta(x, cd.i) > cd.k:
					cd.k = c.takeDelta(x, cd.i)
				default:
					c.assign(cd.i, x)
					continue
				}
				later = append(later, cd)
			}
			cs = later
		}
	}
}

// takeDelta is the change in conflicts if x took partition i.
func (c *claim) takeDelta(x, i int) int {
	o := c.owner[i]
	k := c.involving(i)
	c.owner[i] = x
	k = c.involving(i) - k
	c.owner[i] = o
	return k
}

// settle makes sure the claim has no conflicts and looks for a cheaper one
// when repair moved more than the partitions that had to move (forced).
// The alternatives are whole-ring claims with no conflicts: diverse's greedy
// keeping each partition's original owner wherever it can, and layout with
// node orders and rotations taken from the original ring. The valid claim
// with the fewest moves wins, the repaired one on a tie. Layout always has
// no conflicts when feasible holds, so settle always ends with none:
// correctness over movement.
func (c *claim) settle(forced int) {
	if c.conflicts() == 0 && c.moves() <= forced {
		return
	}
	var best []int
	bestMoves := 0
	consider := func(owner []int) {
		if owner == nil {
			return
		}
		k := 0
		for i, x := range owner {
			if x != c.orig[i] {
				k++
			}
		}
		if best == nil || k < bestMoves {
			best, bestMoves = owner, k
		}
	}
	if c.conflicts() == 0 {
		consider(slices.Clone(c.owner))
	}
	small := make([]bool, c.m)
	for x := range small {
		small[x] = c.quota[x] < ceilDiv(c.p, c.m)
	}
	if seq := diverse(c.p, c.m, c.w, small, c.orig); seq != nil {
		d := newClaim(c.p, c.m, c.w, nil)
		d.load(seq)
		if d.conflicts() == 0 {
			consider(seq)
		}
	}
	seq := layout(c.p, c.m, c.w)
	for s := range min(c.p, 4*c.m+4*c.w, 64) {
		order := c.orderFrom(s)
		rotated := make([]int, c.p)
		for i, x := range seq {
			rotated[(i+s)%c.p] = order[x]
		}
		consider(rotated)
	}
	for i, x := range best {
		c.assign(i, x)
	}
}

// orderFrom lists the nodes in the order the original ring meets them walking
// forward from partition s, then the nodes it does not have.
func (c *claim) orderFrom(s int) []int {
	seen := make([]bool, c.m)
	order := make([]int, 0, c.m)
	for k := range c.p {
		if x := c.orig[(s+k)%c.p]; x >= 0 && !seen[x] {
			seen[x] = true
			order = append(order, x)
		}
	}
	for x := range c.m {
		if !seen[x] {
			order = append(order, x)
		}
	}
	return order
}
