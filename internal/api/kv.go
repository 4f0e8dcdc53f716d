package api

import (
	"context"

	"github.com/pandodb/pando/quorum"
)

// ReadOptions shape a read.
type ReadOptions struct {
	// R is how many replicas must answer; the default is quorum.
	R quorum.Level
}

// WriteOptions shape a write.
type WriteOptions struct {
	// W is how many replicas must acknowledge; the default is quorum.
	W quorum.Level
	// R is how many replicas the write reads first, the coordinating
	// replica included; the default is quorum. The write supersedes what
	// that read finds, and conditions (NX, XX, EXPIRE's options) and the
	// values it reports (SET ... GET, DEL) are decided on it. A conditional
	// or reading write fails when R replicas cannot answer; a plain write
	// proceeds on what did. Front ends pass the connection's read level.
	R quorum.Level
	// Context, when HasContext, is the causal context the client read (a
	// token from GetVersions; "" is the empty context, which covers
	// nothing): the write supersedes exactly the versions it covers, and is
	// concurrent with the rest. Without a context a write supersedes every
	// version a read at R finds.
	Context    string
	HasContext bool
	// RequestID optionally identifies the client request (at most
	// MaxRequestIDBytes): an increment of a counter namespace retried with
	// the same id counts once, through any node, while the id is among
	// the last 256 that the key's increments carried. The id must be
	// unique to the request, say a UUID. Other writes ignore it: they are
	// idempotent.
	RequestID string
}

// MaxRequestIDBytes bounds a request id.
const MaxRequestIDBytes = 64

// Versions are all the concurrent values (siblings) of a key, with the
// context to write back with to resolve them.
type Versions struct {
	Values []Entry
	// Picked is the index in Values of the value Get returns (when there
	// are values).
	Picked int
	// Context is an opaque, printable token (URL-safe base64, the same on
	// every protocol): pass it back in WriteOptions.
	Context string
}

// Entry is a stored value as a reader sees it.
type Entry struct {
	// Value may be shared with a cache: read it, never modify it.
	Value []byte
	// ExpireAt is when the value expires, in Unix milliseconds; 0 means never.
	ExpireAt int64
}

// Cond is a precondition on the key's presence for Put.
type Cond uint8

const (
	// Always writes whatever is there.
	Always Cond = iota
	// IfAbsent writes only if the key holds no live value (Redis NX).
	IfAbsent
	// IfPresent writes only if the key holds a live value (Redis XX).
	IfPresent
)

// PutOptions shape a Put.
type PutOptions struct {
	// ExpireAt is the new value's expiry in Unix milliseconds; 0 means none.
	ExpireAt int64
	// KeepTTL keeps the previous value's expiry and ignores ExpireAt.
	KeepTTL bool
	// Cond is the precondition.
	Cond Cond
	// ReturnOld asks for the value that was replaced (Redis SET ... GET).
	ReturnOld bool
	Write     WriteOptions
}

// PutResult reports what a Put did.
type PutResult struct {
	// Applied is false when Cond did not hold and nothing was written.
	Applied bool
	// Old is the previous live value, when ReturnOld was set and OldFound.
	Old      Entry
	OldFound bool
}

// ExpireCond is a precondition for SetExpiry (Redis 7's EXPIRE options).
type ExpireCond uint8

const (
	// ExpireAlways sets the expiry whatever it was.
	ExpireAlways ExpireCond = iota
	// ExpireIfNone sets it only if the key has no expiry (NX).
	ExpireIfNone
	// ExpireIfSome sets it only if the key has an expiry (XX).
	ExpireIfSome
	// ExpireIfGreater sets it only if the new expiry is later (GT); no
	// expiry counts as infinitely late.
	ExpireIfGreater
	// ExpireIfLess sets it only if the new expiry is earlier (LT).
	ExpireIfLess
)

// KeyValue is one pair of a multi-key write.
type KeyValue struct {
	Key, Value []byte
}

// ScanPage is one step of a scan.
type ScanPage struct {
	Keys [][]byte
	// Next is the cursor to continue from; 0 means the scan is complete.
	Next uint64
}

// NamespaceInfo is what a front end needs of a namespace.
type NamespaceInfo struct {
	// DB is its number, for Redis's SELECT.
	DB int
	// N is its effective replication factor, which bounds the levels.
	N int
	// Strong is set for a strong namespace: linearizable, with counters and
	// compare-and-set (Strong), without levels or causal contexts.
	Strong bool
	// Type is the namespace's value type: TypeBytes, or TypeCounter,
	// TypeSet or TypeMap (served by Types).
	Type string
}

// KV is the key-value service behind the front ends. Namespaces are named by
// string; keys and values are bytes. Every method may return a wrapped
// sentinel from this package. Where an API returns one value, a key with
// siblings answers with one chosen by a deterministic rule, the same on
// every node.
type KV interface {
	// Get returns the live value of key, or ErrNotFound.
	Get(ctx context.Context, ns string, key []byte, opts ReadOptions) (Entry, error)
	// GetVersions returns every live sibling and the key's context. A key
	// with no live value has no values but may have a context (the history
	// of a deleted key).
	GetVersions(ctx context.Context, ns string, key []byte, opts ReadOptions) (Versions, error)
	// Put writes value under key as opts say.
	Put(ctx context.Context, ns string, key, value []byte, opts PutOptions) (PutResult, error)
	// PutMany writes every pair, without expiry. Each key is written on its
	// own: a failure may leave some written.
	PutMany(ctx context.Context, ns string, kvs []KeyValue, opts WriteOptions) error
	// Delete removes key and returns the value it held, if any.
	Delete(ctx context.Context, ns string, key []byte, opts WriteOptions) (old Entry, found bool, err error)
	// SetExpiry gives key a new expiry (Unix ms; 0 removes it) if the key is
	// live and cond holds. An expiry at or before now deletes the key.
	SetExpiry(ctx context.Context, ns string, key []byte, expireAt int64, cond ExpireCond, opts WriteOptions) (applied bool, err error)
	// Scan examines keys from cursor onward (cursor 0 starts), about count
	// of them, and returns the live ones that match accepts (nil accepts
	// all). A full scan returns every key that was live throughout it at
	// least once.
	Scan(ctx context.Context, ns string, cursor uint64, count int, match func(key []byte) bool) (ScanPage, error)
	// Count returns the number of live keys in ns. It reads the whole
	// namespace.
	Count(ctx context.Context, ns string) (int64, error)
}

// Strong is what a KV serves in strong namespaces beyond KV. Eventual
// namespaces refuse it with ErrUnsupported.
type Strong interface {
	// IncrBy adds delta to the integer under key (absent counts as 0) and
	// returns the result. With a floor, a decrement that would leave less
	// than *floor is refused with ErrBelowFloor and changes nothing. With a
	// request id, a retry of an increment applied before under that id
	// changes nothing and answers what the first did (strong.IncrBy).
	IncrBy(ctx context.Context, ns string, key []byte, delta int64, floor *int64, requestID string) (int64, error)
	// CompareAndSwap sets key to value if it holds expected (nil: if it is
	// absent). It reports whether it did, and the value it found (found is
	// false for an absent key).
	CompareAndSwap(ctx context.Context, ns string, key, expected, value []byte) (swapped bool, old Entry, found bool, err error)
	// GetVersion reads key linearizably, with its version: a number that
	// changes on every write of the key, 0 when it is absent. WATCH records
	// it.
	GetVersion(ctx context.Context, ns string, key []byte) (value []byte, version uint64, found bool, err error)
	// Txn runs ops in order as one step of the keys' partition, if every
	// watched key is still at its version; otherwise it does nothing and
	// reports aborted. Every key, watched or used, must be in one partition
	// (ErrCrossPartition). An op refused with ErrNotInteger or ErrOverflow
	// reports it in its reply and the others still run, as in Redis; a
	// decrement past its floor refuses the whole transaction with
	// ErrBelowFloor and nothing is applied.
	Txn(ctx context.Context, ns string, watches []Watch, ops []TxnOp) (replies []TxnReply, aborted bool, err error)
}

// Watch is a key a transaction depends on, at the version GetVersion read.
type Watch struct {
	Key     []byte
	Version uint64
}

// TxnOpKind is what a TxnOp does.
type TxnOpKind uint8

const (
	// TxnGet reads Key.
	TxnGet TxnOpKind = iota + 1
	// TxnSet writes Value under Key if Cond holds; ReturnOld asks for the
	// value it replaces (SET ... GET).
	TxnSet
	// TxnDel deletes Keys.
	TxnDel
	// TxnIncrBy adds Delta to the integer under Key; with Floor, a
	// decrement that would leave less than *Floor refuses the transaction.
	TxnIncrBy
)

// TxnOp is one command of a transaction.
type TxnOp struct {
	Kind      TxnOpKind
	Key       []byte   // all but TxnDel
	Keys      [][]byte // TxnDel
	Value     []byte   // TxnSet
	Cond      Cond     // TxnSet
	ReturnOld bool     // TxnSet
	Delta     int64    // TxnIncrBy
	Floor     *int64   // TxnIncrBy
}

// TxnReply is what one TxnOp did.
type TxnReply struct {
	// Err refuses this op alone (ErrNotInteger, ErrOverflow); the other
	// fields are then unset.
	Err error
	// Applied: a TxnSet wrote.
	Applied bool
	// Found: a TxnGet found its key; a TxnSet's key existed before it.
	Found bool
	// Value is what a TxnGet read, or the value a TxnSet with ReturnOld
	// replaced.
	Value []byte
	// N is how many keys a TxnDel removed, or the value a TxnIncrBy left.
	N int64
}
