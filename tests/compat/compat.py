#!/usr/bin/env python3
"""Pando with redis-py (Debian's python3-redis): a plain client and a
cluster client against a running cluster, whose Redis protocol addresses
are the first argument, comma-separated.

The end-to-end test (tests/e2e/compat_test.go) runs this script. Halfway
it prints "KILL?" and waits for a line on standard input: the test kills a
node meanwhile, and the cluster client must carry on. It prints "OK" and
exits 0 when every check passed, and exits 1 with the reason otherwise.
"""
import sys
import time

import redis
from redis.cluster import ClusterNode, RedisCluster


def check(ok, what):
    if not ok:
        print("FAIL: " + what, flush=True)
        sys.exit(1)


def retry(fn, what, seconds=30):
    """Calls fn until it returns without a connection error."""
    deadline = time.time() + seconds
    while True:
        try:
            return fn()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                redis.exceptions.ClusterDownError) as e:
            if time.time() > deadline:
                check(False, "%s: still failing after %ds: %s" % (what, seconds, e))
            time.sleep(0.2)


addrs = [a.rsplit(":", 1) for a in sys.argv[1].split(",")]
r = redis.Redis(host=addrs[0][0], port=int(addrs[0][1]), decode_responses=True)

# Strings and expiry.
check(r.set("py:s", "v") is True, "SET")
check(r.get("py:s") == "v", "GET")
check(r.getset("py:s", "w") == "v", "GETSET")
check(r.set("py:nx", "1", nx=True) is True and r.set("py:nx", "2", nx=True) is None, "SET NX")
check(r.set("py:e", "v", ex=100) is True and 95 <= r.ttl("py:e") <= 100, "SET EX / TTL")
check(r.delete("py:s", "py:missing") == 1, "DEL")

# SCAN walks every key once.
for i in range(30):
    r.set("py:scan:%d" % i, i)
keys = list(r.scan_iter(match="py:scan:*", count=7))
check(sorted(keys) == sorted("py:scan:%d" % i for i in range(30)), "SCAN: %s" % sorted(keys))

# A pipeline.
p = r.pipeline(transaction=False)
p.set("py:p1", "1")
p.set("py:p2", "2")
p.get("py:p1")
check(p.execute() == [True, True, "1"], "pipeline")

# A transaction is refused, and nothing it queued is applied.
p = r.pipeline(transaction=True)
p.set("py:t1", "x")
p.set("py:t2", "y")
try:
    p.execute()
    check(False, "a transaction in an eventual namespace was not refused")
except redis.exceptions.ResponseError as e:
    check("EXECABORT" in str(e) or "Transaction discarded" in str(e), "transaction error: %s" % e)
check(r.get("py:t1") is None and r.get("py:t2") is None, "a refused transaction applied its writes")

# Siblings: the context is text, read back with decode_responses=True.
r.execute_command("PUTCTX", "py:c", "", "a")
r.execute_command("PUTCTX", "py:c", "", "b")
ctx, values = r.execute_command("SIBLINGS", "py:c")
check(sorted(values) == ["a", "b"], "SIBLINGS: %s" % values)
r.execute_command("PUTCTX", "py:c", ctx, "ab")
check(r.get("py:c") == "ab", "PUTCTX with the context")

# The cluster client, started from one node.
rc = RedisCluster(startup_nodes=[ClusterNode(addrs[0][0], int(addrs[0][1]))], decode_responses=True)
for i in range(100):
    rc.set("py:k:%d" % i, i)
for i in range(100):
    check(rc.get("py:k:%d" % i) == str(i), "cluster GET py:k:%d" % i)
check(rc.get("{py}:a") is None, "hash tag read")

print("KILL?", flush=True)
sys.stdin.readline()
for i in range(100):
    v = retry(lambda: rc.get("py:k:%d" % i), "cluster GET py:k:%d after the kill" % i)
    check(v == str(i), "cluster GET py:k:%d after the kill: %r" % (i, v))
retry(lambda: rc.set("py:after", "kill"), "cluster SET after the kill")
print("OK", flush=True)
