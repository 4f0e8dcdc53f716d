// Package etcd is not imported by anything: this module holds the etcd
// side of scripts/bench-strong.sh, which measures Pando's strong
// namespaces beside etcd 3.6 on the same machine, in one run.
//
//   - cmd/etcd is etcd's server (go.etcd.io/etcd/server/v3's etcdmain),
//     built from the exact version pinned in go.mod.
//   - cmd/etcdload is a closed-loop load generator on
//     go.etcd.io/etcd/client/v3: puts, and linearizable gets, of random
//     keys, printing ops/s and p50/p99/p99.9 latency as `pando bench`
//     does.
//
// It is a module of its own so that the main module's builds, tests and
// CI never compile etcd.
package etcd
