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
// Joining later: a node that sees a cluster in gossip waits; the leader
// notices it (alive in gossip, not a member), records it as a member and
// adds it to the Raft group, as a voter while there are fewer than five.
// Joined members own no partitions yet: moving data to a new owner is the
// rebalancing work of a later release, and until then the ring stays as the
// founders made it. Liveness never changes ownership.
//
// Restarting: a node with Raft state simply rejoins the group.
package metadata
