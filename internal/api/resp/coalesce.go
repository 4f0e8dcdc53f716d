package resp

import (
	"time"

	"github.com/pandodb/pando/internal/api"
)

// Pipelined plain SETs (SET key value, no options) on one connection commit
// together: one synced batch, one fsync, then one +OK each, in order. A
// pipeline of 16 SETs costs one durable write instead of 16. The batch is
// answered before any other command of the connection runs, so a GET after a
// SET in the same pipeline sees it, and replies keep the command order.
const (
	maxCoalesced      = 1024
	maxCoalescedBytes = 4 << 20
)

// pendingSet locates one held SET in conn.setsBuf: key is buf[k:v], value is
// buf[v:end].
type pendingSet struct{ k, v, end int }

// coalesce holds cmd for the pending batch if it is a plain SET that passes
// the limits, and more commands are already buffered or a batch is pending.
func (c *conn) coalesce(cmd *Command) bool {
	a := cmd.Args
	if len(a) != 3 || cmd.Oversized != 0 || !eq(a[0], "set") {
		return false
	}
	if len(c.sets) == 0 && c.br.Buffered() == 0 {
		return false // a lone SET: nothing to gain
	}
	if c.s.cfg.Auth != nil && c.authorize(c.s.commands["set"]) != nil {
		return false // dispatch refuses it
	}
	lim := c.s.cfg.Limits
	if lim.CheckKey(a[1]) != nil || lim.CheckValue(len(a[2])) != nil {
		return false // let the command report its own error
	}
	// Copy: the arguments alias the reader's buffer, which the next command
	// reuses.
	k := len(c.setsBuf)
	c.setsBuf = append(c.setsBuf, a[1]...)
	v := len(c.setsBuf)
	c.setsBuf = append(c.setsBuf, a[2]...)
	c.sets = append(c.sets, pendingSet{k, v, len(c.setsBuf)})
	return true
}

// setsFull reports whether the pending batch should commit now.
func (c *conn) setsFull() bool {
	return len(c.sets) >= maxCoalesced || len(c.setsBuf) >= maxCoalescedBytes
}

// flushSets commits the pending SETs and writes their replies.
func (c *conn) flushSets() {
	if len(c.sets) == 0 {
		return
	}
	start := time.Now()
	kvs := make([]api.KeyValue, len(c.sets))
	for i, p := range c.sets {
		kvs[i] = api.KeyValue{Key: c.setsBuf[p.k:p.v], Value: c.setsBuf[p.v:p.end]}
	}
	err := c.s.cfg.KV.PutMany(c.s.ctx, c.ns, kvs, c.wo)
	m := c.s.commands["set"].metrics
	for range c.sets {
		if err != nil {
			c.writeErr(err)
		} else {
			c.w.WriteString("OK")
		}
		m.Observe(start, err != nil)
	}
	c.sets = c.sets[:0]
	if cap(c.setsBuf) > 2*maxCoalescedBytes {
		c.setsBuf = nil
	} else {
		c.setsBuf = c.setsBuf[:0]
	}
}
