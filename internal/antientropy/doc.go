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
// the rebuild, and the only full scan of a partition.
//
// # Exchange
//
// For each partition it replicates, a node compares its tree with every
// other replica that is up, the node with the smaller id of a pair
// starting. Records it lacks or holds older it pulls and merges; records
// the peer lacks or holds older it pushes, which the peer merges. Merging
// is idempotent and commutative, so an exchange that races writes, or runs
// twice, does no harm. A budget of records and bytes per second, settable
// while running, keeps exchanges off the foreground path.
package antientropy
