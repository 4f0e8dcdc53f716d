// Package dvv implements dotted version vector sets (DVVSets): the causality
// metadata Pando keeps with every key, together with the key's live values.
//
// It follows Riak's DVVSet (riak_core/src/dvvset.erl; Almeida, Baquero,
// Gonçalves, Preguiça, Fonte, "Scalable and Accurate Causality Tracking for
// Eventually Consistent Stores", DAIS 2014; Preguiça et al., "Dotted Version
// Vectors: Logical Clocks for Optimistic Replication", 2010).
//
// # Model
//
// Every write of a key is an event coordinated by one replica node. The
// event's identity is its dot (Node, Counter): the Counter-th event of that
// node for this key. A client that reads the key receives the siblings and a
// Context, the version vector of everything the replica knew; when it writes,
// it hands the Context back, and the write supersedes exactly the values whose
// dots the Context covers. Values the client did not see stay as siblings.
//
// A Set stores, for each node that coordinated writes of the key, one Entry
// (Node, Counter, Values):
//
//   - Counter is the number of events of Node the set knows of; all of the
//     events (Node, 1) .. (Node, Counter) are in the set's causal history.
//   - Values are the live values (siblings) of the newest events of Node,
//     newest first: Values[i] was written by event (Node, Counter-i). Events
//     up to Counter-len(Values) are known but their values were superseded.
//     (The superseded events of a node always form a prefix, because a
//     Context covers, per node, a prefix of that node's events.)
//
// # Invariants
//
// A valid Set has its Entries sorted by Node with no duplicates, no empty
// Node, 0 < Counter and len(Values) <= Counter. Entries whose Counter is 0
// carry no information and are never produced, so equal states have one
// representation and equal encodings; the zero Set is the empty set (no
// history, no values). A valid Context is sorted by Node with no duplicates
// and no zero counters; the nil Context is the empty history.
//
// Every function here treats its arguments as immutable and never modifies
// them; results may share memory (notably the value byte slices) with the
// arguments, so callers must not modify a Set or Context in place either.
//
// Sync is a join: commutative, associative and idempotent, with the zero Set
// as identity, on any sets produced from one key's history by Update, Sync and
// Discard. It assumes what DVVSets always assume: a dot names one value, so
// two sets that both hold a value for the same dot hold the same value.
//
// # Departures from dvvset.erl
//
//   - No anonymous values: dvvset keeps values not attached to a dot (from
//     new/1 without update, or reconcile/2). Here every write becomes an
//     event at a replica, so a Set is just dvvset's entry list. A client that
//     resolves siblings writes the merged value with the Context it read,
//     which supersedes them; Discard drops covered values without writing.
//   - Values are byte slices, compared by nobody: the package never looks
//     into them.
//   - Siblings are returned in a deterministic order: by node, then newest
//     first.
//   - Zero-counter entries (possible in dvvset from a client-made vector)
//     are dropped, so the representation is canonical.
//   - Sets and Contexts have a compact binary encoding (encode.go); a Context
//     also has a versioned, URL-safe text form for client protocols.
//
// # Trust
//
// A Context handed to Update or Discard must be one obtained from a state of
// the same key (possibly stale). A forged or foreign Context can claim events
// that have not happened yet; replicas that absorb it would then treat those
// future writes as already superseded and drop them. Protocol layers that
// accept contexts from untrusted clients should authenticate them.
package dvv
