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
// The goroutine never waits on anyone else. Send only queues. Each waiter
// for a result has a channel that holds one; a waiter that already has its
// result, or has gone, gets nothing more, so a slow or absent reader cannot
// stall the group.
//
// The transport tells the group what it learns, through ReportUnreachable
// (a message could not be sent) and ReportSnapshot (a snapshot message was
// sent, or lost). Without the latter, a leader whose snapshot to a follower
// is lost sends that follower nothing more until leadership changes. The
// reports are queued and handed to raft by the goroutine. Sender is that
// transport for every group of a node: one queue and goroutine per peer,
// shared by the groups, each flush one request carrying every group's
// messages, and each report told to the group that sent.
//
// Many groups on a node share one Ticker, so they tick at the same moment
// and send their heartbeats together. With CoalesceHeartbeats the Sender
// lets a flush of nothing but plain heartbeats wait a moment for the
// others, and a node's idle groups then cost each peer one request per
// tick and one answer, however many groups there are (three nodes, 16
// groups, 100ms ticks: 160 requests a second for the whole cluster, from
// 670 with a timer and a request per group). Appends, votes, proposals and
// the heartbeats of a ReadIndex never wait.
//
// With Config.Quiesce an idle group stops ticking (quiesce.go): the leader
// marks its last heartbeats, followers holding its whole log stop too, and
// anything that is not such a heartbeat wakes a member. Wake rouses a
// quiesced follower whose leader is known to be down.
//
// Every SnapshotEvery applied entries, the group snapshots the state
// machine and drops the log before the last KeepEntries applied entries,
// in Pebble and in memory. A member less far behind than that catches up
// from the log, even after it or the leader restarts; only one further
// behind needs a snapshot. A snapshot received from the leader replaces
// the whole log.
//
// On start, the MemoryStorage is rebuilt from Pebble: the latest snapshot,
// the hard state and the log, which may begin before the snapshot. The
// state machine is in memory: it is restored from the snapshot, and raft
// replays the committed entries after it.
//
// An error in the ready loop stops the group for good: failing to persist,
// or a committed conf change it cannot decode (skipping it would leave this
// member with another configuration than the rest). Run logs it and returns
// it wrapped in ErrFatal, and the group's methods return it from then on.
// The process goes on; the member needs repair.
//
// Reconfigure, on the leader, takes one single-member step toward a wanted
// set of voters: a new member joins as a learner, is promoted once its log
// is within a tenth of the leader's, and only then are the voters not
// wanted removed, a leader among them handing leadership over first. Each
// step is an ordinary conf change committed through the log. Replayed
// tells when a restarted member's state machine holds again everything it
// had applied before (it starts from its last snapshot).
//
// Proposals may be made on any member; raft forwards them to the leader. A
// proposal that is lost in a leader change is never applied; its caller's
// context ends and it may retry, so commands must tolerate being applied
// once even if proposed twice (the metadata commands are idempotent).
package raftgroup
