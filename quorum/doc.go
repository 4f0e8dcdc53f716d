// Package quorum is the arithmetic of leaderless replication: how many of a
// key's N replicas must answer a read (R) or acknowledge a write (W).
//
// A Level names that number independently of N, as Cassandra and Riak do:
// One, Quorum (a majority, N/2+1), All, or an explicit count. Required turns
// a level into a count for a given N and refuses a count above N, so a
// request can never wait for answers that cannot come.
//
// With R + W > N every read quorum meets every write quorum, so on a healthy
// cluster a read sees the latest acknowledged write (Dynamo, DeCandia et al.
// 2007, section 4.5). Lower levels trade that for latency and availability:
// the PACELC dial, per request.
//
// The package is pure: no I/O, no time.
package quorum
