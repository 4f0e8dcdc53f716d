// Package crdt implements the conflict-free replicated data types that
// Pando's counter, set, register, flag and map namespaces store: a
// PN-counter, an add-wins observed-remove set, a multi-value register, an
// enable-wins flag, and a map of all of these, maps included.
//
// The types are state-based CRDTs (Shapiro, Preguiça, Baquero, Zawirski, "A
// comprehensive study of Convergent and Commutative Replicated Data Types",
// INRIA RR-7506, 2011): Merge joins another replica's state into the
// receiver, and is commutative, associative and idempotent, so replicas that
// have merged the same states hold the same state, whatever the order of the
// merges and however often a state arrived (hints and anti-entropy may
// deliver twice). They are also delta-state CRDTs (Almeida, Shoker, Baquero,
// "Delta State Replicated Data Types", JPDC 2018): an operation changes its
// receiver and returns a delta, a small state of the same type with just the
// operation's effect, which other replicas merge like any state. A replica
// with the same history that merges the delta reaches the state the
// operation made.
//
// The package is pure: no I/O, no clock, no randomness; maps are iterated in
// sorted order wherever order shows. Values are not safe for concurrent use.
// Methods change their receiver only, and a result shares no mutable memory
// with anything (internally, states are immutable trees that share
// structure), so Clone is cheap.
//
// # Actors and events
//
// An operation that creates state takes an actor: the id of the replica that
// performs it, such as a node id and epoch (docs/adr/0004-epoch-actors.md).
// Two replicas must never act under one actor id: they would make different
// events with the same name.
//
// # Counter
//
// Counter is the PN-Counter of Shapiro et al.: per actor, the total it
// added and the total it subtracted; Merge keeps each actor's larger totals,
// and the value is the sum of the differences. Increment returns the actor's
// new totals as its delta. Increment refuses with ErrOverflow an increment
// that would take the value above math.MaxInt64 or a decrement below
// math.MinInt64 (and an actor's total past 2^64-1). Merging concurrent
// increments can still pass the range; Value then saturates, the exact value
// is kept, and only operations toward the range are accepted.
//
// ResetCounter is a Counter that DEL can bring back to zero: a pair of
// counters, the counts and the totals that resets saw, whose difference is
// the value. A reset takes away what its replica has seen; an increment it
// did not see survives with its own effect, and concurrent resets of the
// same increments take them away once. Tally is a ResetCounter whose
// increments may carry request ids, each counted once however often it is
// applied, through whichever replicas. Hash, the value of a Redis hash, is
// a Map beside a Tally per field, for HINCRBY.
//
// # Causal types
//
// Set, Register, Flag and Map are causal CRDTs (Almeida et al.). Every
// operation that creates state is an event, named by a dot (actor, n): the
// n-th event of that actor. A state holds a causal context, every event it
// has seen, and a dot store, the events still in effect with their payloads;
// every event in the store is in the context. The context is compacted as
// in Almeida et al. and Bieniusa, Zawirski, Preguiça, Shapiro, Baquero,
// Balegas, Duarte, "An optimized conflict-free replicated set" (2012): per
// actor a contiguous range 1..max, plus the few events above it (the dot
// cloud) that arrived ahead of the ones in between.
//
// Merge keeps an event that both stores hold, and an event that one store
// holds unless the other state's context has it: then the other side has
// removed it. So removes leave no tombstone; the context is the whole memory
// of what was removed. An operation's delta has as its context just its own
// new event, if any, and the events it supersedes or removes: those of its
// target in the replica's state.
//
//   - Set is the add-wins observed-remove set (Shapiro et al.'s OR-Set;
//     Bieniusa et al.): each element with the events of its adds. Add makes
//     a new event for the element and supersedes its earlier ones; Remove
//     removes the events it sees. An add concurrent with a remove, or
//     unseen by it, is not removed: add wins.
//   - Register is the multi-value register (Shapiro et al.'s MV-Register): an
//     assign supersedes every value it sees, concurrent assigns are all
//     kept as siblings, and Values returns them sorted.
//   - Flag is the enable-wins flag (Almeida et al.'s EWFlag): enabled while
//     an enable's event is in effect; a disable removes the events it sees,
//     so a concurrent enable wins.
//   - Map (Almeida et al.'s ORMap, with Riak's field semantics) holds
//     fields identified by name and kind, each an embedded counter, set,
//     register, flag or map sharing the map's context. Update wins: removing
//     a field removes the events the remover saw in it, so a concurrent
//     update of the field survives with its effect alone (the added element,
//     the assigned value, the enable, the updated subfields). A field with
//     no event in effect is absent: an emptied set or a disabled flag
//     disappears. An embedded counter is causal too, keeping per actor its
//     totals under the event of its latest increment (riak_dt_emcntr): a
//     remove takes away the totals it saw, and a concurrent increment keeps
//     the incrementing actor's whole total, not only the increment.
//
// # Delivery of deltas
//
// Deltas and states may be merged in any order and any number of times;
// once a replica has merged all of them it holds the state of a replica that
// got them in order. In between, a replica that merges a delta before an
// earlier delta it superseded (of the same actor, not yet received) shows
// the earlier effect until the deltas in between arrive: a replaced register
// value as a sibling; in a set, an element added twice and then removed, if
// the first add arrives after the remove; an embedded counter's actor
// counted twice. Where that matters, ship an actor's deltas in order (Almeida
// et al.'s causal delta-merging condition), or whole states. Counter does
// not have this problem: its deltas carry totals.
//
// # Encoding
//
// Encode returns deterministic bytes: equal states encode to equal bytes.
// Every encoding starts with the format version (1) and the Kind. Integers
// are uvarints, strings a uvarint length and the bytes, lists a count and
// the items in increasing order.
//
//	counter:  actors: (id, added, subtracted)
//	reset:    a counter's actors, then its resets' actors, as above
//	causal:   context, store
//	context:  actors: (id, max, events above max+1)
//	dot:      the actor's index in the context's actors, n
//	set:      elements: (element, dots)
//	register: (dot, value) pairs
//	flag:     dots
//	map:      five lists of (name, value), in Kind order: counters as
//	          (dot, added, subtracted) pairs, sets, registers, flags and
//	          nested maps as above
//
// A Decode function accepts exactly the canonical encodings of valid states
// (sorted and unique items, a compacted context that holds every dot, no
// empty field or element, non-zero totals, minimal varints, no trailing
// bytes), so whatever decodes re-encodes to the same bytes; it refuses
// anything else with ErrCorrupt and never panics. Every count is checked
// against the bytes that remain, so decoding allocates in proportion to its
// input, and maps nest at most MaxDepth deep.
//
// # Departures and limits
//
//   - Map fields are keyed by name and kind, as in Riak: concurrent
//     updates of one name as two kinds keep both fields.
//   - An embedded counter's remove is undone for an actor that increments
//     concurrently (see Map); removing exactly what was seen would take an
//     event per increment.
//   - Elements, values and names are strings.
//   - Merge takes time linear in the state, also for a small delta.
//   - A state from an untrusted source can claim events an actor has not
//     made yet, and replicas that merge it would drop those events when
//     they come. States must come from replicas.
package crdt
