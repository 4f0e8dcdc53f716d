// Package metadata is the cluster's shared truth: its members, the ring that
// assigns partitions to them, and the namespaces. It is a state machine
// replicated by Raft group 0 (package raftgroup) on up to five voters; every
// node applies the same log and so derives the same ring and the same
// namespace definitions.
//
// Forming a cluster (as Consul's bootstrap_expect does): a node with no Raft
// state waits until gossip shows --bootstrap-expect nodes that belong to no
// cluster, picks the smallest ids among them as founders, announces the
// founder list in its gossip metadata, and, if it is a founder, bootstraps
// the group with them. A node that sees founders announced adopts their
// list, so nodes that started at slightly different moments agree. The
// smallest founder then proposes the initial state: the founders as members,
// the ring over them, and the default namespace.
//
// Joining later: membership is decided, not assumed. A node that sees a
// cluster in gossip is a candidate: it waits, and is not counted anywhere,
// until an operator admits it (Admit: pando cluster join NODE). The leader
// then adds it to the Raft group as a learner. An admitted member owns no
// partitions until an ownership change gives it some (move.go): operators
// stage joins, leaves and replacements, a commit fixes the next ring as a
// Move, each member reports itself ready once it writes to both rings,
// each node that gains a partition reports it copied (package rebalance),
// and the last report switches the ring at one log index everywhere.
// Liveness never changes ownership.
//
// Voters: the leader keeps VoterTarget of the members voting (every
// member up to two, three from three, five from five), one configuration
// change at a time. A learner up in gossip is promoted while voters are
// short or one of them is down; a voter is demoted (one that is down
// first) only while there are more than the target, so a dead voter is
// replaced before it is demoted and no change leaves fewer voters than the
// target.
//
// Removing: Remove (pando cluster remove NODE) removes a member that is
// down and owns no partitions, for good: it leaves the Raft group, and its
// node id and Raft id are never admitted again (State.Removed).
//
// Restarting: a node with Raft state simply rejoins the group.
package metadata
