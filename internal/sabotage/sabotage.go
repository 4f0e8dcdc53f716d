// Package sabotage makes a node deliberately unsafe, so that the verifier's
// own tests can show that each of its checkers catches the violation it
// exists for: a checker that cannot fail proves nothing. Only a binary built
// with the pando_sabotage build tag reads the PANDO_SABOTAGE environment
// variable (on.go); in every other build the mode is empty and no check
// below ever holds.
//
// Modes, and the pando verify workload that must catch each:
//
//	ack-unwritten  answer one write in twenty without writing it (set: lost)
//	ack-early      answer a write once it is queued locally, without the
//	               fsync or any other replica (set: under-replicated)
//	local-writes   Pando as it was before writes read at R: decide every
//	               write on the coordinator's own copy, keep no hints, and
//	               pick among siblings by dot counter, not stamp (session:
//	               stale reads; delete: DELs that delete nothing)
//	reap-whole     delete expired records outright instead of leaving
//	               tombstones, and keep no hints (ttl: resurrected values)
//	ae-skip-range  anti-entropy reports every partition whose number is a
//	               multiple of four equal without comparing it
//	               (convergence: replicas that never agree)
//	purge-unagreed purge tombstones past their grace without knowing that
//	               every replica holds them, and while a replica is down
//	               (delete: deleted values that come back)
//	stale-reads    a strong read answers from this member's state without
//	               Raft's ReadIndex, as a follower or deposed leader would
//	               (register: a history that is not linearizable)
//	txn-partial    a strong transaction applies none of its increments
//	               after its first command, as a transaction that is not
//	               atomic would after a crash (bank: the total changes)
//	counter-double apply one counter increment in ten twice, as a retry
//	               that is not idempotent would (counter: counted twice)
//	ids-ignored    apply counter increments without their request ids, so
//	               that a retry counts again (counter, with pauses: counted
//	               twice)
//	crdt-lww       read and update a counter, set or map from one of a
//	               key's concurrent values instead of their merge, as a
//	               last-writer-wins store would (sadd: lost adds)
//	update-ack-unapplied
//	               acknowledge a counter, set or map update sent to this
//	               replica without applying it (sadd: under-replicated)
//	full-drops     a node whose disk refuses writes acknowledges the
//	               writes it would coordinate, writing them nowhere
//	               (set under the disk nemesis: lost)
//	fsync-ignored  acknowledge a write whose write-ahead log fsync failed,
//	               and go on as if it had not (set under the fsync
//	               nemesis: lost or under-replicated)
//	move-no-copy   a node that gains a partition in a move reports it
//	               copied without copying anything (set and session under
//	               the membership nemesis: lost, stale reads)
//	move-no-dual   writes during a move reach the current replicas only,
//	               not the nodes the next ring adds (session under the
//	               membership nemesis, anti-entropy off: older values
//	               read after the switch)
//	move-no-raft   strong partitions move behind Raft's back: their
//	               groups never change members, and a node that gains one
//	               reports it done at once, so the ring switches and the
//	               replicas that left delete members the group still
//	               counts (register under the membership nemesis:
//	               partitions that do not answer after healing)
package sabotage

import "sync/atomic"

// mode is the sabotage in force; empty in every ordinary build.
var mode string

// Is reports whether the node runs with sabotage m.
func Is(m string) bool { return mode != "" && mode == m }

// count numbers the writes that ack-unwritten considers.
var count atomic.Int64

// Nth reports, for the n-th call since start, whether n is a multiple of
// every: how ack-unwritten picks one write in twenty.
func Nth(every int64) bool { return count.Add(1)%every == 0 }
