package resp

import "fmt"

// Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH follow Redis's
// protocol (MULTI answers +OK, each command after it +QUEUED, EXEC the
// array of replies), so that clients' transaction APIs (go-redis
// TxPipelined, redis-py pipeline(transaction=True), ioredis multi().exec())
// see a faithful answer. An eventual namespace cannot isolate a
// transaction, so EXEC there discards it: -EXECABORT, and nothing queued is
// applied. Strong namespaces, a later release, will run them.
//
// As in Redis, a command refused while queueing (unknown, wrong number of
// arguments, too large) answers its error and makes EXEC abort the whole
// transaction. Queued commands are never run, so the queue keeps only their
// number.

// multiState is a connection's transaction in progress.
type multiState struct {
	active bool
	queued int
	// failed: a command was refused while queueing.
	failed bool
}

// txControl names the commands that act on the transaction itself and so
// run at once inside MULTI rather than being queued.
var txControl = map[string]bool{"exec": true, "discard": true, "multi": true, "watch": true, "unwatch": true, "quit": true}

// queue answers a command sent inside MULTI: +QUEUED, or its error, which
// dooms the transaction.
func (c *conn) queue(def *command, cmd *Command) {
	if err := c.check(def, cmd); err != nil {
		c.multi.failed = true
		c.writeErr(err)
		return
	}
	c.multi.queued++
	c.w.WriteString("QUEUED")
}

func cmdMulti(c *conn, args [][]byte) error {
	if c.multi.active {
		return replyError("ERR MULTI calls can not be nested")
	}
	c.multi = multiState{active: true}
	c.w.WriteString("OK")
	return nil
}

func cmdExec(c *conn, args [][]byte) error {
	if !c.multi.active {
		return replyError("ERR EXEC without MULTI")
	}
	m := c.multi
	c.multi = multiState{}
	switch {
	case m.failed:
		return replyError("EXECABORT Transaction discarded because of previous errors.")
	case m.queued == 0:
		c.w.WriteArray(0)
		return nil
	}
	return replyError(fmt.Sprintf("EXECABORT Transaction discarded: namespace %q is eventual, where a transaction cannot be isolated; nothing of its %d commands was applied (transactions will run in strong namespaces)", c.ns, m.queued))
}

func cmdDiscard(c *conn, args [][]byte) error {
	if !c.multi.active {
		return replyError("ERR DISCARD without MULTI")
	}
	c.multi = multiState{}
	c.w.WriteString("OK")
	return nil
}

// cmdWatch accepts the keys: the EXEC that follows is refused in an
// eventual namespace whatever they do, so there is nothing to track yet.
func cmdWatch(c *conn, args [][]byte) error {
	if c.multi.active {
		return replyError("ERR WATCH inside MULTI is not allowed")
	}
	c.w.WriteString("OK")
	return nil
}

func cmdUnwatch(c *conn, args [][]byte) error {
	c.w.WriteString("OK")
	return nil
}
