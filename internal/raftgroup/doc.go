// Package raftgroup runs one Raft group on a node: the glue between
// go.etcd.io/raft's RawNode, Pebble and the transport, written once and used
// by the cluster metadata (group 0) and, later, by every strong partition.
//
// The pattern is etcd's: raft itself does no I/O. A single goroutine (Run)
// owns the RawNode; it ticks it, steps incoming messages, submits proposals,
// and handles each Ready in order:
//
//  1. persist the hard state, new entries and any snapshot to Pebble, synced
//     when raft says so (MustSync);
//  2. mirror them into raft's MemoryStorage, from which raft reads;
//  3. send the messages (after persisting: a vote or an append acknowledged
//     before it is durable could be forgotten in a crash);
//  4. apply committed entries to the StateMachine, conf changes to the
//     RawNode, and hand each result to the proposer waiting for it;
//  5. Advance.
//
// On start, the MemoryStorage is rebuilt from Pebble: the latest snapshot,
// the hard state and the entries after it. The state machine is in memory: it
// is restored from the snapshot, and raft replays the committed entries after
// it. Every SnapshotEvery applied entries, the group snapshots the state
// machine and drops the log before it.
//
// Proposals may be made on any member; raft forwards them to the leader. A
// proposal that is lost in a leader change is never applied; its caller's
// context ends and it may retry, so commands must tolerate being applied
// once even if proposed twice (the metadata commands are idempotent).
package raftgroup
