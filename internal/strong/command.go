package strong

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Errors of a strong partition. The first three are refusals: Apply returns
// them (wrapped) for a command the state forbids, and the command changes
// nothing. Their texts are Redis's where Redis has one.
var (
	// ErrNotInteger refuses INCRBY on a value that is not a base-10 int64
	// in Redis's textual form.
	ErrNotInteger = errors.New("value is not an integer or out of range")
	// ErrOverflow refuses an increment whose result does not fit an int64.
	ErrOverflow = errors.New("increment or decrement would overflow")
	// ErrBelowFloor refuses a decrement whose result would be below the
	// floor the command gave (a debit the account cannot cover).
	ErrBelowFloor = errors.New("value would fall below its floor")
	// ErrBadCommand refuses a command that does not decode.
	ErrBadCommand = errors.New("strong: undecodable command")
	// ErrBadResult is returned by DecodeResult for bytes that are not a
	// result.
	ErrBadResult = errors.New("strong: undecodable result")
	// ErrBadSnapshot refuses a snapshot that does not decode.
	ErrBadSnapshot = errors.New("strong: undecodable snapshot")
	// ErrCorrupt means a stored record or applied index does not decode.
	ErrCorrupt = errors.New("strong: corrupt record")
	// ErrFailed means the machine met a storage error while applying and
	// stopped: applying later commands without that one would part this
	// member from the others. It wraps raftgroup.ErrFatal, so the group
	// stops too. Reopening replays the log from the last durable state.
	ErrFailed = errors.New("strong: machine stopped after a storage failure")
)

// codecVersion is the first byte of every encoded command and result.
const codecVersion = 1

// Kinds of command, and of their results: the byte after the version.
const (
	kindSet    byte = 1
	kindDel    byte = 2
	kindIncrBy byte = 3
	kindCAS    byte = 4
	kindTxn    byte = 5
	kindGet    byte = 6
)

// Command is one entry of a strong partition's log: Set, Del, IncrBy, Get,
// CAS or Txn.
type Command interface {
	// Encode appends the command's encoding to dst.
	Encode(dst []byte) []byte
	kind() byte
	appendBody(dst []byte) []byte
}

// Op is a command that may run inside a Txn: Set, Del, IncrBy or Get.
type Op interface {
	Command
	isOp()
}

// SetCond is when a Set writes.
type SetCond uint8

const (
	Always    SetCond = iota // write in any case
	IfAbsent                 // write only if the key is absent (NX)
	IfPresent                // write only if the key is present (XX)
)

// Set writes Value under Key if Cond holds.
type Set struct {
	Key, Value []byte
	Cond       SetCond
	// Get asks for the old value in the result (SET ... GET).
	Get bool
}

// Del removes Keys.
type Del struct {
	Keys [][]byte
}

// IncrBy adds Delta to the integer stored under Key; an absent key counts
// as 0. With HasFloor, a decrement (Delta < 0) whose result would be below
// Floor is refused (ErrBelowFloor). An increment never is, so a balance
// already below its floor can still be credited. With an ID (a client's
// request id), an IncrBy applied before under the same ID, within the
// machine's window of ids, is not applied again: it answers what it
// answered then.
type IncrBy struct {
	Key      []byte
	Delta    int64
	Floor    int64 // ignored unless HasFloor
	HasFloor bool
	ID       string
}

// Get reads Key. Inside a Txn it sees the writes of the ops before it, so
// that a GET queued after a SET in one MULTI returns what the SET wrote. On
// its own it is a read through the log.
type Get struct {
	Key []byte
}

// CAS replaces Key's value with New, or deletes it, if the key is as
// expected: by version (ExpectedVersion, 0 meaning absent), or by value
// (ExpectedValue, or absent with ExpectAbsent).
type CAS struct {
	Key             []byte
	ByVersion       bool
	ExpectedVersion uint64 // with ByVersion; 0 = must be absent
	ExpectedValue   []byte // without ByVersion, unless ExpectAbsent
	ExpectAbsent    bool   // without ByVersion
	New             []byte // unless Delete
	Delete          bool
}

// Cond is a Txn's condition: Key is at Version (0 = absent).
type Cond struct {
	Key     []byte
	Version uint64
}

// Txn applies Ops in order if every condition holds, and nothing otherwise
// (Redis's WATCH/MULTI/EXEC).
type Txn struct {
	Conds []Cond
	Ops   []Op
}

func (Set) kind() byte    { return kindSet }
func (Del) kind() byte    { return kindDel }
func (IncrBy) kind() byte { return kindIncrBy }
func (Get) kind() byte    { return kindGet }
func (CAS) kind() byte    { return kindCAS }
func (Txn) kind() byte    { return kindTxn }

func (Set) isOp()    {}
func (Del) isOp()    {}
func (IncrBy) isOp() {}
func (Get) isOp()    {}

func (c Set) Encode(dst []byte) []byte    { return encodeCommand(dst, c) }
func (c Del) Encode(dst []byte) []byte    { return encodeCommand(dst, c) }
func (c IncrBy) Encode(dst []byte) []byte { return encodeCommand(dst, c) }
func (c Get) Encode(dst []byte) []byte    { return encodeCommand(dst, c) }
func (c CAS) Encode(dst []byte) []byte    { return encodeCommand(dst, c) }
func (c Txn) Encode(dst []byte) []byte    { return encodeCommand(dst, c) }

func encodeCommand(dst []byte, c Command) []byte {
	return c.appendBody(append(dst, codecVersion, c.kind()))
}

func (c Set) appendBody(dst []byte) []byte {
	dst = appendBytes(dst, c.Key)
	dst = appendBytes(dst, c.Value)
	return append(dst, byte(c.Cond), boolByte(c.Get))
}

func (c Del) appendBody(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(c.Keys)))
	for _, k := range c.Keys {
		dst = appendBytes(dst, k)
	}
	return dst
}

// IncrBy's flags byte: which optional fields follow. (It was a bool for
// HasFloor alone, so older log entries decode alike.)
const (
	incrHasFloor = 1 << iota
	incrHasID
)

func (c IncrBy) appendBody(dst []byte) []byte {
	dst = appendBytes(dst, c.Key)
	dst = binary.AppendVarint(dst, c.Delta)
	var flags byte
	if c.HasFloor {
		flags |= incrHasFloor
	}
	if c.ID != "" {
		flags |= incrHasID
	}
	dst = append(dst, flags)
	if c.HasFloor {
		dst = binary.AppendVarint(dst, c.Floor)
	}
	if c.ID != "" {
		dst = appendBytes(dst, []byte(c.ID))
	}
	return dst
}

func (c Get) appendBody(dst []byte) []byte { return appendBytes(dst, c.Key) }

// CAS flags.
const (
	casByVersion    = 1 << 0
	casExpectAbsent = 1 << 1
	casDelete       = 1 << 2
)

func (c CAS) appendBody(dst []byte) []byte {
	dst = appendBytes(dst, c.Key)
	var flags byte
	switch {
	case c.ByVersion:
		flags |= casByVersion
	case c.ExpectAbsent:
		flags |= casExpectAbsent
	}
	if c.Delete {
		flags |= casDelete
	}
	dst = append(dst, flags)
	switch {
	case c.ByVersion:
		dst = binary.AppendUvarint(dst, c.ExpectedVersion)
	case !c.ExpectAbsent:
		dst = appendBytes(dst, c.ExpectedValue)
	}
	if !c.Delete {
		dst = appendBytes(dst, c.New)
	}
	return dst
}

func (c Txn) appendBody(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(c.Conds)))
	for _, cd := range c.Conds {
		dst = appendBytes(dst, cd.Key)
		dst = binary.AppendUvarint(dst, cd.Version)
	}
	dst = binary.AppendUvarint(dst, uint64(len(c.Ops)))
	for _, op := range c.Ops {
		dst = op.appendBody(append(dst, op.kind()))
	}
	return dst
}

// DecodeCommand decodes an encoded command. The command's byte slices alias
// b. Every command has one encoding: DecodeCommand refuses trailing bytes
// and over-long varints, so Encode gives back b.
func DecodeCommand(b []byte) (Command, error) {
	r := reader{b: b}
	if r.byte() != codecVersion {
		r.bad = true
	}
	var c Command
	switch k := r.byte(); k {
	case kindSet, kindDel, kindIncrBy, kindGet:
		c = r.op(k)
	case kindCAS:
		c = r.cas()
	case kindTxn:
		c = r.txn()
	default:
		r.bad = true
	}
	if !r.end() {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadCommand, len(b))
	}
	return c, nil
}

func (r *reader) op(k byte) Op {
	switch k {
	case kindSet:
		c := Set{Key: r.bytes(), Value: r.bytes(), Cond: SetCond(r.byte()), Get: r.bool()}
		if c.Cond > IfPresent {
			r.bad = true
		}
		return c
	case kindDel:
		n := r.count()
		var c Del
		for range n {
			c.Keys = append(c.Keys, r.bytes())
		}
		return c
	case kindIncrBy:
		c := IncrBy{Key: r.bytes(), Delta: r.varint()}
		flags := r.byte()
		if flags&^(incrHasFloor|incrHasID) != 0 {
			r.bad = true
		}
		if c.HasFloor = flags&incrHasFloor != 0; c.HasFloor {
			c.Floor = r.varint()
		}
		if flags&incrHasID != 0 {
			if c.ID = string(r.bytes()); c.ID == "" {
				r.bad = true // an empty id is encoded as none
			}
		}
		return c
	case kindGet:
		return Get{Key: r.bytes()}
	}
	r.bad = true
	return nil
}

func (r *reader) cas() CAS {
	c := CAS{Key: r.bytes()}
	flags := r.byte()
	if flags&^(casByVersion|casExpectAbsent|casDelete) != 0 || flags&casByVersion != 0 && flags&casExpectAbsent != 0 {
		r.bad = true
	}
	c.ByVersion = flags&casByVersion != 0
	c.ExpectAbsent = flags&casExpectAbsent != 0
	c.Delete = flags&casDelete != 0
	switch {
	case c.ByVersion:
		c.ExpectedVersion = r.uvarint()
	case !c.ExpectAbsent:
		c.ExpectedValue = r.bytes()
	}
	if !c.Delete {
		c.New = r.bytes()
	}
	return c
}

func (r *reader) txn() Txn {
	var c Txn
	for range r.count() {
		c.Conds = append(c.Conds, Cond{Key: r.bytes(), Version: r.uvarint()})
	}
	for range r.count() {
		c.Ops = append(c.Ops, r.op(r.byte()))
		if r.bad {
			break
		}
	}
	return c
}

// Result is what Apply returns for a command, encoded: SetResult,
// DelResult, IncrByResult, GetResult, CASResult or TxnResult.
type Result interface {
	// Encode appends the result's encoding to dst.
	Encode(dst []byte) []byte
	kind() byte
	appendBody(dst []byte) []byte
}

// SetResult is the outcome of a Set.
type SetResult struct {
	Written bool
	// Existed tells whether the key was present before the Set. A blind
	// Set (Always, without Get) does not look, and reports false.
	Existed bool
	// Old is the value before the Set, if the Set asked for it (Get) and
	// the key existed.
	Old []byte
	// Version is the key's version after the Set: the Set's index if it
	// wrote, else the key's current version (0: absent).
	Version uint64
}

// DelResult is the outcome of a Del.
type DelResult struct {
	Deleted int // how many of the keys existed
}

// IncrByResult is the outcome of an IncrBy that was not refused.
type IncrByResult struct {
	Value   int64
	Version uint64
}

// GetResult is the outcome of a Get: the key's value and version, or not
// Found (then Value is nil and Version 0).
type GetResult struct {
	Value   []byte
	Found   bool
	Version uint64
}

// CASResult is the outcome of a CAS.
type CASResult struct {
	Swapped bool
	// Version is the key's version after the CAS: the CAS's index if it
	// wrote, 0 if it deleted; when it did not swap, the key's current
	// version (0: absent).
	Version uint64
	// Value is the key's current value when the CAS did not swap.
	Value []byte
}

// TxnResult is the outcome of a Txn: Aborted if a condition failed (and
// nothing changed), else one OpResult per op, in order.
type TxnResult struct {
	Aborted bool
	Ops     []OpResult
}

// OpResult is the outcome of one op of a Txn: a Result, or Err, a refusal
// of that op alone (ErrNotInteger or ErrOverflow).
type OpResult struct {
	Result Result
	Err    error
}

func (SetResult) kind() byte    { return kindSet }
func (DelResult) kind() byte    { return kindDel }
func (IncrByResult) kind() byte { return kindIncrBy }
func (GetResult) kind() byte    { return kindGet }
func (CASResult) kind() byte    { return kindCAS }
func (TxnResult) kind() byte    { return kindTxn }

func (r SetResult) Encode(dst []byte) []byte    { return encodeResult(dst, r) }
func (r DelResult) Encode(dst []byte) []byte    { return encodeResult(dst, r) }
func (r IncrByResult) Encode(dst []byte) []byte { return encodeResult(dst, r) }
func (r GetResult) Encode(dst []byte) []byte    { return encodeResult(dst, r) }
func (r CASResult) Encode(dst []byte) []byte    { return encodeResult(dst, r) }
func (r TxnResult) Encode(dst []byte) []byte    { return encodeResult(dst, r) }

func encodeResult(dst []byte, r Result) []byte {
	return r.appendBody(append(dst, codecVersion, r.kind()))
}

func (r SetResult) appendBody(dst []byte) []byte {
	dst = append(dst, boolByte(r.Written), boolByte(r.Existed))
	dst = binary.AppendUvarint(dst, r.Version)
	return appendBytes(dst, r.Old)
}

func (r DelResult) appendBody(dst []byte) []byte {
	return binary.AppendUvarint(dst, uint64(r.Deleted))
}

func (r IncrByResult) appendBody(dst []byte) []byte {
	dst = binary.AppendVarint(dst, r.Value)
	return binary.AppendUvarint(dst, r.Version)
}

func (r GetResult) appendBody(dst []byte) []byte {
	dst = append(dst, boolByte(r.Found))
	dst = binary.AppendUvarint(dst, r.Version)
	return appendBytes(dst, r.Value)
}

func (r CASResult) appendBody(dst []byte) []byte {
	dst = append(dst, boolByte(r.Swapped))
	dst = binary.AppendUvarint(dst, r.Version)
	return appendBytes(dst, r.Value)
}

// opErrors are the refusals an OpResult can carry, by their code in an
// encoded TxnResult (0: no error, a result follows).
var opErrors = []error{1: ErrNotInteger, 2: ErrOverflow, 3: ErrBelowFloor}

func (r TxnResult) appendBody(dst []byte) []byte {
	dst = append(dst, boolByte(r.Aborted))
	dst = binary.AppendUvarint(dst, uint64(len(r.Ops)))
	for _, o := range r.Ops {
		if o.Err != nil {
			dst = append(dst, opErrorCode(o.Err))
			continue
		}
		dst = append(dst, 0, o.Result.kind())
		dst = o.Result.appendBody(dst)
	}
	return dst
}

func opErrorCode(err error) byte {
	for code, e := range opErrors {
		if e != nil && errors.Is(err, e) {
			return byte(code)
		}
	}
	// The machine gives an op no other error: this is a bug, not input.
	panic(fmt.Sprintf("strong: an op result cannot carry error %v", err))
}

// DecodeResult decodes an encoded result. Its byte slices alias b.
func DecodeResult(b []byte) (Result, error) {
	r := reader{b: b}
	if r.byte() != codecVersion {
		r.bad = true
	}
	res := r.result(r.byte())
	if !r.end() {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadResult, len(b))
	}
	return res, nil
}

func (r *reader) result(k byte) Result {
	switch k {
	case kindSet:
		return SetResult{Written: r.bool(), Existed: r.bool(), Version: r.uvarint(), Old: r.bytes()}
	case kindDel:
		n := r.uvarint()
		if n > math.MaxInt {
			r.bad = true
		}
		return DelResult{Deleted: int(n)}
	case kindIncrBy:
		return IncrByResult{Value: r.varint(), Version: r.uvarint()}
	case kindGet:
		res := GetResult{Found: r.bool(), Version: r.uvarint(), Value: r.bytes()}
		// A present key has a version (indexes start at 1); an absent one
		// has neither version nor value.
		if res.Found != (res.Version != 0) || !res.Found && res.Value != nil {
			r.bad = true
		}
		return res
	case kindCAS:
		return CASResult{Swapped: r.bool(), Version: r.uvarint(), Value: r.bytes()}
	case kindTxn:
		res := TxnResult{Aborted: r.bool()}
		n := r.count()
		if res.Aborted && n > 0 {
			r.bad = true
		}
		for range n {
			code := r.byte()
			switch {
			case code == 0:
				switch k := r.byte(); k {
				case kindSet, kindDel, kindIncrBy, kindGet:
					res.Ops = append(res.Ops, OpResult{Result: r.result(k)})
				default:
					r.bad = true
				}
			case int(code) < len(opErrors):
				res.Ops = append(res.Ops, OpResult{Err: opErrors[code]})
			default:
				r.bad = true
			}
			if r.bad {
				break
			}
		}
		return res
	}
	r.bad = true
	return nil
}

// reader decodes the fields of an encoding. Once a field is missing or
// malformed, bad is set and every later read returns zero values.
type reader struct {
	b   []byte
	bad bool
}

// end reports whether everything decoded and nothing is left over.
func (r *reader) end() bool { return !r.bad && len(r.b) == 0 }

func (r *reader) byte() byte {
	if r.bad || len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.bad = true
	return false
}

// uvarint reads a varint in its shortest form.
func (r *reader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 || n != uvarintLen(x) {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return x
}

// varint reads a zig-zag varint, as binary.AppendVarint writes it.
func (r *reader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// count reads a number of items, each at least one byte long: more than
// the bytes left is malformed, so a short input cannot ask for a large
// allocation.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad = true
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed byte string, aliasing the input; an empty
// one is nil.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	if n == 0 {
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

func appendBytes(dst, s []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
