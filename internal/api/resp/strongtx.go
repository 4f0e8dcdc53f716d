package resp

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pandodb/pando/internal/api"
)

// Transactions in a strong namespace. WATCH reads each key's version
// linearizably; MULTI queues the commands, parsed; EXEC hands them and the
// watched versions to the partition as one transaction, which applies all
// of them in one step of its log if no watched key has changed since, and
// none otherwise (a null reply, Redis's answer to a failed WATCH).
//
// Two departures from Redis, both so that a transfer is never half done: a
// command whose arguments do not parse (a bad amount, an unknown option) is
// refused while queueing and dooms the transaction, where Redis would queue
// it and answer its error inside EXEC's reply; and a DEBIT or other
// decrement past its floor refuses the whole EXEC with -FLOOR, applying
// nothing. An INCR of a value that is not an integer answers its error in
// its place of the reply and the other commands run, as in Redis.

// watchState is the keys a connection watches.
type watchState struct {
	// ns is the namespace of the first WATCH; elsewhere records a WATCH
	// in another one, which no transaction can honour.
	ns        string
	elsewhere bool
	keys      []api.Watch
	seen      map[string]bool
	size      int // bytes of the keys
}

// watchKeys records keys for the next EXEC: in a strong namespace with the
// versions they have now. A key watched already keeps its first version,
// so a write after the first WATCH aborts the transaction, as in Redis.
func (c *conn) watchKeys(keys [][]byte) error {
	w := &c.multi.watch
	sk, strong := c.strong()
	var add []api.Watch
	size := w.size
	for _, k := range keys {
		key, err := c.key(k)
		if err != nil {
			return err
		}
		if !strong || w.seen[string(key)] {
			continue
		}
		if size += len(key); size > c.rd.lim.maxCommand {
			return fmt.Errorf("%w: the watched keys exceed %d bytes", api.ErrRequestTooLarge, c.rd.lim.maxCommand)
		}
		_, version, _, err := sk.GetVersion(c.s.ctx, c.ns, key)
		if err != nil {
			return err
		}
		add = append(add, api.Watch{Key: bytes.Clone(key), Version: version})
	}
	switch {
	case w.ns == "":
		w.ns = c.ns
	case w.ns != c.ns:
		w.elsewhere = true
	}
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	for _, a := range add {
		if !w.seen[string(a.Key)] { // the same key twice in one WATCH
			w.seen[string(a.Key)] = true
			w.keys = append(w.keys, a)
		}
	}
	w.size = size
	return nil
}

// queueStrong parses a command queued in a strong namespace and keeps it.
func (c *conn) queueStrong(name string, args [][]byte) error {
	op, err := c.txnOp(name, args)
	if err != nil {
		return err
	}
	size := 0
	for _, a := range args {
		size += len(a)
	}
	if c.multi.size+size+c.multi.watch.size > c.rd.lim.maxCommand {
		return fmt.Errorf("%w: the transaction's commands exceed %d bytes", api.ErrRequestTooLarge, c.rd.lim.maxCommand)
	}
	c.multi.size += size
	c.multi.ops = append(c.multi.ops, op)
	return nil
}

// txnCommands are the commands a transaction in a strong namespace can
// queue: those its partition's log applies in one step.
var txnCommands = map[string]bool{
	"get": true, "set": true, "del": true, "unlink": true,
	"incr": true, "decr": true, "incrby": true, "decrby": true, "debit": true,
}

// txnOp parses a queued command. Keys and values are copied: the arguments
// alias the reader's buffer, which the next command reuses.
func (c *conn) txnOp(name string, args [][]byte) (api.TxnOp, error) {
	var op api.TxnOp
	if !txnCommands[name] {
		return op, replyError("ERR " + strings.ToUpper(name) + " cannot run inside a transaction in a strong namespace in this version")
	}
	if name != "del" && name != "unlink" {
		key, err := c.key(args[1])
		if err != nil {
			return op, err
		}
		op.Key = bytes.Clone(key)
	}
	var err error
	switch name {
	case "get":
		op.Kind = api.TxnGet
	case "set":
		op.Kind = api.TxnSet
		err = c.txnSet(&op, args)
	case "del", "unlink":
		op.Kind = api.TxnDel
		for _, a := range args[1:] {
			key, err := c.key(a)
			if err != nil {
				return op, err
			}
			op.Keys = append(op.Keys, bytes.Clone(key))
		}
	case "incr", "decr", "incrby", "decrby":
		op.Kind = api.TxnIncrBy
		op.Delta, err = counterDelta(strings.ToUpper(name), args)
	case "debit":
		var amount, floor int64
		amount, floor, err = debitArgs(args)
		op.Kind, op.Delta, op.Floor = api.TxnIncrBy, -amount, &floor
	}
	return op, err
}

// txnSet parses SET key value [NX | XX] [GET]. Expiry is refused, as in
// every strong write of this version.
func (c *conn) txnSet(op *api.TxnOp, args [][]byte) error {
	if err := c.s.cfg.Limits.CheckValue(len(args[2])); err != nil {
		return err
	}
	op.Value = bytes.Clone(args[2])
	for _, a := range args[3:] {
		switch {
		case eq(a, "nx") && op.Cond == api.Always:
			op.Cond = api.IfAbsent
		case eq(a, "xx") && op.Cond == api.Always:
			op.Cond = api.IfPresent
		case eq(a, "get") && !op.ReturnOld:
			op.ReturnOld = true
		case eq(a, "ex"), eq(a, "px"), eq(a, "exat"), eq(a, "pxat"), eq(a, "keepttl"):
			return fmt.Errorf("%w: expiry in strong namespaces is not available in this version (SET with EX, PX, EXAT, PXAT or KEEPTTL inside MULTI); the transaction is discarded", api.ErrUnsupported)
		default:
			return errSyntax
		}
	}
	return nil
}

// execStrong runs the transaction m and writes EXEC's reply.
func (c *conn) execStrong(m multiState) error {
	w := m.watch
	if w.ns != "" && (w.ns != c.ns || w.elsewhere) {
		return replyError(fmt.Sprintf("EXECABORT Transaction discarded: keys were watched in namespace %q, the transaction runs in %q; a transaction and the keys it watches must be in one strong namespace; nothing was applied", w.ns, c.ns))
	}
	if len(m.ops) == 0 && len(w.keys) == 0 {
		c.w.WriteArray(0)
		return nil
	}
	sk, ok := c.strong()
	if !ok {
		return replyError(fmt.Sprintf("EXECABORT Transaction discarded: namespace %q is no longer strong; nothing was applied", c.ns))
	}
	replies, aborted, err := sk.Txn(c.s.ctx, c.ns, w.keys, m.ops)
	if err != nil {
		return err
	}
	if aborted {
		c.w.WriteArray(-1) // a watched key changed: Redis's null reply
		return nil
	}
	c.w.WriteArray(len(replies))
	for i, r := range replies {
		c.writeTxnReply(m.ops[i], r)
	}
	return nil
}

// writeTxnReply writes one command's reply inside EXEC's, as the command
// would have answered on its own.
func (c *conn) writeTxnReply(op api.TxnOp, r api.TxnReply) {
	switch {
	case r.Err != nil:
		c.writeErr(r.Err)
	case op.Kind == api.TxnGet && r.Found:
		c.w.WriteBulk(r.Value)
	case op.Kind == api.TxnGet:
		c.w.WriteNull()
	case op.Kind == api.TxnSet && op.ReturnOld && r.Found:
		c.w.WriteBulk(r.Value)
	case op.Kind == api.TxnSet && (op.ReturnOld || !r.Applied):
		c.w.WriteNull()
	case op.Kind == api.TxnSet:
		c.w.WriteString("OK")
	default: // DEL, the INCR family, DEBIT
		c.w.WriteInt64(r.N)
	}
}
