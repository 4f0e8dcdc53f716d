// Package ring places keys on nodes: consistent hashing with a fixed number
// of equal partitions, claimed for nodes so that the replicas of every key
// land on distinct nodes.
//
// It follows Dynamo's partitioning strategy 3 (DeCandia et al., "Dynamo:
// Amazon's Highly Available Key-value Store", SOSP 2007, section 4.2: Q
// equal-sized partitions fixed at creation, spread over the nodes, a node
// owning whole partitions) as Riak implements it (riak_core_claim and
// riak_core_ring: a ring of a power-of-two number of partitions, and a claim
// algorithm that tries to meet "target_n_val", any n consecutive partitions
// owned by distinct nodes).
//
// # Partitions
//
// A key's position is a 64-bit number whose top 14 bits are its Redis
// Cluster hash slot (Slot: CRC16 of the key, or of its hash tag, modulo
// 16384; storage fills the rest from a hash of the namespace and key). With
// P = 2^k partitions (1 <= P <= 16384), partition i covers the positions
// whose top k bits equal i: [i<<(64-k), (i+1)<<(64-k)), which is the slots
// SlotRange(i, P). Partition(h) is one shift; each partition is one
// contiguous range of slots, and of the data keyspace (storage sorts data
// keys by position); keys that share a hash tag share a partition. Range
// reports the bounds; the last partition's upper bound, 2^64, is reported as
// 0 with last set. Cluster-aware Redis clients compute slots themselves, so
// they can send each key to one of its replicas.
//
// # Owners, preference lists, fallbacks
//
// Each partition has one owner. The preference list of partition i for n
// replicas is the first n distinct owners met walking forward from i (i, i+1,
// ..., modulo P); the fallbacks are the distinct owners met after them, in
// the same walk. When the claim meets its window property (below) the
// preference list is simply the owners of i, ..., i+n-1.
//
// # What a claim guarantees
//
// New and Reclaim take the node set, P and n and return a ring that is
//
//   - balanced: every node owns floor(P/M) or ceil(P/M) partitions, M the
//     number of nodes. With M > P, P nodes own one partition each and the
//     rest own none; a ring records owners only, so those nodes do not
//     appear in it (Nodes, Encode) until a Reclaim gives them a partition.
//   - windowed: any w = min(n, P) consecutive partitions, around the ring,
//     have distinct owners, whenever that is possible at all. It is
//     possible exactly when M >= P, or M >= w and ceil(P/M)*w <= P: a node
//     owning c partitions needs them w apart, so c*w <= P. For example P=8,
//     M=3, n=3 is impossible (some node owns 3 of 8 partitions), as is any
//     M < n. Then the ring is still balanced and has as few repeated owners
//     in a window as the algorithm finds.
//   - deterministic: the result depends on P, n, the set of nodes (not the
//     order they are given in) and, for Reclaim, the previous ring. No
//     randomness, clocks or map iteration order.
//
// # The claim algorithm
//
// New lays the nodes out in sorted order as a stripe, 0 1 .. M-1 0 1 ..,
// which keeps every window distinct except across the seam from the last
// partition back to the first when 0 < P%M < w (Riak's "tail violations").
// The seam is fixed by lengthening the last, partial round to w nodes and
// taking each borrowed node out of one full round, cutting contiguous
// blocks from the highest first (see layout); this works in every case
// where the window property is possible. New then orders each round
// greedily so that every node's neighbours vary around the ring (see
// diverse), which is what makes removing a node cheap later, and keeps the
// stripe only where that greedy gets stuck.
//
// Reclaim starts from the previous owners, unassigns the partitions of
// removed nodes and sets quotas (floor or ceil of P/M, the extra partition
// going to the nodes that own most now, so that the least moves). Unassigned
// partitions go to nodes below quota that fit there without a repeated owner
// in a window; nodes still below quota (new ones) take evenly spaced
// partitions from nodes above quota; what is left is met by short chains of
// takes (node a takes from b, b takes from c, ...) found by a shortest-path
// search that counts moves. Remaining repeated owners are removed by
// reassigning through such chains, then by swapping owners of nearby
// partitions (greedily, then with a short tabu search). If that does not
// reach a ring with the window property and the property is possible,
// Reclaim builds the ring afresh, taking whichever of diverse (keeping old
// owners where it can) and layout (relabelled and rotated to agree with the
// old ring) moves less: correctness over movement. Every search is bounded
// by a count of steps, never a clock.
//
// # Movement
//
// Adding one node to M >= n nodes whose ring has the window property moves
// its share, ceil(P/(M+1)) or floor, plus at most n partitions (in the
// package's tests, at most one more than the share). Removing one node from
// M > 2n nodes moves its partitions plus at most n (in the tests, at most
// two more); so does removing one of 2n nodes, nearly always.
//
// Removing a node from M < 2n nodes can cost much more, and not because of
// the algorithm: a partition's 2(n-1) neighbours can then be all the
// remaining nodes, so no one can take it without a neighbour moving too. For
// M = 3, n = 2 no ring of 3 nodes lets every removal move only the removed
// node's partitions plus n: the two remaining nodes must alternate
// afterwards, so the removals of the third, second and first node would need
// the pairs (first, second), (first, third) and (second, third) each to sit
// on opposite parities, which three nodes cannot. Riak's claim has the same
// problem (a leave in a small cluster can need many transfers).
//
// # Departures from Riak and Dynamo
//
// Riak hashes keys with SHA-1 into 2^160 and puts a key in the partition
// named by the next partition boundary above its hash (chash:next_index);
// we use the top bits of a 64-bit hash, so partition i is [lo, hi) from its
// own boundary. Riak's claim (v2/v3) lets each
// joining node "want" partitions and falls back to a full rebalance that
// can ignore the previous ring; v4 searches for a placement with swaps. Ours
// is the procedure above, with explicit balance, the exact feasibility
// condition, a seam fix that is provably correct, varied neighbours and a
// movement-minimizing Reclaim. There is no rack or location awareness and
// no vnode handoff state: a Ring is only the owner table.
//
// # Encoding
//
// Encode and Decode give a compact, canonical binary form for the cluster's
// metadata log, led by a format version byte (1). Decode rejects anything
// that is not exactly what Encode would write, with an error, never a panic.
//
// The package is pure: no goroutines, I/O, clocks or randomness, and a Ring
// is immutable, so safe for concurrent use.
package ring
