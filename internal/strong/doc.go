// Package strong is the strong partitions of a node: the state machine of
// one partition, the key-value store that the partition's Raft group
// (package raftgroup) replicates, and the Host that runs this node's
// members of those groups. Every member applies the same commands in the
// same order to its own Machine, in the node's Pebble database, and so
// holds the same keys.
//
// # Host
//
// A Host runs one raftgroup.Group per strong partition this node
// replicates (GroupID: the namespace's id and the partition), all sharing
// the node's Pebble database and one raftgroup.Sender. Do proposes a
// command on this node's member, leader or follower (raft forwards it),
// and returns the result once this member has applied it. Get reads
// through Raft's ReadIndex: the leader confirms with a majority that it
// still leads, and this member waits until it has applied as far, so no
// deposed leader or lagging follower answers from stale state. Outcomes are
// exact: a Result or a refusal; ErrNoQuorum when the group has no leader
// this member can reach (nothing written); ErrUnknown when a proposal got
// no answer in time (it may have been applied, and may yet be).
//
// A group's members change with the ring (scale-out): Open with no voters
// starts an empty member that waits for the leader to add it, and
// Reconfigure steps the group toward the wanted voters on the member that
// leads it (raftgroup.Group.Reconfigure); Prefer moves the preferred leader
// to the partition's new first replica.
//
// Idle groups quiesce (raftgroup's Config.Quiesce) and cost nothing;
// with HostConfig.LeaderDown, the Host wakes every half second the
// quiesced groups whose leader's node is down, so that they elect another.
//
// Serve runs a request forwarded by a node that holds no member of the
// group, and puts its outcome in a status on the wire; ResponseError turns
// it back into the same error on the forwarding node. An error the host
// does not name is sent as "unknown" for a command, so a forwarded command
// is never reported as not done when it might have been.
//
// # Commands
//
// A command is Set (with NX, XX and GET), Del, IncrBy (with an optional
// floor), Get, CAS (by value or by version, replacing or deleting) or Txn
// (conditions on versions, then Set, Del, IncrBy and Get ops: Redis's
// WATCH/MULTI/EXEC). A Get inside a Txn reads the key as the ops before it
// left it, as a GET queued after a SET in one MULTI does. Commands and
// their results have a compact binary encoding: a format version byte, a
// kind byte, then the fields as varints and length-prefixed byte strings. Each has exactly one encoding; decoding
// refuses anything else, trailing bytes included, and never panics.
//
// Apply is deterministic: its result and its writes depend only on the
// stored keys, the command and its index. Outcomes are results (a Set NX
// that found the key, a CAS that did not match, a Txn whose condition
// failed: Aborted). Refusals are errors: ErrNotInteger and ErrOverflow
// (Redis's INCRBY errors, with Redis's texts), ErrBelowFloor, and
// ErrBadCommand for bytes that do not decode, which every member refuses
// alike. A refused command changes no key but still moves the applied index.
//
// Inside a Txn, an op refused with ErrNotInteger or ErrOverflow reports
// its error in its OpResult and the other ops still run, as Redis's EXEC
// does. ErrBelowFloor departs from that: it refuses the whole Txn and no op
// takes effect, so that a transfer debiting one account and crediting
// another is all or nothing. Ops see the effects of the ops before them.
//
// # Versions
//
// A key's version is the Raft index of the command that last wrote it
// (etcd's mod_revision). Indexes start at 1, so version 0 means absent in
// CAS and Txn conditions. A deleted key has no record at all.
//
// # Storage
//
// Keys of group g live under 's' | g (8 bytes, big endian) | 'k' | key
// (storage.StrongKey), one record each: uvarint(version) | value. The index
// of the last applied command is at 's' | g | 'a' (storage.StrongAppliedKey),
// 8 bytes big endian, outside the data span so that Restore can clear the
// span in one range deletion.
//
// Apply writes a command's changes and its index in one batch, committed
// without fsync. Raft synced the entry to its log before handing it to
// Apply, and on start it restores its latest snapshot and replays the log
// after it. Whatever a crash takes from the machine is therefore applied
// again, and whatever survived is skipped: Apply ignores an index at or
// below the applied index, and Restore one at or below it. An fsync per
// command would buy nothing.
//
// A storage error while applying stops the machine (ErrFailed): skipping
// the command and applying the next would leave this member apart from the
// others. A restart resumes from what is durable.
//
// Get reads a key on this member, concurrently with Apply.
//
// # Snapshots
//
// A snapshot is a version byte (2), uvarint(applied index), uvarint(key
// count), then each key in increasing order: uvarint(len) | key |
// uvarint(version) | uvarint(len) | value; then each request id, by epoch
// and id: uvarint(epoch) | uvarint(len) | id | uvarint(version) |
// uvarint(len) | value. (Version 1 had the keys alone, to the end; it is
// still restored.) Restore checks the order and that every version lies
// between 1 and the applied index, and that the applied index is not past
// the index it restores at; then it replaces the group's keys, ids and
// applied index in one synced batch.
//
// # Request ids
//
// An IncrBy may carry a client's request id. The machine keeps each id it
// applied, with the value it answered, under 's' | g | 'i' | epoch | id
// (storage.StrongIDKey), the epoch being the command's index divided by
// 65,536 (idEpoch). An IncrBy whose id is found in its own epoch or the one
// before is not applied again and answers the value it answered first, so
// a retry counts once if it comes within 65,536 commands of its group
// (and up to twice that). Ids two epochs old are deleted with one range
// deletion. A count of commands, not a time: every member decides alike,
// from the log.
package strong
