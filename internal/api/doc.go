// Package api is what Pando's front ends share: the KV interface they call,
// the limits they enforce on input, and the one table that turns an error into
// the stable message, code and status a client sees.
//
// The front ends (resp for the Redis protocol, httpapi for HTTP/JSON) parse a
// request, check it against Limits, call KV, and render the answer or the
// error through Describe. KV is implemented by the node's local replica on a
// single node and by the quorum coordinator in a cluster; the front ends do
// not know which.
//
// The sentinel errors here are the user-facing vocabulary: their text is what
// a redis-cli or curl user reads, so it carries no package prefix. Wrap them
// with detail (fmt.Errorf("%w: ...", ErrKeyTooLarge)) and test them with
// errors.Is.
package api
