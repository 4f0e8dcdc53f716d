// Package coordinator turns a client request on any node into quorum reads
// and writes on the key's replicas (Dynamo, DeCandia et al. 2007, sections
// 4.5 and 6; Riak's get and put FSMs).
//
// Placement: the ring (from the metadata) maps a key's hash to a partition
// and the partition to its preference list of N distinct nodes.
//
// Writes: one replica coordinates each write. The node that received the
// request coordinates if it is a replica and up; otherwise it forwards the
// request to the first replica that is up. The write builds on what a read
// at R finds, not on the coordinator's copy alone, which may have missed
// writes (ADR 0005): a write that decides on the key (NX, XX, GET,
// KEEPTTL, DEL, EXPIRE) reads R-1 other replicas first and merges them with
// its own copy under the key's lock; a plain write builds on its own copy
// and reads through its replication, waiting for max(R, W) replicas that
// each report whether they held history the new record does not cover, and
// writing again over the merge if one did. The coordinator makes the write
// a new event of its own in the key's dotted version vector set
// (superseding what the client's context covers, or, without a context,
// everything it found), stamps it, queues it for its fsync, and sends the
// resulting record to every other replica, which merge it and fsync. It
// answers once W replicas, itself included, hold the write. If fewer than
// W acknowledge, the answer is ErrUnavailable, "the write may still have
// landed on some replicas". A replica that does not take a record (down,
// cut off, slow) gets a hint, kept by package handoff and replayed later;
// in a namespace with a sloppy quorum, a fallback node keeps that hint and
// counts toward W.
//
// Reads: the node asks R replicas that are up (the next one each time one
// fails), answers once R have replied, merging their records (a DVV merge
// never loses a concurrent write), and afterwards repairs replicas whose
// copy was missing or behind (read repair), now and then including the
// replicas it did not ask. Reads and replication to a peer are batched.
//
// Siblings: a key can hold concurrent values after writes that did not see
// each other (a partition, or a failed-over coordinator). Reads return all of
// them with the key's context (GetVersions); plain GET returns one, chosen
// by replica.Pick (the latest stamp), the same on every node. A write that
// would give a key more siblings than its namespace allows is refused
// (ErrTooManySiblings); it is never silently dropped.
//
// No clock decides which write supersedes which: time is consulted for
// expiry, and, through stamps, only to choose which of several concurrent
// siblings a single-value read shows.
package coordinator
