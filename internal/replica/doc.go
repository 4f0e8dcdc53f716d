// Package replica is one node's copy of the data: records in storage, their
// expiry, and the reclaiming of expired ones.
//
// A record is what the data keyspace holds under a key (see record.go for the
// encoding): a version byte, flags (tombstone), an expiry, opaque causal
// metadata and the value. On a single node the causal metadata is empty; the
// cluster's coordinator fills it with the key's dotted version vector.
//
// Store implements api.KV over one storage.Engine, which is what a single
// node serves. Reads never return an expired value, whether or not the
// reaper has reclaimed it yet: expiry is exact for readers and lazy for the
// disk. The reaper walks the expiry index (storage's 'x' keyspace) in time
// order and deletes records whose expiry has passed, checking each against
// the record itself, since an index entry outlives an overwrite.
//
// Concurrency: plain writes commit without a lock, so many writers share
// fsyncs. Read-modify-write operations (NX/XX, GET-and-set, DEL, EXPIRE) hold
// an exclusive lock on the key's stripe while they read and commit; plain
// writes hold the stripe's shared lock, so a conditional write is atomic with
// respect to every other write of the key.
package replica
