package ring

// claim is the working state of New and Reclaim: an owner table under
// construction over nodes numbered 0..m-1 (their sorted order), with the
// table it started from so that it can count moves.
type claim struct {
	p, m  int
	w     int   // window: min(n, p) consecutive partitions should have distinct owners
	orig  []int // owner before the change, -1 if none (new claim, or owner removed)
	owner []int // current owner, -1 while unassigned
	count []int // partitions per node
	quota []int // partitions each node must end with

	// budget bounds the partitions augment may scan in all, so that a claim
	// with many needs no chain can meet (a tight or infeasible one) costs
	// bounded time; force takes over when it runs out. A count, not a
	// clock, so results stay deterministic.
	budget int
}

// augmentBudget is the initial claim.budget: 2^24 partition scans.
const augmentBudget = 1 << 24

func newClaim(p, m, n int, orig []int) *claim {
	if orig == nil {
		orig = make([]int, p)
		for i := range orig {
			orig[i] = -1
		}
	}
	owner := make([]int, p)
	for i := range owner {
		owner[i] = -1
	}
	return &claim{
		p: p, m: m, w: min(n, p),
		orig:   orig,
		owner:  owner,
		count:  make([]int, m),
		quota:  make([]int, m),
		budget: augmentBudget,
	}
}

// ring converts the owner table to a Ring; names maps node numbers to ids.
func (c *claim) ring(names []NodeID) *Ring {
	owners := make([]NodeID, c.p)
	for i, x := range c.owner {
		owners[i] = names[x]
	}
	return newRing(owners)
}

func (c *claim) feasible() bool { return feasible(c.p, c.m, c.w) }

// at returns the owner of partition i, i taken modulo p (a power of two, so
// a mask does it, for negative i too).
func (c *claim) at(i int) int { return c.owner[i&(c.p-1)] }

// assign makes x (-1: nobody) the owner of partition i.
func (c *claim) assign(i, x int) {
	if o := c.owner[i]; o >= 0 {
		c.count[o]--
	}
	c.owner[i] = x
	if x >= 0 {
		c.count[x]++
	}
}

// load assigns partition i to seq[i] for every i.
func (c *claim) load(seq []int) {
	for i, x := range seq {
		c.assign(i, x)
	}
}

// need is how many partitions node x still has to gain (negative: to give).
func (c *claim) need(x int) int { return c.quota[x] - c.count[x] }

// compatible reports whether x can own partition i without owning another
// partition less than w away from it.
func (c *claim) compatible(x, i int) bool {
	for d := 1; d < c.w; d++ {
		if c.at(i+d) == x || c.at(i-d) == x {
			return false
		}
	}
	return true
}

// involving counts the conflicts that involve partition i: pairs (i, i+d)
// and (i-d, i), 0 < d < w, with the same owner. The total over the ring is
// conflicts.
func (c *claim) involving(i int) int {
	x := c.owner[i]
	if x < 0 {
		return 0
	}
	k := 0
	for d := 1; d < c.w; d++ {
		if c.at(i+d) == x {
			k++
		}
		if c.at(i-d) == x {
			k++
		}
	}
	return k
}

// conflicts counts the ordered pairs (i, i+d), 0 < d < w, whose partitions
// have the same owner. It is zero exactly when every window of w partitions
// has distinct owners.
func (c *claim) conflicts() int {
	k := 0
	for i, x := range c.owner {
		if x < 0 {
			continue
		}
		for d := 1; d < c.w; d++ {
			if c.at(i+d) == x {
				k++
			}
		}
	}
	return k
}

// moved reports whether partition i's owner differs from the original one.
func (c *claim) moved(i int) bool { return c.owner[i] != c.orig[i] }

// moves counts the partitions whose owner changed.
func (c *claim) moves() int {
	k := 0
	for i := range c.owner {
		if c.moved(i) {
			k++
		}
	}
	return k
}

// forward is the distance walking forward from partition i to partition j.
func (c *claim) forward(i, j int) int { return ((j-i)%c.p + c.p) % c.p }

// pairConflicts counts the conflicts that involve partition i or j.
func (c *claim) pairConflicts(i, j int) int {
	k := c.involving(i) + c.involving(j)
	if c.owner[i] >= 0 && c.owner[i] == c.owner[j] {
		// Pairs between i and j were counted from both sides.
		if c.forward(i, j) < c.w {
			k--
		}
		if c.forward(j, i) < c.w {
			k--
		}
	}
	return k
}

// swap exchanges the owners of partitions i and j; counts do not change.
func (c *claim) swap(i, j int) { c.owner[i], c.owner[j] = c.owner[j], c.owner[i] }

// swapDeltas returns how a swap of i and j would change conflicts and moves.
func (c *claim) swapDeltas(i, j int) (dc, dm int) {
	before := c.pairConflicts(i, j)
	mb := b2i(c.moved(i)) + b2i(c.moved(j))
	c.swap(i, j)
	dc = c.pairConflicts(i, j) - before
	dm = b2i(c.moved(i)) + b2i(c.moved(j)) - mb
	c.swap(i, j)
	return dc, dm
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
