// Package server wires one Pando node together and runs it:
// Config -> New -> Run(ctx) -> Shutdown(ctx).
//
// New opens storage and binds every listener, so a bad address or an
// unreadable data directory fails before anything is served, and the bound
// addresses (port 0 included) are known. Run serves until its context ends,
// then shuts down in order: stop accepting, let in-flight requests answer,
// stop background work, close storage. Nothing acknowledged is lost at any
// step, since every acknowledged write is already fsync'd.
package server
