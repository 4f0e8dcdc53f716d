// Package httpapi is Pando's HTTP/JSON front end.
//
//	PUT    /v1/kv/{key}            store the request body as the value (?ttl=30s)
//	GET    /v1/kv/{key}            the raw value; 404 if missing
//	DELETE /v1/kv/{key}            delete; 204 whether or not it existed
//	POST   /v1/ns/{ns}/kv/{key}/incr?by=N&floor=F   add N (counter and strong namespaces; floor: strong only)
//	GET    /v1/kv?prefix=&cursor=&limit=&encoding=   list keys, a page at a time
//	GET    /healthz                the process is up
//	GET    /readyz                 the node serves requests
//	GET    /metrics                Prometheus metrics
//
// Keys are path segments and may contain '/'; percent-encode other reserved
// bytes. Errors are JSON, {"error":{"code":"...","message":"..."}}, with the
// code and status from api.Describe, so they mean the same as the Redis front
// end's replies.
//
// A write or delete takes If-None-Match: * (only a new key) and If-Match: *
// (only a key that exists); 412 condition_failed when it does not hold. In
// a strong namespace (Config.Catalog says which) a read also returns the
// key's version as its ETag, and If-Match with that version applies the
// write only if the key is still at it: a one-step transaction watching
// the key. Eventual namespaces take the causal context instead
// (X-Pando-Context).
//
// In a counter, set or map namespace a GET answers JSON:
// {"type":"counter","value":5}, {"type":"set","members":["a","b"]} or
// {"type":"map","fields":{"name":"ada"}}; DELETE removes what the read saw.
// Sets take POST .../kv/{key}/add and /remove with {"members":["a","b"]}
// (answers {"added":N}, {"removed":N}); maps take POST .../kv/{key}/fields
// with {"fields":{"name":"ada"}} ({"created":N}) and /remove with
// {"fields":["name"]}. POST .../incr of a counter takes Idempotency-Key.
//
// Listing walks the namespace in hash order, the order keys are stored in:
// pages are not sorted by key, and a prefix filters the walk rather than
// seeking to it, so listing a rare prefix reads the whole namespace. The
// cursor is opaque; a full listing returns every key that existed throughout
// it exactly once.
package httpapi
