package ring

import "slices"

// repairBudget bounds the swaps one repair evaluates (a second or so at
// worst), so that a large ring with many conflicts costs bounded time;
// Reclaim falls back to a fresh layout if conflicts remain. A count, not a
// clock, so results stay deterministic.
const repairBudget = 1 << 23

// repair removes conflicts by swapping the owners of two partitions, which
// keeps every node's count. It visits the partitions in conflict in order
// and swaps each with the partner, at most reach partitions away, that
// removes the most conflicts, moving the fewest partitions away from their
// original owners and then lying nearest; it repeats until a pass changes
// nothing. With free set it takes only swaps that move nothing more (used
// when conflicts cannot all go, so that best effort costs no transfers).
// Partners are looked for nearby because that is where a swap helps most and
// it keeps a pass linear in P.
func (c *claim) repair(free bool) {
	if c.w < 2 || c.m < c.w {
		return // no claim without conflicts exists, and a stripe is as good as any
	}
	reach := min(c.p/2, 4*c.m*c.w)
	budget := repairBudget
	for changed := true; changed; {
		changed = false
		for i := range c.owner {
			if c.involving(i) == 0 {
				continue
			}
			bj, bc, bm := -1, 0, 0
			for d := 1; d <= reach; d++ {
				for _, j := range [2]int{(i + d) % c.p, (i - d + c.p) % c.p} {
					if c.owner[j] == c.owner[i] {
						continue
					}
					if budget--; budget < 0 {
						return
					}
					dc, dm := c.swapDeltas(i, j)
					if dc >= 0 || (free && dm > 0) {
						continue
					}
					if bj < 0 || dc < bc || (dc == bc && dm < bm) {
						bj, bc, bm = j, dc, dm
					}
				}
			}
			if bj >= 0 {
				c.swap(i, bj)
				changed = true
			}
		}
	}
}

// escapeBudget bounds the swaps escape evaluates: 256 per partition, at most
// 2^22 in all (well under a second). Beyond that the returns are small. A
// count, not a clock, so results stay deterministic.
func escapeBudget(p int) int { return min(256*p, 1<<22) }

// escape continues repair past local optima: a tabu search over the same
// swaps, which takes the best swap even when it removes no conflict, as long
// as neither partition was swapped in the last few steps (unless the swap
// reaches a new best). It keeps the best table seen, fewest conflicts then
// fewest moves, and stops at zero conflicts, after steps steps or when it
// has evaluated escapeBudget swaps.
func (c *claim) escape(steps int) {
	if c.w < 2 || c.m < c.w {
		return
	}
	budget := escapeBudget(c.p)
	reach := min(c.p/2, 4*c.m*c.w)
	tenure := c.w + 2
	until := make([]int, c.p) // a partition is tabu until this step
	conf, mv := c.conflicts(), c.moves()
	bestConf, bestMv := conf, mv
	best := slices.Clone(c.owner)
	for step := 1; step <= steps && conf > 0; step++ {
		bi, bj, bc, bm := -1, -1, 0, 0
		budget -= c.p / 16 // the scan for partitions in conflict
		for i := range c.owner {
			if c.involving(i) == 0 {
				continue
			}
			for d := 1; d <= reach; d++ {
				for _, j := range [2]int{(i + d) % c.p, (i - d + c.p) % c.p} {
					if c.owner[j] == c.owner[i] {
						continue
					}
					if budget--; budget < 0 {
						copy(c.owner, best)
						return
					}
					dc, dm := c.swapDeltas(i, j)
					aspire := conf+dc < bestConf || (conf+dc == bestConf && mv+dm < bestMv)
					if (until[i] >= step || until[j] >= step) && !aspire {
						continue
					}
					if bi < 0 || dc < bc || (dc == bc && dm < bm) {
						bi, bj, bc, bm = i, j, dc, dm
					}
				}
			}
		}
		if bi < 0 {
			break
		}
		c.swap(bi, bj)
		conf, mv = conf+bc, mv+bm
		until[bi], until[bj] = step+tenure, step+tenure
		if conf < bestConf || (conf == bestConf && mv < bestMv) {
			bestConf, bestMv = conf, mv
			copy(best, c.owner)
		}
	}
	copy(c.owner, best)
}
