// Package testutil holds helpers that the tests of several packages share:
// polling a condition with a deadline instead of sleeping, an HTTP request
// with its body read, a buffer that a process or a logger writes while the
// test reads it, and building the pando binary for tests that run it as a
// process. Only tests import it.
package testutil
