// Package e2e tests the real pando binary: it builds it once, starts it as
// separate processes on 127.0.0.1 with ports chosen by the kernel, and drives
// it with go-redis, net/http, redis-cli and redis-benchmark as a user would.
//
// Tools that are not Go modules (redis-cli, redis-benchmark) are installed by
// .ci/run; where they are missing, the tests that need them skip and say so.
package e2e
