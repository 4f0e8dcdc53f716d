// Package storage is a Pando node's disk: one Pebble database per node,
// divided into keyspaces by the first byte of every key.
//
//	'm' meta      node-local facts: the on-disk format version, the node id
//	'd' data      records: 'd' | len(ns) | ns | position (8 bytes, big endian) | key,
//	              the position being the key's hash slot in the top 14 bits and a
//	              hash of namespace and key below (Hash)
//	'x' expiry    an index of records with a time to live:
//	              'x' | expire-at (unix ms, 8 bytes, big endian) | the record's data key
//	'r' raft      Raft groups' logs, hard states and snapshots:
//	              'r' | group (8 bytes) | 'e' | index (8 bytes), 'h', 's'
//	'h' hints     records another node missed, kept for it (package handoff):
//	              'h' | len(node) | node | created (unix ms, 8 bytes) | seq (8 bytes)
//
// Later keyspaces (Merkle summaries) take further letters.
//
// Data keys sort by namespace, then by position. The ring assigns partitions
// as contiguous ranges of positions (of hash slots), so every
// partition of a namespace is one contiguous range of the data keyspace: a
// Merkle tree build, a hand-off or a SCAN cursor is a range scan. A SCAN cursor
// is a position in hash space, which is why it fits in the integer that Redis
// clients expect.
//
// Durability: Commit with sync returns only once the batch is in the
// write-ahead log and the log is fsync'd. Concurrent committers share one
// fsync (Pebble's commit pipeline is a group commit), so throughput grows with
// the number of writers while each acknowledgement stays durable. Pebble makes
// a batch visible to readers as soon as it is in the memtable, slightly before
// its fsync completes; a writer is acknowledged only after.
//
// Disk health (health.go): WriteRefusal says whether data writes are taken
// now. A guard refuses them while the data directory's file system has less
// free space than Config.MinFreeBytes, or the database reaches MaxDiskBytes,
// and a flush or compaction that fails with ENOSPC refuses them until one
// succeeds; each change of state is logged once. Commit itself refuses
// nothing: the Raft logs and hints write into the room the guard keeps.
//
// A failed log (failure.go): when the write-ahead log cannot be written or
// fsync'd, the write is answered with the failure, the engine refuses every
// later write and read, and Failed is closed: the node reopens the engine,
// which replays the log as far as it was synced.
//
// Format: the meta key "format" holds the on-disk format version this package
// wrote. Open refuses a directory written by a newer format with
// ErrFormatTooNew, and one of format 1 (positions by another hash, before
// hash slots) with ErrFormatTooOld, instead of misreading either.
package storage
