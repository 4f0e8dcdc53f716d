package coordinator

import "sync/atomic"

// sabotage, when not empty, makes the coordinator deliberately unsafe, so
// that the verifier's own tests can show it catches lost writes. Only a
// binary built with the pando_sabotage tag can set it (sabotage_on.go, from
// the PANDO_SABOTAGE environment variable); in every other build it is
// always empty.
//
//	ack-early      answer a write once it is queued locally, without waiting
//	               for the fsync or for any other replica
//	ack-unwritten  answer one write in twenty without writing it at all
var sabotage string

// sabotaged counts writes for ack-unwritten.
var sabotaged atomic.Int64
