// Package membership tells a node which other nodes exist and which of them
// are alive, by gossip (SWIM with Lifeguard, through hashicorp/memberlist).
//
// Each node gossips its id and its addresses (cluster RPC, Redis protocol,
// HTTP) as node metadata. A node that stops answering probes becomes
// suspect, then dead; a node that shuts down cleanly leaves.
//
// Liveness is advice, never authority: it decides where a request is sent
// first, and whether to wait for a replica, but it never changes who owns a
// partition. Ownership lives in the Raft-replicated metadata (package
// metadata). Gossip that decided ownership is how clusters lose data.
//
// Joining: a node is given a list of gossip addresses (its own may be among
// them, so every node can share one configuration) and keeps trying them in
// the background until one answers.
//
// Encryption (keys.go): with keys, every message is encrypted and
// authenticated by memberlist's keyring, and a node without a key is
// refused, never seen; keys rotate on a running cluster in three steps.
package membership
