// Package verify runs Jepsen-style tests of a Pando cluster: it starts real
// pando processes, drives them with client workers, injects faults on a
// seeded schedule, heals, waits for recovery, and checks the history of
// operations against what Pando promises. `pando verify` is its command.
//
// Faults (nemeses):
//
//   - partition: links between nodes cut with iptables inside a network
//     namespace per node (veth pairs on a bridge); gossip, Raft and
//     replication are all cut, as on a real network. Needs root. Shapes:
//     isolate one node, majority/minority, two halves, a bridge node that
//     sees both sides, a ring.
//   - kill: SIGKILL a node, restart it later on the same data.
//   - pause: SIGSTOP a node, SIGCONT it later.
//   - clock: move a node's clock by seconds to hours, or strobe it, through
//     the node's debug clock (nodes are started with --debug-clock, which
//     exists for this alone).
//   - disk: fill a node's file system, then free it. Each node's data
//     directory is a tmpfs of its own and nodes run with --min-free-disk;
//     the fault leaves less free than that, so the node refuses data writes
//     (-NOSPACE) as on a full disk. Needs root.
//   - fsync: fail the next fsync of a node's write-ahead log with EIO
//     (nodes run with --debug-disk-faults, which exists for this alone),
//     then SIGKILL the node at the end of the hold and restart it: a
//     write acknowledged without a successful fsync is lost by the crash.
//
// Workloads and their checkers:
//
//   - set: unique elements added at W=QUORUM, each a key under one prefix.
//     After healing, every acknowledged element must be present (lost
//     otherwise) and held by at least W of its replicas before any repairing
//     read (under-replicated otherwise).
//   - durability: writes at W=ALL while nodes are killed; afterwards every
//     replica must hold every acknowledged write.
//   - register: reads, writes and compare-and-sets of a few keys of a
//     strong namespace through every node, checked for linearizability with
//     porcupine (an HTML visualisation on failure).
//   - bank: transfers between ten accounts of a strong namespace (WATCH,
//     MULTI, DEBIT with a floor, INCRBY, EXEC) and reads of every balance in
//     one transaction: the total never changes, no balance goes below zero.
//   - convergence: writes through all nodes during faults; after healing,
//     each key is read once at ALL (read repair), then every replica must
//     hold the same record within a bound, which the run reports.
//   - session: each worker writes and reads its own keys through random
//     nodes at a fixed pair of levels with R + W > N; a read must return the
//     last acknowledged write or one of unknown outcome (read-your-writes).
//   - delete: keys written, deleted once, read back; an acknowledged DEL
//     must answer 1 after an acknowledged write, and the key must never
//     return, during the run or after healing.
//   - ttl: a key written without expiry, then overwritten with a value that
//     expires in 1-2 s; after expiry nothing may be read, and the older value
//     never (the expired one is judged only away from clock faults).
//   - bank, counter: hooks for the strong and CRDT releases; refused until
//     then.
//
// Each checker is shown to fail: the verifier's tests run nodes built with
// the pando_sabotage tag (package sabotage), each breaking one promise.
//
// Every run writes DIR/history.jsonl (one operation event per line: invoke,
// ok, fail or info, with times), DIR/summary.json, the nodes' data and logs,
// prints a summary and a one-line verdict, and fails on any violation. The
// same seed gives the same fault schedule.
package verify
