// Package handoff keeps hints: records that a replica missed because it was
// down, cut off or too slow to answer, stored durably on a node that is up
// and replayed to the replica once gossip sees it again. It is hinted
// handoff as in Dynamo (DeCandia et al., SOSP 2007, section 4.6) and
// Cassandra.
//
// A hint is a record, not an operation: a key's whole DVV set as the
// coordinator wrote it. Merging a record is idempotent, commutative and
// associative, so a hint may be replayed twice, after a newer write of the
// key, or after read repair has delivered it already: the replica ends in
// the same state. Replay is therefore at least once, without coordination.
//
// A hint is a repair path, not a replica. It does not count toward a
// write's W unless the namespace asks for a sloppy quorum, where the hint
// is kept by a fallback node outside the key's preference list (package
// coordinator decides; this package only stores and replays).
//
// Invariants and bounds:
//   - Add returns only once the hints are fsync'd: a hint that counts toward
//     W is as durable as a replica's copy.
//   - At most MaxBytes of hints are kept. Hints that do not fit are refused
//     with ErrFull and counted (pando_hints_refused_total); they are never
//     dropped silently after being accepted.
//   - Hints older than MaxAge when their replica comes back are deleted at
//     replay, counted (pando_hints_expired_total) and logged: past that age
//     read repair and anti-entropy are the cheaper repair.
//   - A hint is deleted only after its replica confirmed the whole batch it
//     was sent in, so a crash at any step loses none (it is replayed again).
//
// Layout: storage's 'h' keyspace, keyed by target node, creation time and a
// sequence number, so each target's hints replay oldest first. Open counts
// what a previous run left, which bounds its start-up cost by MaxBytes.
package handoff
