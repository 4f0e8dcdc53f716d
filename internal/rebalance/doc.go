// Package rebalance moves partitions to their new owners when the ring
// changes: a node joins, leaves, or replaces another (pando cluster join,
// leave, replace, then commit).
//
// # How a move keeps every acknowledged write
//
// A commit (package metadata) fixes the next ring while the current one
// keeps serving reads. From the moment a node applies the commit, writes
// it coordinates reach the key's replicas in both rings and need one more
// acknowledgement for each replica the next ring adds (as Cassandra counts
// pending endpoints): with W of the current replicas and W of the next
// ones holding every write from then on, a read at R from either ring
// overlaps it whenever R + W > N.
//
// What was written before has to be copied. Each node, once it has
// applied the commit and waited out the writes it placed with the current
// ring alone (a request's timeout: each has finished or failed by then),
// reports itself ready through the metadata log. When every member that
// gossip shows up is ready, each node that gains a partition pulls it from
// the partition's current replicas that are up, at least a majority of
// them, so that every write acknowledged by a quorum of the current ring
// reaches it. A pull is an anti-entropy exchange (package antientropy)
// from an empty or partial tree: hash trees find what differs, and only
// the records missing or different are sent. That is also what makes a
// transfer resumable: after an interruption (the receiving node killed,
// say), the next attempt compares trees again, and the key ranges already
// copied compare equal and are never sent again. Each node reports each
// partition it has pulled through the metadata log; the last report
// switches the ring, on every node at the same log index.
//
// While a move is under way, no tombstone of a moving partition is purged
// (a node receiving the partition may lack it), and the throttle, bytes
// per second per receiving node, is kept in the metadata and can change
// while transfers run (pando cluster throttle).
//
// # Stale copies
//
// A node may still hold records of a partition it gains from an earlier
// time it replicated it (nodes keep their old copies). Such a copy is
// dangerous: the replicas may since have purged the tombstone of a key the
// copy still holds a value of, and the value would come back. So before a
// node reports itself ready it deletes its records of every partition it
// gains (replica.Store.PurgeRange), and acts only once its metadata has
// replayed everything it knew before a restart, never on the snapshot it
// starts from. What the deletion takes besides stale records are writes of
// this move sent to it early, each also held by W current replicas, from
// which the copies start only once every member is ready.
//
// # Strong namespaces
//
// Strong partitions are not copied: each belongs to a Raft group, which
// changes members through Raft. The group's leader (package server's
// reconciler, raftgroup.Group.Reconfigure) adds each node the next ring
// gives the partition as a learner, promotes it once caught up, and then
// removes the replicas the next ring drops. A node that gains a strong
// partition reports it moved only once its own member sees exactly the
// next ring's replicas as voters (Runner.joining): when the ring switches,
// the nodes that left are out of the group and may delete their members.
package rebalance
