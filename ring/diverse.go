package ring

import "slices"

// diverse returns a claim with the same guarantees as layout's in which the
// neighbours of every node vary around the ring, or nil when its greedy
// construction gets stuck (the caller then uses layout).
//
// Why: when a node leaves, each of its partitions must go to a node that
// owns none of the w-1 partitions on either side. In layout's stripe a node
// has the same 2(w-1) neighbours in every round, so those neighbours can
// never take its partitions directly, and if balance says they must gain
// partitions each of them costs an extra move. With neighbours that vary,
// every remaining node is a neighbour of the leaving node in only some
// rounds and takes partitions from the others. (With fewer than 2w nodes a
// partition's 2(w-1) neighbours can be all the other nodes, and no order
// helps much.)
//
// The ring is cut into R = ceil(p/m) rounds. The nodes marked small (by
// default the last R*m-p) each sit out one round, the others are in every
// round, so every node owns R or R-1 partitions: balanced. A node appears
// once per round, so a window of w partitions could repeat a node only
// across a round boundary, and the order rules that out: each round is laid
// out position by position, taking among the round's nodes not yet placed
// that are at least w partitions after their previous occurrence the one
// that has been a neighbour of the preceding w-1 nodes least often (a sum of
// squares, so that no pair gets far ahead). Ties go by a fixed hash of
// position and node, which keeps rounds from settling into a short repeating
// pattern. In the last round a node must also end at least w partitions
// before its first occurrence, counting around the ring.
//
// With prefer, the node prefer[pos] is taken at pos whenever it is allowed
// there: Reclaim uses this to rebuild a ring close to the previous one.
//
// Only the first few (8w) unplaced nodes of a round, in number order, compete
// for a position, so the cost is O(p*w*w) however many nodes there are.
func diverse(p, m, w int, small []bool, prefer []int) []int {
	if m >= p || w < 2 || m < w {
		return nil
	}
	rounds := ceilDiv(p, m)
	if small == nil {
		small = make([]bool, m)
		for x := p - (rounds-1)*m; x < m; x++ {
			small[x] = true
		}
	}
	skip := make([]int, m) // the round a node sits out, -1 for none
	k := 0
	for x := range skip {
		skip[x] = -1
		if small[x] {
			skip[x] = k % rounds
			k++
		}
	}
	window := max(8*w, 16)
	seq := make([]int, 0, p)
	first := make([]int, m) // first and latest position of each node
	last := make([]int, m)
	for x := range m {
		first[x], last[x] = -1, -1
	}
	pairs := newPairCounts(m)
	var cands []int
	pending := make([]bool, m) // still to place in this round
	var early []int            // nodes first placed before position w: they have deadlines
	var todo []int             // this round's nodes in order; placed ones stay, not pending
	for r := range rounds {
		todo = todo[:0]
		for x := range m {
			if skip[x] != r {
				todo = append(todo, x)
				pending[x] = true
			}
		}
		for head, left := 0, len(todo); left > 0; left-- {
			pos := len(seq)
			// Candidates: the first nodes still to place, every node with a
			// deadline at the end of the ring, the preferred node.
			for !pending[todo[head]] {
				head++
			}
			cands = cands[:0]
			for j := head; j < len(todo) && len(cands) < window; j++ {
				if pending[todo[j]] {
					cands = append(cands, todo[j])
				}
			}
			if r == rounds-1 {
				for _, x := range early {
					if pending[x] && !slices.Contains(cands, x) {
						cands = append(cands, x)
					}
				}
			}
			if prefer != nil {
				if x := prefer[pos]; x >= 0 && pending[x] && !slices.Contains(cands, x) {
					cands = append(cands, x)
				}
			}
			best, bestScore, bestTie := -1, 0, uint64(0)
			for _, x := range cands {
				if last[x] >= 0 && pos-last[x] < w {
					continue
				}
				if r == rounds-1 && !fitsBeforeEnd(p, w, pos, first, early, pending, x) {
					continue
				}
				score := 0
				for d := 1; d < w && pos-d >= 0; d++ {
					v := pairs.get(x, seq[pos-d])
					score += v * v
				}
				if prefer != nil && prefer[pos] == x {
					score = -1 // keep the previous owner whenever allowed
				}
				tie := mix(uint64(pos)<<32 | uint64(x))
				if best < 0 || score < bestScore || (score == bestScore && tie < bestTie) {
					best, bestScore, bestTie = x, score, tie
				}
			}
			if best < 0 {
				return nil
			}
			pending[best] = false
			for d := 1; d < w && pos-d >= 0; d++ {
				pairs.inc(best, seq[pos-d])
			}
			if first[best] < 0 {
				first[best] = pos
				if pos < w {
					early = append(early, best)
				}
			}
			last[best] = pos
			seq = append(seq, best)
		}
	}
	return seq
}

// fitsBeforeEnd reports whether, with x placed at pos, every other pending
// node can still be placed in pos+1 .. p-1 at least w before its first
// occurrence around the ring, that is by its deadline p-w+first. Only the
// early nodes, first placed before position w, have a deadline before p.
// Earliest deadline first decides it.
func fitsBeforeEnd(p, w, pos int, first, early []int, pending []bool, x int) bool {
	if first[x] >= 0 && first[x] < w && pos > p-w+first[x] {
		return false
	}
	var ds []int
	for _, y := range early {
		if y != x && pending[y] {
			ds = append(ds, p-w+first[y])
		}
	}
	slices.Sort(ds)
	for i, d := range ds {
		if d < pos+1+i {
			return false
		}
	}
	return true
}

// pairCounts counts, for each pair of nodes, how often they were placed
// less than w apart. Dense for few nodes, sparse for many.
type pairCounts struct {
	m      int
	dense  []int32
	sparse map[uint64]int
}

func newPairCounts(m int) *pairCounts {
	if m <= 1024 {
		return &pairCounts{m: m, dense: make([]int32, m*m)}
	}
	return &pairCounts{m: m, sparse: make(map[uint64]int)}
}

func (c *pairCounts) get(x, y int) int {
	if c.dense != nil {
		return int(c.dense[x*c.m+y])
	}
	return c.sparse[uint64(min(x, y))<<32|uint64(max(x, y))]
}

func (c *pairCounts) inc(x, y int) {
	if c.dense != nil {
		c.dense[x*c.m+y]++
		c.dense[y*c.m+x]++
		return
	}
	c.sparse[uint64(min(x, y))<<32|uint64(max(x, y))]++
}

// mix is a fixed integer hash (the finalizer of splitmix64), used only to
// break ties.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
