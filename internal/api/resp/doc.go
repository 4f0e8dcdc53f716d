// Package resp is Pando's Redis protocol front end: redis-cli,
// redis-benchmark, go-redis and other Redis clients talk to a Pando node as
// they would to a Redis server.
//
// It follows net/http's shape: New builds a Server from a Config, Serve
// accepts on a listener, Shutdown stops accepting, lets in-flight commands
// answer, and closes the connections.
//
// One goroutine serves each connection: it reads a command, runs it, and
// flushes replies only when no further pipelined command is already buffered,
// so a pipeline of N commands costs one write.
//
// Requests are parsed by this package's own reader (reader.go) rather than
// redcon's, which grows its buffer to whatever bulk length a client declares.
// Ours skips a bulk string larger than the limits on the wire, without
// holding it, and the command answers "-ERR value too large ..." on a
// connection that stays usable. Malformed protocol gets
// "-ERR Protocol error: ..." and closes only that connection. Replies are
// written with redcon's Writer.
//
// Errors are rendered through api.Describe, so a message means the same thing
// here and over HTTP.
package resp
