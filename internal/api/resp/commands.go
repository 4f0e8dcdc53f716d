package resp

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pandodb/pando/internal/api"
)

// command is one entry of the command table.
type command struct {
	name string
	// arity is Redis's: positive means exactly that many arguments (the
	// name included), negative means at least -arity.
	arity int
	flags []string
	// firstKey, lastKey and step locate the key arguments (COMMAND INFO).
	firstKey, lastKey, step int
	summary                 string
	run                     func(c *conn, args [][]byte) error
	metrics                 *api.CommandMetrics
	perm                    perm // what it needs (auth.go)
}

// replyError is an error whose text is sent verbatim: Redis's own messages
// ("ERR syntax error"), which clients match on.
type replyError string

func (e replyError) Error() string { return string(e) }

const (
	errSyntax    replyError = "ERR syntax error"
	errNotInt    replyError = "ERR value is not an integer or out of range"
	errBadCursor replyError = "ERR invalid cursor"
)

func wrongArity(name string) error {
	return replyError("ERR wrong number of arguments for '" + name + "' command")
}

func commandTable(m *api.Metrics) map[string]*command {
	list := []*command{
		{name: "ping", arity: -1, flags: []string{"fast"}, summary: "Returns PONG, or the argument.", run: cmdPing},
		{name: "echo", arity: 2, flags: []string{"fast"}, summary: "Returns the argument.", run: cmdEcho},
		{name: "hello", arity: -1, flags: []string{"fast", "noauth"}, summary: "Handshake: replies with server facts in RESP2.", run: cmdHello},
		{name: "auth", arity: -2, flags: []string{"noscript", "loading", "stale", "fast", "noauth"}, summary: "Authenticates the connection: AUTH [user] password.", run: cmdAuth},
		{name: "select", arity: 2, flags: []string{"fast"}, summary: "Selects the namespace with this number (0 is default).", run: cmdSelect},
		{name: "namespace", arity: -1, flags: []string{"fast"}, summary: "Switches the connection's namespace, or names it.", run: cmdNamespace},
		{name: "consistency", arity: -1, flags: []string{"fast"}, summary: "Sets the connection's read and write levels: one, quorum, all or a number.", run: cmdConsistency},
		{name: "siblings", arity: 2, flags: []string{"readonly"}, firstKey: 1, lastKey: 1, step: 1, summary: "Returns a key's context and all its concurrent values.", run: cmdSiblings},
		{name: "putctx", arity: -4, flags: []string{"write"}, firstKey: 1, lastKey: 1, step: 1, summary: "Writes a value superseding the versions a context covers.", run: cmdPutCtx},
		{name: "delctx", arity: 3, flags: []string{"write"}, firstKey: 1, lastKey: 1, step: 1, summary: "Deletes the versions a context covers.", run: cmdDelCtx},
		{name: "quit", arity: -1, flags: []string{"fast"}, summary: "Closes the connection.", run: cmdQuit},
		{name: "get", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Returns the value of a key.", run: cmdGet},
		{name: "set", arity: -3, flags: []string{"write"}, firstKey: 1, lastKey: 1, step: 1, summary: "Sets a key's value, with optional expiry and condition.", run: cmdSet},
		{name: "setnx", arity: 3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Sets a key's value only if it does not exist.", run: cmdSetNX},
		{name: "getdel", arity: 2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Returns a key's value and deletes the key.", run: cmdGetDel},
		{name: "mget", arity: -2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: -1, step: 1, summary: "Returns the values of several keys.", run: cmdMGet},
		{name: "mset", arity: -3, flags: []string{"write"}, firstKey: 1, lastKey: -1, step: 2, summary: "Sets several keys at once.", run: cmdMSet},
		{name: "del", arity: -2, flags: []string{"write"}, firstKey: 1, lastKey: -1, step: 1, summary: "Deletes keys; returns how many existed.", run: cmdDel},
		{name: "exists", arity: -2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: -1, step: 1, summary: "Counts the given keys that exist.", run: cmdExists},
		{name: "type", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Returns the type of a key's value.", run: cmdType},
		{name: "expire", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Sets a key's time to live in seconds.", run: expireCmd(time.Second, false)},
		{name: "pexpire", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Sets a key's time to live in milliseconds.", run: expireCmd(time.Millisecond, false)},
		{name: "expireat", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Sets a key's expiry as a Unix time in seconds.", run: expireCmd(time.Second, true)},
		{name: "pexpireat", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Sets a key's expiry as a Unix time in milliseconds.", run: expireCmd(time.Millisecond, true)},
		{name: "ttl", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Returns a key's time to live in seconds.", run: ttlCmd(time.Second)},
		{name: "pttl", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Returns a key's time to live in milliseconds.", run: ttlCmd(time.Millisecond)},
		{name: "persist", arity: 2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Removes a key's expiry.", run: cmdPersist},
		{name: "scan", arity: -2, flags: []string{"readonly"}, summary: "Iterates over the keys of the namespace.", run: cmdScan},
		{name: "dbsize", arity: 1, flags: []string{"readonly"}, summary: "Counts the keys of the namespace (reads them all).", run: cmdDBSize},
		{name: "info", arity: -1, flags: []string{"loading", "stale"}, summary: "Returns facts about the server.", run: cmdInfo},
		{name: "config", arity: -2, flags: []string{"admin"}, summary: "CONFIG GET: reads settings.", run: cmdConfig},
		{name: "command", arity: -1, flags: []string{"loading", "stale"}, summary: "Describes the commands.", run: cmdCommand},
		{name: "client", arity: -2, flags: []string{"fast"}, summary: "CLIENT SETNAME, GETNAME, SETINFO, ID, INFO, LIST.", run: cmdClient},
		{name: "unlink", arity: -2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: -1, step: 1, summary: "Deletes keys (as DEL); returns how many existed.", run: cmdDel},
		{name: "getset", arity: 3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Sets a key's value and returns the old one (SET ... GET).", run: cmdGetSet},
		{name: "setex", arity: 4, flags: []string{"write"}, firstKey: 1, lastKey: 1, step: 1, summary: "Sets a value with a time to live in seconds.", run: setexCmd("ex")},
		{name: "psetex", arity: 4, flags: []string{"write"}, firstKey: 1, lastKey: 1, step: 1, summary: "Sets a value with a time to live in milliseconds.", run: setexCmd("px")},
		{name: "getex", arity: -2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Returns a key's value and changes its expiry.", run: cmdGetEx},
		{name: "strlen", arity: 2, flags: []string{"readonly", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Returns the length of a key's value.", run: cmdStrlen},
		{name: "time", arity: 1, flags: []string{"loading", "stale", "fast"}, summary: "Returns the node's time: seconds and microseconds.", run: cmdTime},
		{name: "keys", arity: 2, flags: []string{"readonly"}, summary: "Returns the keys matching a pattern (bounded; use SCAN for large namespaces).", run: cmdKeys},
		{name: "flushdb", arity: -1, flags: []string{"write"}, summary: "Empties the connection's namespace (a truncation through the metadata log).", run: flushCmd(false)},
		{name: "flushall", arity: -1, flags: []string{"write"}, summary: "Empties every namespace.", run: flushCmd(true)},
		{name: "incr", arity: 2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Counter namespaces: adds 1. Strong namespaces: adds 1, linearizably.", run: cmdCounter},
		{name: "decr", arity: 2, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Counter namespaces: takes 1. Strong namespaces: takes 1, linearizably.", run: cmdCounter},
		{name: "incrby", arity: 3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Counter namespaces: adds n. Strong namespaces: adds n, linearizably.", run: cmdCounter},
		{name: "decrby", arity: 3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Counter namespaces: takes n. Strong namespaces: takes n, linearizably.", run: cmdCounter},
		{name: "incrbyfloat", arity: 3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Refused: integers only (INCRBY in strong namespaces).", run: cmdCounter},
		{name: "debit", arity: -3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Pando, strong namespaces: DEBIT key amount [FLOOR f] takes amount unless that leaves less than f (default 0).", run: cmdDebit},
		{name: "cas", arity: 4, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Pando, strong namespaces: CAS key expected new sets new if the key holds expected; 1 if it did.", run: cmdCAS},
		{name: "casnx", arity: 3, flags: []string{"write", "fast"}, firstKey: 1, lastKey: 1, step: 1, summary: "Pando, strong namespaces: CASNX key new sets new if the key is absent; 1 if it did.", run: cmdCAS},
		{name: "cluster", arity: -2, flags: []string{"loading", "stale"}, summary: "CLUSTER SLOTS, SHARDS, NODES, KEYSLOT, INFO, MYID: the partitions as Redis Cluster slot ranges.", run: cmdCluster},
		{name: "readonly", arity: 1, flags: []string{"loading", "stale", "fast"}, summary: "Accepted: any node serves any key.", run: cmdAccept},
		{name: "readwrite", arity: 1, flags: []string{"loading", "stale", "fast"}, summary: "Accepted: any node serves any key.", run: cmdAccept},
		{name: "asking", arity: 1, flags: []string{"fast"}, summary: "Accepted: no answer is ever ASK.", run: cmdAccept},
		{name: "multi", arity: 1, flags: []string{"noscript", "loading", "stale", "fast"}, summary: "Starts a transaction; commands are queued until EXEC.", run: cmdMulti},
		{name: "exec", arity: 1, flags: []string{"noscript", "loading", "stale"}, summary: "Runs the queued commands; in an eventual namespace, discards them (EXECABORT).", run: cmdExec},
		{name: "discard", arity: 1, flags: []string{"noscript", "loading", "stale", "fast"}, summary: "Discards the queued commands.", run: cmdDiscard},
		{name: "watch", arity: -2, flags: []string{"noscript", "loading", "stale", "fast"}, firstKey: 1, lastKey: -1, step: 1, summary: "Watches keys for the next transaction.", run: cmdWatch},
		{name: "unwatch", arity: 1, flags: []string{"noscript", "loading", "stale", "fast"}, summary: "Forgets watched keys.", run: cmdUnwatch},
	}
	list = append(list, typeCommands()...)
	t := make(map[string]*command, len(list))
	for _, c := range list {
		c.metrics = m.For("resp", c.name)
		p, err := permOf(c)
		if err != nil {
			panic(err) // a command added without a permission class
		}
		c.perm = p
		t[c.name] = c
	}
	return t
}

// dispatch runs cmd, which started at start, and returns when it finished.
func (c *conn) dispatch(cmd *Command, start time.Time) time.Time {
	args := cmd.Args
	var lower [24]byte
	name := args[0]
	if len(name) <= len(lower) {
		for i, b := range name {
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			lower[i] = b
		}
		name = lower[:len(name)]
	}
	def, ok := c.s.commands[string(name)]
	if ok && c.s.cfg.Auth != nil {
		if err := c.authorize(def); err != nil {
			if c.multi.active {
				c.multi.failed = true
			}
			c.writeErr(err)
			end := time.Now()
			def.metrics.ObserveDuration(end.Sub(start), true)
			return end
		}
	}
	if ok && c.multi.active && !txControl[def.name] {
		c.queue(def, cmd) // not run, so not counted as the command
		return time.Now()
	}
	if !ok {
		if c.multi.active {
			c.multi.failed = true
		}
		c.w.WriteError(unknownCommand(args))
		end := time.Now()
		c.s.unknown.ObserveDuration(end.Sub(start), true)
		return end
	}
	err := c.check(def, cmd)
	if err == nil {
		err = def.run(c, args)
	}
	if err != nil {
		c.writeErr(err)
	}
	end := time.Now()
	def.metrics.ObserveDuration(end.Sub(start), err != nil)
	return end
}

// check enforces arity and the size limits before a command runs.
func (c *conn) check(def *command, cmd *Command) error {
	n := len(cmd.Args)
	if (def.arity > 0 && n != def.arity) || (def.arity < 0 && n < -def.arity) {
		return wrongArity(def.name)
	}
	if cmd.Oversized > 0 {
		lim := c.s.cfg.Limits
		if cmd.Oversized > max(lim.MaxKeyBytes, lim.MaxValueBytes) {
			return lim.CheckValue(cmd.Oversized)
		}
		return fmt.Errorf("%w: the arguments exceed %d bytes", api.ErrRequestTooLarge, c.rd.lim.maxCommand)
	}
	return nil
}

func (c *conn) writeErr(err error) {
	var re replyError
	if errors.As(err, &re) {
		c.w.WriteError(string(re))
		return
	}
	d := api.Describe(err)
	if d.Code == "internal" {
		c.s.log.Error("command failed", "err", err)
	}
	c.w.WriteError(d.RESP())
}

// unknownCommand renders Redis 7's reply to an unknown command.
func unknownCommand(args [][]byte) string {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	b.WriteString(sanitize(args[0]))
	b.WriteString("', with args beginning with: ")
	for _, a := range args[1:] {
		b.WriteString("'")
		b.WriteString(sanitize(a))
		b.WriteString("' ")
		if b.Len() > 512 {
			break
		}
	}
	return b.String()
}

// sanitize makes an argument safe to quote in a one-line error reply.
func sanitize(b []byte) string {
	if len(b) > 128 {
		b = b[:128]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, string(b))
}

func (c *conn) key(b []byte) ([]byte, error) {
	return b, c.s.cfg.Limits.CheckKey(b)
}

func (c *conn) nowMs() int64 { return c.s.cfg.Clock.Now().UnixMilli() }

// parseInt parses a Redis integer argument.
func parseInt(b []byte) (int64, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, errNotInt
	}
	return n, nil
}

func eq(b []byte, lower string) bool { return bytes.EqualFold(b, []byte(lower)) }

func cmdPing(c *conn, args [][]byte) error {
	switch len(args) {
	case 1:
		c.w.WriteString("PONG")
	case 2:
		c.w.WriteBulk(args[1])
	default:
		return wrongArity("ping")
	}
	return nil
}

func cmdEcho(c *conn, args [][]byte) error {
	c.w.WriteBulk(args[1])
	return nil
}

func cmdQuit(c *conn, args [][]byte) error {
	c.w.WriteString("OK")
	c.closing = true
	return nil
}

// cmdHello answers HELLO, HELLO 2 and HELLO 2 SETNAME n with the RESP2
// handshake reply. RESP3 is refused with NOPROTO, which clients (go-redis,
// redis-py, Lettuce) take as "speak RESP2".
func cmdHello(c *conn, args [][]byte) error {
	if len(args) >= 2 {
		v, err := parseInt(args[1])
		if err != nil {
			return replyError("ERR Protocol version is not an integer or out of range")
		}
		if v != 2 {
			return replyError("NOPROTO sorry, this protocol version is not supported")
		}
		for i := 2; i < len(args); i++ {
			switch {
			case eq(args[i], "setname") && i+1 < len(args):
				if err := validClientName(args[i+1]); err != nil {
					return err
				}
				c.setName(string(args[i+1]))
				i++
			case eq(args[i], "auth") && i+2 < len(args):
				if err := c.login(args[i+1], args[i+2]); err != nil {
					return err
				}
				i += 2
			default:
				return errSyntax
			}
		}
	}
	if c.s.cfg.Auth != nil && c.user == "" {
		return replyError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
	}
	c.w.WriteArray(14)
	c.w.WriteBulkString("server")
	c.w.WriteBulkString("pando")
	c.w.WriteBulkString("version")
	c.w.WriteBulkString(c.s.cfg.Version)
	c.w.WriteBulkString("proto")
	c.w.WriteInt(2)
	c.w.WriteBulkString("id")
	c.w.WriteInt64(c.id)
	c.w.WriteBulkString("mode")
	c.w.WriteBulkString("standalone")
	c.w.WriteBulkString("role")
	c.w.WriteBulkString("master")
	c.w.WriteBulkString("modules")
	c.w.WriteArray(0)
	return nil
}

// lookup reads key at the connection's read level; found is false for a
// key with no live value.
func (c *conn) lookup(key []byte) (e api.Entry, found bool, err error) {
	e, err = c.s.cfg.KV.Get(c.s.ctx, c.ns, key, c.ro)
	if errors.Is(err, api.ErrNotFound) {
		return api.Entry{}, false, nil
	}
	return e, err == nil, err
}

func cmdGet(c *conn, args [][]byte) error {
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	if c.nsType() == api.TypeCounter {
		return c.counterGet(key)
	}
	e, found, err := c.lookup(key)
	switch {
	case err != nil:
		return err
	case !found:
		c.w.WriteNull()
	default:
		c.w.WriteBulk(e.Value)
	}
	return nil
}

// cmdSet: SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ms | KEEPTTL]
func cmdSet(c *conn, args [][]byte) error {
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	value := args[2]
	if err := c.s.cfg.Limits.CheckValue(len(value)); err != nil {
		return err
	}
	var opts api.PutOptions
	expirySet := false
	for i := 3; i < len(args); i++ {
		a := args[i]
		switch {
		case eq(a, "nx") && opts.Cond == api.Always:
			opts.Cond = api.IfAbsent
		case eq(a, "xx") && opts.Cond == api.Always:
			opts.Cond = api.IfPresent
		case eq(a, "get") && !opts.ReturnOld:
			opts.ReturnOld = true
		case eq(a, "keepttl") && !expirySet:
			opts.KeepTTL, expirySet = true, true
		case (eq(a, "ex") || eq(a, "px") || eq(a, "exat") || eq(a, "pxat")) && !expirySet && i+1 < len(args):
			at, err := c.expiryArg(a, args[i+1], "set")
			if err != nil {
				return err
			}
			opts.ExpireAt, expirySet = at, true
			i++
		default:
			return errSyntax
		}
	}
	opts.Write = c.wo
	res, err := c.s.cfg.KV.Put(c.s.ctx, c.ns, key, value, opts)
	if err != nil {
		return err
	}
	switch {
	case opts.ReturnOld && res.OldFound:
		c.w.WriteBulk(res.Old.Value)
	case opts.ReturnOld, !res.Applied:
		c.w.WriteNull()
	default:
		c.w.WriteString("OK")
	}
	return nil
}

// expiryArg turns SET's EX/PX/EXAT/PXAT argument into Unix milliseconds.
func (c *conn) expiryArg(unit, arg []byte, cmd string) (int64, error) {
	bad := replyError("ERR invalid expire time in '" + cmd + "' command")
	n, err := parseInt(arg)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, bad
	}
	var ms int64
	switch {
	case eq(unit, "ex"), eq(unit, "exat"):
		if n > maxExpirySeconds {
			return 0, bad
		}
		ms = n * 1000
	default:
		ms = n
	}
	if eq(unit, "ex") || eq(unit, "px") {
		ms += c.nowMs()
	}
	if ms <= 0 || ms > maxExpiryMs {
		return 0, bad
	}
	return ms, nil
}

// Expiries are bounded so that arithmetic on them never overflows.
const (
	maxExpiryMs      = int64(1) << 62
	maxExpirySeconds = maxExpiryMs / 1000
)

func cmdSetNX(c *conn, args [][]byte) error {
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	if err := c.s.cfg.Limits.CheckValue(len(args[2])); err != nil {
		return err
	}
	res, err := c.s.cfg.KV.Put(c.s.ctx, c.ns, key, args[2], api.PutOptions{Cond: api.IfAbsent, Write: c.wo})
	if err != nil {
		return err
	}
	c.w.WriteInt(boolInt(res.Applied))
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmdGetDel(c *conn, args [][]byte) error {
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	old, found, err := c.s.cfg.KV.Delete(c.s.ctx, c.ns, key, c.wo)
	if err != nil {
		return err
	}
	if !found {
		c.w.WriteNull()
		return nil
	}
	c.w.WriteBulk(old.Value)
	return nil
}

func cmdMGet(c *conn, args [][]byte) error {
	for _, k := range args[1:] {
		if _, err := c.key(k); err != nil {
			return err
		}
	}
	c.w.WriteArray(len(args) - 1)
	for _, k := range args[1:] {
		e, err := c.s.cfg.KV.Get(c.s.ctx, c.ns, k, c.ro)
		switch {
		case err == nil:
			c.w.WriteBulk(e.Value)
		case errors.Is(err, api.ErrNotFound):
			c.w.WriteNull()
		default:
			// The array header is out; an error takes the element's place,
			// as Redis does inside MULTI/EXEC replies.
			c.writeErr(err)
		}
	}
	return nil
}

func cmdMSet(c *conn, args [][]byte) error {
	if len(args)%2 != 1 {
		return wrongArity("mset")
	}
	kvs := make([]api.KeyValue, 0, len(args)/2)
	for i := 1; i < len(args); i += 2 {
		if _, err := c.key(args[i]); err != nil {
			return err
		}
		if err := c.s.cfg.Limits.CheckValue(len(args[i+1])); err != nil {
			return err
		}
		kvs = append(kvs, api.KeyValue{Key: args[i], Value: args[i+1]})
	}
	if err := c.s.cfg.KV.PutMany(c.s.ctx, c.ns, kvs, c.wo); err != nil {
		return err
	}
	c.w.WriteString("OK")
	return nil
}

func cmdDel(c *conn, args [][]byte) error {
	n := 0
	for _, k := range args[1:] {
		if _, err := c.key(k); err != nil {
			return err
		}
	}
	for _, k := range args[1:] {
		_, found, err := c.s.cfg.KV.Delete(c.s.ctx, c.ns, k, c.wo)
		if err != nil {
			return err
		}
		n += boolInt(found)
	}
	c.w.WriteInt(n)
	return nil
}

func cmdExists(c *conn, args [][]byte) error {
	n := 0
	for _, k := range args[1:] {
		if _, err := c.key(k); err != nil {
			return err
		}
		if c.nsType() != api.TypeBytes {
			_, found, err := c.typedExists(k)
			if err != nil {
				return err
			}
			n += boolInt(found)
			continue
		}
		_, err := c.s.cfg.KV.Get(c.s.ctx, c.ns, k, c.ro)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, api.ErrNotFound):
			return err
		}
	}
	c.w.WriteInt(n)
	return nil
}

func cmdType(c *conn, args [][]byte) error {
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	if c.nsType() != api.TypeBytes {
		name, found, err := c.typedExists(key)
		if err != nil {
			return err
		}
		if !found {
			name = "none"
		}
		c.w.WriteString(name)
		return nil
	}
	_, err = c.s.cfg.KV.Get(c.s.ctx, c.ns, key, c.ro)
	switch {
	case err == nil:
		c.w.WriteString("string")
	case errors.Is(err, api.ErrNotFound):
		c.w.WriteString("none")
	default:
		return err
	}
	return nil
}

// expireCmd builds EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT:
// CMD key time [NX | XX | GT | LT].
func expireCmd(unit time.Duration, absolute bool) func(*conn, [][]byte) error {
	return func(c *conn, args [][]byte) error {
		name := strings.ToLower(string(args[0]))
		key, err := c.key(args[1])
		if err != nil {
			return err
		}
		n, err := parseInt(args[2])
		if err != nil {
			return err
		}
		bad := replyError("ERR invalid expire time in '" + name + "' command")
		per := int64(unit / time.Millisecond)
		if n > maxExpiryMs/per || n < -maxExpiryMs/per {
			return bad
		}
		at := n * per
		if !absolute {
			at += c.nowMs()
		}
		if at > maxExpiryMs {
			return bad
		}
		if at <= 0 {
			at = 1 // in the past: the key is deleted
		}
		cond := api.ExpireAlways
		for _, a := range args[3:] {
			next := api.ExpireAlways
			switch {
			case eq(a, "nx"):
				next = api.ExpireIfNone
			case eq(a, "xx"):
				next = api.ExpireIfSome
			case eq(a, "gt"):
				next = api.ExpireIfGreater
			case eq(a, "lt"):
				next = api.ExpireIfLess
			default:
				return replyError("ERR Unsupported option " + sanitize(a))
			}
			if cond != api.ExpireAlways && cond != next {
				return replyError("ERR NX and XX, GT or LT options at the same time are not compatible")
			}
			cond = next
		}
		ok, err := c.s.cfg.KV.SetExpiry(c.s.ctx, c.ns, key, at, cond, c.wo)
		if err != nil {
			return err
		}
		c.w.WriteInt(boolInt(ok))
		return nil
	}
}

// ttlCmd builds TTL and PTTL: -2 for a missing key, -1 for no expiry.
func ttlCmd(unit time.Duration) func(*conn, [][]byte) error {
	return func(c *conn, args [][]byte) error {
		key, err := c.key(args[1])
		if err != nil {
			return err
		}
		e, err := c.s.cfg.KV.Get(c.s.ctx, c.ns, key, c.ro)
		switch {
		case errors.Is(err, api.ErrNotFound):
			c.w.WriteInt(-2)
			return nil
		case err != nil:
			return err
		case e.ExpireAt == 0:
			c.w.WriteInt(-1)
			return nil
		}
		left := max(e.ExpireAt-c.nowMs(), 0)
		if unit == time.Second {
			left = (left + 500) / 1000 // Redis rounds to the nearest second
		}
		c.w.WriteInt64(left)
		return nil
	}
}

func cmdPersist(c *conn, args [][]byte) error {
	key, err := c.key(args[1])
	if err != nil {
		return err
	}
	ok, err := c.s.cfg.KV.SetExpiry(c.s.ctx, c.ns, key, 0, api.ExpireIfSome, c.wo)
	if err != nil {
		return err
	}
	c.w.WriteInt(boolInt(ok))
	return nil
}

// cmdScan: SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. The cursor
// is a position in the namespace's hash space.
func cmdScan(c *conn, args [][]byte) error {
	cursor, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		return errBadCursor
	}
	count := 10
	var pattern []byte
	onlyStrings := true
	for i := 2; i < len(args); i++ {
		if i+1 >= len(args) {
			return errSyntax
		}
		switch {
		case eq(args[i], "match"):
			pattern = args[i+1]
		case eq(args[i], "count"):
			n, err := parseInt(args[i+1])
			if err != nil {
				return err
			}
			if n < 1 {
				return errSyntax
			}
			count = int(min(n, 1<<20))
		case eq(args[i], "type"):
			onlyStrings = eq(args[i+1], "string")
		default:
			return errSyntax
		}
		i++
	}
	var match func([]byte) bool
	if pattern != nil && !bytes.Equal(pattern, []byte("*")) {
		match = func(k []byte) bool { return globMatch(pattern, k) }
	}
	page, err := c.s.cfg.KV.Scan(c.s.ctx, c.ns, cursor, count, match)
	if err != nil {
		return err
	}
	if !onlyStrings {
		page.Keys = nil
	}
	c.w.WriteArray(2)
	c.w.WriteBulkString(strconv.FormatUint(page.Next, 10))
	c.w.WriteArray(len(page.Keys))
	for _, k := range page.Keys {
		c.w.WriteBulk(k)
	}
	return nil
}

func cmdDBSize(c *conn, args [][]byte) error {
	n, err := c.s.cfg.KV.Count(c.s.ctx, c.ns)
	if err != nil {
		return err
	}
	c.w.WriteInt64(n)
	return nil
}

func validClientName(name []byte) error {
	for _, b := range name {
		if b <= ' ' || b > '~' {
			return replyError("ERR Client names cannot contain spaces, newlines or special characters.")
		}
	}
	return nil
}

func cmdClient(c *conn, args [][]byte) error {
	sub := strings.ToLower(string(args[1]))
	switch {
	case sub == "setname" && len(args) == 3:
		if err := validClientName(args[2]); err != nil {
			return err
		}
		c.setName(string(args[2]))
		c.w.WriteString("OK")
	case sub == "getname" && len(args) == 2:
		if c.name == "" {
			c.w.WriteNull()
		} else {
			c.w.WriteBulkString(c.name)
		}
	case sub == "setinfo" && len(args) == 4:
		if !eq(args[2], "lib-name") && !eq(args[2], "lib-ver") {
			return replyError("ERR Unrecognized option '" + sanitize(args[2]) + "'")
		}
		if err := validClientName(args[3]); err != nil {
			return err
		}
		c.infoMu.Lock()
		c.lib[boolInt(eq(args[2], "lib-ver"))] = string(args[3])
		c.infoMu.Unlock()
		c.w.WriteString("OK")
	case sub == "info" && len(args) == 2:
		c.w.WriteBulkString(c.describe() + "\n")
	case sub == "list" && len(args) == 2:
		c.w.WriteBulkString(c.s.clientList())
	case sub == "id" && len(args) == 2:
		c.w.WriteInt64(c.id)
	case sub == "setname" || sub == "getname" || sub == "setinfo" || sub == "id" || sub == "info" || sub == "list":
		return replyError("ERR wrong number of arguments for 'client|" + sub + "' command")
	default:
		return replyError("ERR unknown subcommand '" + sanitize(args[1]) + "'. Try CLIENT SETNAME, GETNAME, SETINFO, ID, INFO or LIST.")
	}
	return nil
}
