// Package replica is one node's copy of the data: records in storage, their
// expiry, and the reclaiming of expired ones.
//
// A record is what the data keyspace holds under a key (see record.go for
// the encoding): the key's dotted version vector set, whose values are the
// siblings, each with flags (tombstone), an expiry, the stamp of the write
// that made it, and the value. Package coordinator decides what a write
// makes of a record; this package stores records, durably and in order.
//
// Reads never return an expired value, whether or not the reaper has been
// by: expiry is exact for readers and lazy for the disk. The reaper walks
// the expiry index (storage's 'x' keyspace) in time order and turns records
// whose every value has expired into tombstones with the same dots, keeping
// their causal history (a hole would let an older copy on another replica
// come back), checking each entry against the record itself, since an index
// entry outlives an overwrite.
//
// Concurrency: every write is a read-modify-write of the key's record under
// its stripe's lock (1024 stripes, by hash). The writer queues its batch
// for a synced commit and releases the lock before the fsync (early lock
// release); the queued record stays visible to the next writer of the key
// until it is in storage, and batches commit in queue order. Readers see
// only what is in storage. A record cache keeps recently written and read
// records, coherent by commit-order hooks and per-shard epochs (ADR 0003).
package replica
