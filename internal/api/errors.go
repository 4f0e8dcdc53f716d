package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// The errors a client can see. Their text is stable: clients and scripts
// match on it.
var (
	ErrNotFound      = errors.New("not found")
	ErrKeyTooLarge   = errors.New("key too large")
	ErrValueTooLarge = errors.New("value too large")
	// ErrRequestTooLarge is a request whose arguments together exceed what
	// the server holds in memory for one request.
	ErrRequestTooLarge = errors.New("request too large")
	ErrEmptyKey        = errors.New("empty key")
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNoNamespace is a namespace that does not exist.
	ErrNoNamespace = errors.New("no such namespace")
	// ErrTooManySiblings refuses a write that would give a key more
	// concurrent values than its namespace allows.
	ErrTooManySiblings = errors.New("too many siblings")
	// ErrSiblings refuses an operation that needs one value (EXPIRE on a key
	// with concurrent values).
	ErrSiblings = errors.New("key has concurrent values")
	// ErrExists is a definition that exists already, differently.
	ErrExists = errors.New("already exists")
	// ErrUnsupported is a feature this version does not have.
	ErrUnsupported = errors.New("not supported")
	ErrUnavailable = errors.New("unavailable")
	// ErrOutcomeUnknown is a write that was handed on and got no answer in
	// time: it may have been applied, and may yet be.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrNotInteger and ErrOverflow refuse an increment, with Redis's texts.
	ErrNotInteger = errors.New("value is not an integer or out of range")
	// ErrHashNotInteger refuses HINCRBY of a map field holding a string.
	ErrHashNotInteger = errors.New("hash value is not an integer")
	ErrOverflow       = errors.New("increment or decrement would overflow")
	// ErrBelowFloor refuses a decrement that would take a value below the
	// floor its command gave.
	ErrBelowFloor   = errors.New("below floor: the decrement would take the value under its floor; nothing was changed")
	ErrShuttingDown = errors.New("node is shutting down")
	// ErrNoSpace refuses a write: the node's disk is full or nearly, and
	// it takes no writes until there is room again. Reads still work.
	ErrNoSpace = errors.New("no space")
	// ErrDiskFailed refuses a write: the node's disk failed a write.
	ErrDiskFailed = errors.New("disk failed")
	// ErrCrossPartition refuses a transaction whose keys are in more than
	// one partition: one partition's log orders it. Redis answers the same
	// case with CROSSSLOT, which clients know.
	ErrCrossPartition = errors.New("Keys in request are not in the same partition")
	// ErrConditionFailed refuses a write whose precondition (HTTP If-Match,
	// If-None-Match) did not hold.
	ErrConditionFailed = errors.New("condition failed")
	// ErrWrongType is an operation on a key of another type (SADD in a
	// counter namespace, GET in a set one), with Redis's text.
	ErrWrongType = errors.New("Operation against a key holding the wrong kind of value")
)

// Description is how an error appears on the wire.
type Description struct {
	// Code is a stable machine-readable name, used in HTTP JSON errors.
	Code string
	// Status is the HTTP status.
	Status int
	// RESPPrefix is the first word of the Redis error reply (ERR,
	// UNAVAILABLE, ...).
	RESPPrefix string
	// Message is the human-readable text.
	Message string
}

// errorTable maps each sentinel to its wire form. The first match wins.
var errorTable = []struct {
	err    error
	code   string
	status int
	prefix string
}{
	{ErrNotFound, "not_found", http.StatusNotFound, "ERR"},
	{ErrKeyTooLarge, "key_too_large", http.StatusRequestEntityTooLarge, "ERR"},
	{ErrValueTooLarge, "value_too_large", http.StatusRequestEntityTooLarge, "ERR"},
	{ErrRequestTooLarge, "request_too_large", http.StatusRequestEntityTooLarge, "ERR"},
	{ErrEmptyKey, "empty_key", http.StatusBadRequest, "ERR"},
	{ErrInvalidArgument, "invalid_argument", http.StatusBadRequest, "ERR"},
	{ErrNoNamespace, "no_namespace", http.StatusNotFound, "ERR"},
	{ErrTooManySiblings, "too_many_siblings", http.StatusConflict, "SIBLINGS"},
	{ErrSiblings, "siblings", http.StatusConflict, "SIBLINGS"},
	{ErrExists, "exists", http.StatusConflict, "ERR"},
	{ErrUnsupported, "unsupported", http.StatusNotImplemented, "ERR"},
	{ErrUnavailable, "unavailable", http.StatusServiceUnavailable, "UNAVAILABLE"},
	{ErrShuttingDown, "shutting_down", http.StatusServiceUnavailable, "UNAVAILABLE"},
	{ErrNoSpace, "no_space", http.StatusInsufficientStorage, "NOSPACE"},
	{ErrDiskFailed, "io_error", http.StatusServiceUnavailable, "IOERR"},
	{ErrOutcomeUnknown, "outcome_unknown", http.StatusGatewayTimeout, "UNKNOWN"},
	{ErrNotInteger, "not_integer", http.StatusConflict, "ERR"},
	{ErrHashNotInteger, "not_integer", http.StatusConflict, "ERR"},
	{ErrOverflow, "overflow", http.StatusConflict, "ERR"},
	{ErrBelowFloor, "below_floor", http.StatusConflict, "FLOOR"},
	{ErrCrossPartition, "cross_partition", http.StatusBadRequest, "CROSSSLOT"},
	{ErrConditionFailed, "condition_failed", http.StatusPreconditionFailed, "ERR"},
	{ErrWrongType, "wrong_type", http.StatusConflict, "WRONGTYPE"},
	{context.DeadlineExceeded, "timeout", http.StatusGatewayTimeout, "TIMEOUT"},
}

// Describe returns the wire form of err. Errors outside the table are
// internal: the client sees their text with code "internal".
func Describe(err error) Description {
	msg := err.Error()
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return Description{Code: row.code, Status: row.status, RESPPrefix: row.prefix, Message: msg}
		}
	}
	return Description{Code: "internal", Status: http.StatusInternalServerError, RESPPrefix: "ERR", Message: "internal error: " + msg}
}

// RESP returns the Redis error reply text (without the leading '-'): a prefix
// word, then the message, on one line.
func (d Description) RESP() string {
	msg := strings.NewReplacer("\r", " ", "\n", " ").Replace(d.Message)
	// The message starts with the sentinel's own words; don't repeat them.
	switch d.RESPPrefix {
	case "UNAVAILABLE", "TIMEOUT":
		msg = strings.TrimPrefix(msg, "unavailable: ")
	case "UNKNOWN":
		msg = strings.TrimPrefix(msg, ErrOutcomeUnknown.Error()+": ")
	case "FLOOR":
		msg = strings.TrimPrefix(msg, "below floor: ")
	case "NOSPACE":
		msg = strings.TrimPrefix(msg, ErrNoSpace.Error()+": ")
	case "IOERR":
		msg = strings.TrimPrefix(msg, ErrDiskFailed.Error()+": ")
	}
	return d.RESPPrefix + " " + msg
}
