// Package clock is the one place a Pando node reads the time of day.
//
// Protocol cores never call time.Now: they take the time as an argument. The
// drivers around them (the expiry reaper, the front ends) read it from a Clock,
// so tests can move time by hand and the verifier can skew one node's clock
// without touching the machine's.
//
// Time decides only when a value expires. It never decides which of two
// writes survives; causality does that.
package clock
