package resp

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pandodb/pando/internal/api"
)

// Everyday Redis commands that are other commands under another name or
// shape (UNLINK, GETSET, SETEX, PSETEX, GETEX), or small reads (STRLEN,
// TIME, KEYS), and the counter commands an eventual bytes namespace cannot
// honour (INCR and family), which refuse with a reason instead of
// "unknown command".

// cmdGetSet: GETSET key value, SET key value GET under its older name.
func cmdGetSet(c *conn, args [][]byte) error {
	return cmdSet(c, [][]byte{args[0], args[1], args[2], []byte("get")})
}

// setexCmd builds SETEX key seconds value and PSETEX key milliseconds
// value: SET key value EX|PX time.
func setexCmd(unit string) func(*conn, [][]byte) error {
	return func(c *conn, args [][]byte) error {
		n, err := parseInt(args[2])
		if err != nil {
			return err
		}
		if n <= 0 {
			return replyError("ERR invalid expire time in '" + strings.ToLower(string(args[0])) + "' command")
		}
		return cmdSet(c, [][]byte{args[0], args[1], args[3], []byte(unit), args[2]})
	}
}

// cmdGetEx: GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]. Returns
// the value and changes the key's expiry, as two operations: a write
// between them is not excluded, as nothing is in an eventual namespace.
func cmdGetEx(c *conn, args [][]byte) error {
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	var at int64
	cond, change := api.ExpireAlways, false
	switch {
	case len(args) == 2:
	case len(args) == 3 && eq(args[2], "persist"):
		cond, change = api.ExpireIfSome, true
	case len(args) == 4 && (eq(args[2], "ex") || eq(args[2], "px") || eq(args[2], "exat") || eq(args[2], "pxat")):
		if at, err = c.expiryArg(args[2], args[3], "getex"); err != nil {
			return err
		}
		change = true
	default:
		return errSyntax
	}
	e, found, err := c.lookup(key)
	if err != nil || !found {
		if err == nil {
			c.w.WriteNull()
		}
		return err
	}
	if change {
		if _, err := c.s.cfg.KV.SetExpiry(c.s.ctx, c.ns, key, at, cond, c.wo); err != nil {
			return err
		}
	}
	c.w.WriteBulk(e.Value)
	return nil
}

func cmdStrlen(c *conn, args [][]byte) error {
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	e, _, err := c.lookup(key)
	if err != nil {
		return err
	}
	c.w.WriteInt(len(e.Value))
	return nil
}

// cmdTime: the node's clock, as seconds and microseconds.
func cmdTime(c *conn, args [][]byte) error {
	now := c.s.cfg.Clock.Now()
	c.w.WriteArray(2)
	c.w.WriteBulkString(strconv.FormatInt(now.Unix(), 10))
	c.w.WriteBulkString(strconv.Itoa(now.Nanosecond() / 1000))
	return nil
}

// maxKeysExamined bounds KEYS: past it, KEYS refuses and points to SCAN.
const maxKeysExamined = 100_000

// cmdKeys: KEYS pattern, walked with SCAN's cursor over the namespace and
// bounded, since it holds every match in one reply.
func cmdKeys(c *conn, args [][]byte) error {
	pattern := args[1]
	var match func([]byte) bool
	if string(pattern) != "*" {
		match = func(k []byte) bool { return globMatch(pattern, k) }
	}
	var keys [][]byte
	var cursor uint64
	for examined := 0; ; {
		page, err := c.s.cfg.KV.Scan(c.s.ctx, c.ns, cursor, 1000, match)
		if err != nil {
			return err
		}
		keys = append(keys, page.Keys...)
		examined += 1000
		if page.Next == 0 {
			break
		}
		if examined >= maxKeysExamined {
			return replyError("ERR KEYS stopped after examining " + strconv.Itoa(maxKeysExamined) + " keys of this namespace; walk it with SCAN cursor MATCH pattern instead")
		}
		cursor = page.Next
	}
	c.w.WriteArray(len(keys))
	for _, k := range keys {
		c.w.WriteBulk(k)
	}
	return nil
}

// cmdCounter answers INCR, DECR, INCRBY and DECRBY: linearizable
// read-modify-writes in a strong namespace, refused with the reason in an
// eventual one. INCRBYFLOAT is refused everywhere.
func cmdCounter(c *conn, args [][]byte) error {
	name := strings.ToUpper(string(args[0]))
	if c.nsType() == api.TypeCounter && name != "INCRBYFLOAT" {
		delta, err := counterDelta(name, args)
		if err != nil {
			return err
		}
		res, err := c.update(api.TypeCounter, args[1], api.Op{Kind: api.OpIncrement, Delta: delta})
		if err != nil {
			return err
		}
		c.w.WriteInt64(res.N)
		return nil
	}
	sk, ok := c.strong()
	if !ok || name == "INCRBYFLOAT" {
		return replyError("ERR " + name + " is not available in namespace '" + c.ns + "': it holds plain values with eventual consistency, where two concurrent increments would lose one; counters need a counter namespace (pando ns create NAME --type counter), or a strong one")
	}
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	delta, err := counterDelta(name, args)
	if err != nil {
		return err
	}
	n, err := sk.IncrBy(c.s.ctx, c.ns, key, delta, nil, c.wo.RequestID)
	if err != nil {
		return err
	}
	c.w.WriteInt64(n)
	return nil
}

// counterDelta is what INCR, DECR, INCRBY or DECRBY (name, upper case)
// adds.
func counterDelta(name string, args [][]byte) (int64, error) {
	delta := int64(1)
	if len(args) == 3 {
		var err error
		if delta, err = parseInt(args[2]); err != nil {
			return 0, err
		}
	}
	if name == "DECR" || name == "DECRBY" {
		if delta == math.MinInt64 {
			return 0, replyError("ERR decrement would overflow")
		}
		delta = -delta
	}
	return delta, nil
}

// cmdDebit: DEBIT key amount [FLOOR floor]. Takes amount (>= 0) from the
// integer under key unless that would leave less than floor (default 0),
// and answers the new value, or -FLOOR and changes nothing: the bank debit
// that never overdraws, linearizable in a strong namespace.
func cmdDebit(c *conn, args [][]byte) error {
	sk, ok := c.strong()
	if !ok {
		return replyError("ERR DEBIT needs a strong namespace; '" + c.ns + "' is eventual, where two debits on either side of a partition could both pass")
	}
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	amount, floor, err := debitArgs(args)
	if err != nil {
		return err
	}
	n, err := sk.IncrBy(c.s.ctx, c.ns, key, -amount, &floor, c.wo.RequestID)
	if err != nil {
		return err
	}
	c.w.WriteInt64(n)
	return nil
}

// debitArgs parses DEBIT's amount and floor.
func debitArgs(args [][]byte) (amount, floor int64, err error) {
	if amount, err = parseInt(args[2]); err != nil {
		return 0, 0, err
	}
	if amount < 0 {
		return 0, 0, replyError("ERR DEBIT takes an amount of 0 or more; credit with INCRBY")
	}
	switch {
	case len(args) == 5 && eq(args[3], "floor"):
		if floor, err = parseInt(args[4]); err != nil {
			return 0, 0, err
		}
	case len(args) != 3:
		return 0, 0, errSyntax
	}
	return amount, floor, nil
}

// cmdCAS: CAS key expected new. Sets key to new if it holds expected, and
// answers 1; else answers 0 and changes nothing. CASNX key new does the
// same for a key that must be absent. Strong namespaces only.
func cmdCAS(c *conn, args [][]byte) error {
	sk, ok := c.strong()
	if !ok {
		return replyError("ERR " + strings.ToUpper(string(args[0])) + " needs a strong namespace; '" + c.ns + "' is eventual, where a compare-and-set cannot be exact")
	}
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	var expected []byte
	value := args[len(args)-1]
	if len(args) == 4 {
		expected = args[2]
	}
	if err := c.s.cfg.Limits.CheckValue(len(value)); err != nil {
		return err
	}
	swapped, _, _, err := sk.CompareAndSwap(c.s.ctx, c.ns, key, expected, value)
	if err != nil {
		return err
	}
	c.w.WriteInt(boolInt(swapped))
	return nil
}

// strong returns the KV's strong operations if the connection's namespace
// is strong.
func (c *conn) strong() (api.Strong, bool) {
	sk, ok := c.s.cfg.KV.(api.Strong)
	if !ok || c.s.cfg.Catalog == nil {
		return nil, false
	}
	info, found := c.s.cfg.Catalog.Namespace(c.ns)
	return sk, found && info.Strong
}

// flushCmd builds FLUSHDB [ASYNC | SYNC] (the connection's namespace) and
// FLUSHALL (every namespace): a truncation decided once through the
// metadata log, never a tombstone per key. The records are hidden at once
// and their space reclaimed in the background, so ASYNC and SYNC behave
// alike.
func flushCmd(all bool) func(*conn, [][]byte) error {
	return func(c *conn, args [][]byte) error {
		if len(args) > 2 || (len(args) == 2 && !eq(args[1], "async") && !eq(args[1], "sync")) {
			return errSyntax
		}
		f := c.s.cfg.Flusher
		if f == nil {
			return fmt.Errorf("%w: this node cannot empty namespaces", api.ErrUnsupported)
		}
		names := []string{c.ns}
		if all {
			names = f.Namespaces()
		}
		for _, ns := range names {
			if err := f.Truncate(c.s.ctx, ns); err != nil {
				return err
			}
		}
		c.w.WriteString("OK")
		return nil
	}
}
