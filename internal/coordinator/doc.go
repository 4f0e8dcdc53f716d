// Package coordinator turns a client request on any node into quorum reads
// and writes on the key's replicas (Dynamo, DeCandia et al. 2007, sections
// 4.5 and 6; Riak's get and put FSMs).
//
// Placement: the ring (from the metadata) maps a key's hash to a partition
// and the partition to its preference list of N distinct nodes.
//
// Writes: one replica coordinates each write. The node that received the
// request coordinates if it is a replica and up; otherwise it forwards the
// request to the first replica that is up. The coordinating replica, under
// the key's lock, reads its record, checks the condition (NX, XX), makes the
// write a new event of its own in the key's dotted version vector set
// (superseding what the client's context covers, or, without a context,
// everything the replica holds), and fsyncs it. It then sends the resulting
// record to the other replicas, which merge it into theirs and fsync, and
// answers once W replicas, itself included, hold the write. If fewer than W
// acknowledge, the answer is ErrUnavailable, "the write may still have
// landed on some replicas": it is on the coordinator at least, and on any
// replica whose answer was lost.
//
// Reads: the node asks every replica that is up, answers once R have
// replied, merging their records (a DVV merge never loses a concurrent
// write), and afterwards repairs replicas whose copy was missing or behind
// (read repair).
//
// Siblings: a key can hold concurrent values after writes that did not see
// each other (a partition, or a failed-over coordinator). Reads return all of
// them with the key's context (GetVersions); plain GET returns one, chosen by
// replica.Pick, the same on every node. A write that would give a key more
// siblings than its namespace allows is refused (ErrTooManySiblings); it is
// never silently dropped.
//
// No clock decides between writes: time is consulted only for expiry.
package coordinator
