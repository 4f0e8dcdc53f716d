package resp

import (
	"fmt"

	"github.com/pandodb/pando/internal/api"
)

// Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH follow Redis's
// protocol (MULTI answers +OK, each command after it +QUEUED, EXEC the
// array of replies), so that clients' transaction APIs (go-redis
// TxPipelined, redis-py pipeline(transaction=True), ioredis multi().exec())
// see a faithful answer.
//
// A strong namespace runs them (strongtx.go): the queued commands become
// one command of the partition's Raft log, conditioned on the versions
// WATCH read. An eventual namespace cannot isolate a transaction, so EXEC
// there discards it: -EXECABORT, and nothing queued is applied; the queue
// keeps only the commands' number.
//
// As in Redis, a command refused while queueing (unknown, wrong number of
// arguments, too large) answers its error and makes EXEC abort the whole
// transaction.

// multiState is a connection's transaction in progress, and the keys it
// watches.
type multiState struct {
	active bool
	queued int
	// failed: a command was refused while queueing.
	failed bool
	// strong: MULTI ran in a strong namespace, so the queued commands are
	// kept, parsed, in ops, with the bytes of their arguments in size.
	strong bool
	ops    []api.TxnOp
	size   int
	// watch outlives MULTI; EXEC, DISCARD and UNWATCH clear it.
	watch watchState
}

// txControl names the commands that act on the transaction itself and so
// run at once inside MULTI rather than being queued.
var txControl = map[string]bool{"exec": true, "discard": true, "multi": true, "watch": true, "unwatch": true, "quit": true}

// queue answers a command sent inside MULTI: +QUEUED, or its error, which
// dooms the transaction.
func (c *conn) queue(def *command, cmd *Command) {
	err := c.check(def, cmd)
	if err == nil && c.multi.strong {
		err = c.queueStrong(def.name, cmd.Args)
	}
	if err != nil {
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
	_, strong := c.strong()
	c.multi = multiState{active: true, strong: strong, watch: c.multi.watch}
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
	case m.strong:
		return c.execStrong(m)
	case m.queued == 0:
		c.w.WriteArray(0)
		return nil
	}
	return replyError(fmt.Sprintf("EXECABORT Transaction discarded: namespace %q is eventual, where a transaction cannot be isolated; nothing of its %d commands was applied (transactions run in strong namespaces)", c.ns, m.queued))
}

func cmdDiscard(c *conn, args [][]byte) error {
	if !c.multi.active {
		return replyError("ERR DISCARD without MULTI")
	}
	c.multi = multiState{}
	c.w.WriteString("OK")
	return nil
}

// cmdWatch records the keys' versions in a strong namespace. In an
// eventual one the EXEC that follows is refused whatever the keys do, so
// only the namespace is noted.
func cmdWatch(c *conn, args [][]byte) error {
	if c.multi.active {
		return replyError("ERR WATCH inside MULTI is not allowed")
	}
	if err := c.watchKeys(args[1:]); err != nil {
		return err
	}
	c.w.WriteString("OK")
	return nil
}

// cmdUnwatch forgets the watched keys. Inside MULTI it keeps them: Redis
// queues UNWATCH there and runs it only after EXEC has checked them.
func cmdUnwatch(c *conn, args [][]byte) error {
	if !c.multi.active {
		c.multi.watch = watchState{}
	}
	c.w.WriteString("OK")
	return nil
}
