// Package antientropy keeps replicas converging without reads: each replica
// keeps a hash tree per (namespace, partition) over the records it holds,
// and pairs of replicas compare their trees on a schedule, walk only the
// ranges that differ, and send each other only the records that differ,
// which the receiver merges by causality like any replicated record
// (Dynamo, DeCandia et al. 2007, section 4.7; Riak's active anti-entropy;
// Cassandra's repair, continuous instead of an operator's chore).
//
// # Trees
//
// A partition is a range of positions (storage.Hash: the hash slot, then a
// hash of namespace and key). A tree splits it into 1024 buckets by the
// position's next ten bits; a bucket's hash is the XOR of hash(key, record)
// over its records, so it does not depend on the order records were
// written, and two replicas holding the same records in a bucket have the
// same hash. The tree's root is the hash of its buckets' hashes. With
// fan-out 1024 and two levels, an exchange of a partition in sync costs one
// hash each way; one that differs costs the 1024 bucket hashes, then, per
// differing bucket, the keys and record hashes of that bucket, then the
// records that differ.
//
// Buckets are kept up to date without a race against writes: a committed
// write marks its bucket dirty (replica.Config.Watch, called after the
// record is visible), and a dirty bucket is recomputed from storage, by a
// scan of its small range, when the tree is next needed; the mark is
// cleared before the scan, so a write that lands during it leaves the
// bucket dirty for the next time. A tree that was never computed (after a
// start, or after corruption is suspected) has every bucket dirty: that is
// the rebuild. Each round also recomputes one tree whole, in turn, so that
// a lost mark or a record changed on disk behind the tree's back is found
// within as many rounds as the node has trees.
//
// # Exchange
//
// For each partition it replicates, a node compares its tree with every
// other replica that is up: the roots first, then the 32 segment hashes,
// then the 32 bucket hashes of each segment that differs, then the keys
// and record hashes of each bucket that differs. Records it lacks or holds
// differently it pulls and merges; what the peer lacks, the peer pulls in
// its own exchanges. Pulling only, each differing record moves once into
// each replica that needs it: two replicas never both send a third the
// same records. A node started with anti-entropy off is compared with but
// repairs itself by no exchange. Merging is idempotent and commutative, so
// an exchange that races writes, or runs twice, does no harm. A budget of
// records and bytes per second, settable while running, keeps exchanges
// off the foreground path. A partition is in sync when a round compared it
// with every other replica without an error; while one replica is down,
// it is not.
//
// # Tombstone purge
//
// A delete leaves a tombstone that keeps the deleted value's causal
// history, so that a replica that missed the delete cannot bring the value
// back. Exchanges remember, per peer, each bucket's hash when they last
// found it equal. A bucket whose hash is still the one agreed with every
// other replica holds records that every replica held too. Once it has
// been agreed for a grace (at least a request's timeout and the age at
// which hints are dropped), its tombstones older than the grace are purged
// from all replicas at once, each purging only the exact record agreed on:
// no late hint, no answer read from a replica before the tombstone reached
// it, carries the value back, and replicas refuse replicated records older
// than the grace (package coordinator). A replica that is
// down, for any length of time, blocks the purge of its partitions.
// Purging on one replica alone would not last: the next exchange would
// bring the tombstone back from another.
package antientropy
