// Pando with ioredis (npm, pinned in package.json): a plain client and a
// cluster client against a running cluster, whose Redis protocol addresses
// are the first argument, comma-separated.
//
// The end-to-end test (tests/e2e/compat_test.go) runs this script. Halfway
// it prints "KILL?" and waits for a line on standard input: the test kills a
// node meanwhile, and the cluster client must carry on. It prints "OK" and
// exits 0 when every check passed, and exits 1 with the reason otherwise.
"use strict";
const Redis = require("ioredis");
const readline = require("readline");

function check(ok, what) {
  if (!ok) {
    console.log("FAIL: " + what);
    process.exit(1);
  }
}

async function retry(fn, what, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) check(false, `${what}: still failing after ${seconds}s: ${e.message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function main() {
  const addrs = process.argv[2].split(",").map((a) => {
    const i = a.lastIndexOf(":");
    return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
  });
  const r = new Redis({ ...addrs[0], maxRetriesPerRequest: 1 });

  // Strings and expiry.
  check((await r.set("js:s", "v")) === "OK", "SET");
  check((await r.get("js:s")) === "v", "GET");
  check((await r.set("js:nx", "1", "NX")) === "OK" && (await r.set("js:nx", "2", "NX")) === null, "SET NX");
  await r.set("js:e", "v", "EX", 100);
  const ttl = await r.ttl("js:e");
  check(ttl >= 95 && ttl <= 100, "TTL " + ttl);
  check((await r.del("js:s", "js:missing")) === 1, "DEL");

  // SCAN walks every key once.
  for (let i = 0; i < 30; i++) await r.set("js:scan:" + i, i);
  const seen = new Set();
  let cursor = "0";
  do {
    const [next, keys] = await r.scan(cursor, "MATCH", "js:scan:*", "COUNT", 7);
    keys.forEach((k) => seen.add(k));
    cursor = next;
  } while (cursor !== "0");
  check(seen.size === 30, "SCAN found " + seen.size);

  // A pipeline.
  const res = await r.pipeline().set("js:p1", "1").set("js:p2", "2").get("js:p1").exec();
  check(JSON.stringify(res) === JSON.stringify([[null, "OK"], [null, "OK"], [null, "1"]]), "pipeline " + JSON.stringify(res));

  // A transaction is refused, and nothing it queued is applied.
  let refused = false;
  try {
    await r.multi().set("js:t1", "x").set("js:t2", "y").exec();
  } catch (e) {
    refused = /EXECABORT/.test(e.message);
  }
  check(refused, "a transaction in an eventual namespace was not refused");
  check((await r.get("js:t1")) === null && (await r.get("js:t2")) === null, "a refused transaction applied its writes");

  // The cluster client, started from one node.
  const rc = new Redis.Cluster([addrs[0]], { redisOptions: { maxRetriesPerRequest: 1 } });
  for (let i = 0; i < 100; i++) await rc.set("js:k:" + i, i);
  for (let i = 0; i < 100; i++) check((await rc.get("js:k:" + i)) === String(i), "cluster GET js:k:" + i);

  console.log("KILL?");
  const rl = readline.createInterface({ input: process.stdin });
  await new Promise((resolve) => rl.once("line", resolve));
  rl.close();
  for (let i = 0; i < 100; i++) {
    const v = await retry(() => rc.get("js:k:" + i), "cluster GET js:k:" + i + " after the kill");
    check(v === String(i), "cluster GET js:k:" + i + " after the kill: " + v);
  }
  await retry(() => rc.set("js:after", "kill"), "cluster SET after the kill");
  console.log("OK");
  r.disconnect();
  rc.disconnect();
}

main().catch((e) => check(false, e.stack || String(e)));
