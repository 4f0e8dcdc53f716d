// Package transport carries node-to-node calls: replication, reads, scans,
// Raft messages and metadata proposals (the Node service of nodepb).
//
// Everything above it talks to a Peer, found by node id through a Transport.
// There are three Transports, all in non-test files so every layer can be
// tested without sockets:
//
//   - GRPC, the product's: one gRPC client connection per peer address, a
//     gRPC server for the node's own handler.
//   - Mem, an in-process network: calls go straight to the target's handler,
//     with requests and responses cloned as the wire would.
//   - Faulty, a wrapper over any Transport that drops, delays, duplicates and
//     partitions calls on a seeded schedule, for simulation tests and the
//     verifier (hashicorp/raft's inmem transport and etcd's failpoints are the
//     models).
//
// A call that fails with ErrUnreachable was not delivered, or its answer was
// lost: the caller cannot tell which, and must treat a write as possibly
// applied.
package transport
