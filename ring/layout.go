package ring

// layout returns the initial claim of p partitions for m nodes numbered
// 0..m-1 (sorted order) with window w = min(n, p): element i is the owner of
// partition i.
//
// It is a stripe, 0 1 .. m-1 0 1 .. m-1 ..., made of a = p/m full rounds and
// a tail round 0 .. b-1 (b = p%m). The stripe keeps owners w apart everywhere
// except across the seam from the tail back to partition 0, when 0 < b < w:
// there the tail's nodes come back after only b partitions. Riak's claim
// calls these "tail violations".
//
// The fix lengthens the tail to exactly w nodes, 0 .. w-1, and keeps the
// balance by taking each of the borrowed nodes b .. w-1 out of one full
// round. The borrowed nodes are cut from the first rounds as contiguous
// blocks, highest block first:
//
//	round 0 skips [w-k0, w), round 1 skips [w-k0-k1, w-k0), ... down to b
//
// so that (1) the round after the tail skips none of the nodes that precede a
// kept node of the tail, and (2) adjacent rounds skip adjacent blocks, which
// shortens the distance between two occurrences of a node by at most one
// block. A round skips at most m-w nodes, so every distance stays >= w. This
// is possible exactly when w-b <= a*(m-w), which is the same condition as
// ceil(p/m)*w <= p (see feasible): when it fails, no balanced claim keeps
// every window distinct, and layout returns the plain stripe.
//
// With m >= p every partition gets its own node (nodes m..p-1 own nothing
// when m > p).
func layout(p, m, w int) []int {
	seq := make([]int, 0, p)
	if m >= p {
		for i := range p {
			seq = append(seq, i)
		}
		return seq
	}
	a, b := p/m, p%m
	short := w - b // nodes the tail borrows from the full rounds
	if b == 0 || b >= w || m < w || short > a*(m-w) {
		for i := range p {
			seq = append(seq, i%m)
		}
		return seq
	}
	rounds := min(a, short) // rounds that give up nodes
	hi := w                 // the next block to skip ends here
	for r := range a {
		lo := hi
		if r < rounds {
			k := short / rounds
			if r < short%rounds {
				k++
			}
			lo = hi - k
		}
		for x := range m {
			if x < lo || x >= hi {
				seq = append(seq, x)
			}
		}
		hi = lo
	}
	for x := range w {
		seq = append(seq, x)
	}
	return seq
}
