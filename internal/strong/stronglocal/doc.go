// Package stronglocal runs strong partition groups as plain state machines
// in one process, without Raft, for tests of the front ends: commands
// apply in the order they come, at increasing indexes, to the real
// strong.Machine on a real storage engine. Raft's own guarantees are
// tested in package strong and end to end; nothing in the product uses
// this package.
package stronglocal
