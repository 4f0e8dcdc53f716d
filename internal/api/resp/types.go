package resp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pandodb/pando/internal/api"
)

// The commands of counter, set and map namespaces (api.Types). A key's
// type is its namespace's: SADD in a counter namespace, or GET in a set
// one, answers WRONGTYPE, as Redis does for a key of another type.

func typeCommands() []*command {
	rd, wr := []string{"readonly", "fast"}, []string{"write", "fast"}
	return []*command{
		{name: "sadd", arity: -3, flags: wr, firstKey: 1, lastKey: 1, step: 1, summary: "Set namespaces: adds members; returns how many were new.", run: setUpdate(api.OpAdd)},
		{name: "srem", arity: -3, flags: wr, firstKey: 1, lastKey: 1, step: 1, summary: "Set namespaces: removes members; returns how many were there.", run: setUpdate(api.OpRemove)},
		{name: "smembers", arity: 2, flags: rd, firstKey: 1, lastKey: 1, step: 1, summary: "Set namespaces: returns the members.", run: cmdSMembers},
		{name: "sismember", arity: 3, flags: rd, firstKey: 1, lastKey: 1, step: 1, summary: "Set namespaces: 1 if the member is in the set.", run: cmdSIsMember},
		{name: "smismember", arity: -3, flags: rd, firstKey: 1, lastKey: 1, step: 1, summary: "Set namespaces: 1 or 0 for each member.", run: cmdSIsMember},
		{name: "scard", arity: 2, flags: rd, firstKey: 1, lastKey: 1, step: 1, summary: "Set namespaces: returns the number of members.", run: cmdSCard},
		{name: "hset", arity: -4, flags: wr, firstKey: 1, lastKey: 1, step: 1, summary: "Map namespaces: sets fields; returns how many were new.", run: hsetCmd(false)},
		{name: "hmset", arity: -4, flags: wr, firstKey: 1, lastKey: 1, step: 1, summary: "Map namespaces: sets fields (as HSET); returns OK.", run: hsetCmd(true)},
		{name: "hget", arity: 3, flags: rd, firstKey: 1, lastKey: 1, step: 1, summary: "Map namespaces: returns a field's value.", run: cmdHGet},
		{name: "hmget", arity: -3, flags: rd, firstKey: 1, lastKey: 1, step: 1, summary: "Map namespaces: returns several fields' values.", run: cmdHGet},
		{name: "hdel", arity: -3, flags: wr, firstKey: 1, lastKey: 1, step: 1, summary: "Map namespaces: removes fields; returns how many were there.", run: cmdHDel},
		{name: "hgetall", arity: 2, flags: rd, firstKey: 1, lastKey: 1, step: 1, summary: "Map namespaces: returns every field and value.", run: hgetallCmd(true, true)},
		{name: "hkeys", arity: 2, flags: rd, firstKey: 1, lastKey: 1, step: 1, summary: "Map namespaces: returns the field names.", run: hgetallCmd(true, false)},
		{name: "hvals", arity: 2, flags: rd, firstKey: 1, lastKey: 1, step: 1, summary: "Map namespaces: returns the values.", run: hgetallCmd(false, true)},
		{name: "hincrby", arity: 4, flags: wr, firstKey: 1, lastKey: 1, step: 1, summary: "Map namespaces: adds n to a field's integer; returns the new value.", run: cmdHIncrBy},
		{name: "hlen", arity: 2, flags: rd, firstKey: 1, lastKey: 1, step: 1, summary: "Map namespaces: returns the number of fields.", run: cmdHLen},
		{name: "hexists", arity: 3, flags: rd, firstKey: 1, lastKey: 1, step: 1, summary: "Map namespaces: 1 if the field exists.", run: cmdHExists},
		{name: "withid", arity: -4, flags: wr, firstKey: 3, lastKey: 3, step: 1, summary: "Pando, counter, map and strong namespaces: WITHID id INCRBY key n (or INCR, DECR, DECRBY, HINCRBY key field n, DEBIT key n) counts once however often it is retried with the same id.", run: cmdWithID},
	}
}

// withIDCommands are the commands WITHID takes, the ones a retry would
// apply twice, and the namespace type each needs (in eventual namespaces;
// a strong namespace takes the increments and DEBIT).
var withIDCommands = map[string]string{"incr": api.TypeCounter, "decr": api.TypeCounter, "incrby": api.TypeCounter, "decrby": api.TypeCounter, "hincrby": api.TypeMap, "debit": ""}

// cmdWithID: WITHID id command [arg ...] runs the command with a request
// id, so that a client that retries it (after a timeout, a lost
// connection, a node that went down) with the same id has it take effect
// once. go-redis: client.Do(ctx, "WITHID", id, "INCRBY", key, n).
func cmdWithID(c *conn, args [][]byte) error {
	id, inner := args[1], args[2:]
	name := strings.ToLower(string(inner[0]))
	typ, ok := withIDCommands[name]
	if !ok {
		return replyError("ERR WITHID takes INCR, DECR, INCRBY, DECRBY, HINCRBY or DEBIT (other writes are idempotent already), got '" + sanitize(inner[0]) + "'")
	}
	if len(id) == 0 || len(id) > api.MaxRequestIDBytes {
		return replyError(fmt.Sprintf("ERR a request id is 1 to %d bytes, got %d", api.MaxRequestIDBytes, len(id)))
	}
	_, strong := c.strong()
	switch {
	case strong && typ != api.TypeMap: // a strong namespace's integers
	case typ == "":
		return replyError("ERR WITHID " + strings.ToUpper(name) + " needs a strong namespace; '" + c.ns + "' is eventual")
	case c.nsType() != typ:
		or := ""
		if typ == api.TypeCounter {
			or = ", or a strong one"
		}
		return replyError("ERR WITHID " + strings.ToUpper(name) + " needs a " + typ + " namespace (pando ns create NAME --type " + typ + ")" + or + "; namespace '" + c.ns + "' holds " + typeWords[c.nsType()])
	}
	def := c.s.commands[name]
	if n := len(inner); (def.arity > 0 && n != def.arity) || (def.arity < 0 && n < -def.arity) {
		return wrongArity(def.name)
	}
	saved := c.wo.RequestID
	c.wo.RequestID = string(id)
	defer func() { c.wo.RequestID = saved }()
	return def.run(c, inner)
}

// nsType returns the value type of the connection's namespace.
func (c *conn) nsType() string {
	if c.s.cfg.Catalog == nil {
		return api.TypeBytes
	}
	info, found := c.s.cfg.Catalog.Namespace(c.ns)
	if !found || info.Type == "" {
		return api.TypeBytes
	}
	return info.Type
}

// types returns the data-type service if the connection's namespace holds
// want, else a WRONGTYPE error.
func (c *conn) types(want string) (api.Types, error) {
	t, ok := c.s.cfg.KV.(api.Types)
	if got := c.nsType(); !ok || got != want {
		return nil, fmt.Errorf("%w: namespace '%s' holds %s; this command needs a %s namespace (pando ns create NAME --type %s)",
			api.ErrWrongType, c.ns, typeWords[got], want, want)
	}
	return t, nil
}

var typeWords = map[string]string{api.TypeBytes: "plain values", api.TypeCounter: "counters", api.TypeSet: "sets", api.TypeMap: "maps (hashes)"}

// value reads key's value in a namespace of type want; found is false for
// a key that holds none.
func (c *conn) value(want string, key []byte) (v api.Value, found bool, err error) {
	t, err := c.types(want)
	if err != nil {
		return api.Value{}, false, err
	}
	if _, err := c.key(key); err != nil {
		return api.Value{}, false, err
	}
	v, err = t.Value(c.s.ctx, c.ns, key, c.ro)
	if errors.Is(err, api.ErrNotFound) {
		return api.Value{}, false, nil
	}
	return v, err == nil, err
}

// update applies op to key in a namespace of type want.
func (c *conn) update(want string, key []byte, op api.Op) (api.OpResult, error) {
	t, err := c.types(want)
	if err != nil {
		return api.OpResult{}, err
	}
	if _, err := c.key(key); err != nil {
		return api.OpResult{}, err
	}
	for _, b := range append(op.Members, op.Values...) {
		if err := c.s.cfg.Limits.CheckValue(len(b)); err != nil {
			return api.OpResult{}, err
		}
	}
	return t.Update(c.s.ctx, c.ns, key, op, c.wo)
}

func setUpdate(kind api.OpKind) func(*conn, [][]byte) error {
	return func(c *conn, args [][]byte) error {
		res, err := c.update(api.TypeSet, args[1], api.Op{Kind: kind, Members: args[2:]})
		if err != nil {
			return err
		}
		c.w.WriteInt64(res.N)
		return nil
	}
}

func cmdSMembers(c *conn, args [][]byte) error {
	v, _, err := c.value(api.TypeSet, args[1])
	if err != nil {
		return err
	}
	c.w.WriteArray(len(v.Members))
	for _, m := range v.Members {
		c.w.WriteBulk(m)
	}
	return nil
}

// cmdSIsMember: SISMEMBER key member, SMISMEMBER key member [member ...].
func cmdSIsMember(c *conn, args [][]byte) error {
	v, _, err := c.value(api.TypeSet, args[1])
	if err != nil {
		return err
	}
	in := make(map[string]bool, len(v.Members))
	for _, m := range v.Members {
		in[string(m)] = true
	}
	if len(args[0]) == len("sismember") {
		c.w.WriteInt(boolInt(in[string(args[2])]))
		return nil
	}
	c.w.WriteArray(len(args) - 2)
	for _, m := range args[2:] {
		c.w.WriteInt(boolInt(in[string(m)]))
	}
	return nil
}

func cmdSCard(c *conn, args [][]byte) error {
	v, _, err := c.value(api.TypeSet, args[1])
	if err != nil {
		return err
	}
	c.w.WriteInt(len(v.Members))
	return nil
}

// hsetCmd builds HSET and HMSET key field value [field value ...].
func hsetCmd(ok bool) func(*conn, [][]byte) error {
	return func(c *conn, args [][]byte) error {
		if len(args)%2 != 0 {
			return wrongArity(string(args[0]))
		}
		op := api.Op{Kind: api.OpAssign}
		for i := 2; i < len(args); i += 2 {
			op.Members = append(op.Members, args[i])
			op.Values = append(op.Values, args[i+1])
		}
		res, err := c.update(api.TypeMap, args[1], op)
		if err != nil {
			return err
		}
		if ok {
			c.w.WriteString("OK")
		} else {
			c.w.WriteInt64(res.N)
		}
		return nil
	}
}

// fields returns a map's fields by name.
func fields(v api.Value) map[string][]byte {
	m := make(map[string][]byte, len(v.Fields))
	for _, f := range v.Fields {
		m[string(f.Name)] = f.Value
	}
	return m
}

// cmdHGet: HGET key field, HMGET key field [field ...].
func cmdHGet(c *conn, args [][]byte) error {
	v, _, err := c.value(api.TypeMap, args[1])
	if err != nil {
		return err
	}
	m := fields(v)
	if len(args[0]) == len("hget") {
		if val, ok := m[string(args[2])]; ok {
			c.w.WriteBulk(val)
		} else {
			c.w.WriteNull()
		}
		return nil
	}
	c.w.WriteArray(len(args) - 2)
	for _, f := range args[2:] {
		if val, ok := m[string(f)]; ok {
			c.w.WriteBulk(val)
		} else {
			c.w.WriteNull()
		}
	}
	return nil
}

func cmdHDel(c *conn, args [][]byte) error {
	res, err := c.update(api.TypeMap, args[1], api.Op{Kind: api.OpRemove, Members: args[2:]})
	if err != nil {
		return err
	}
	c.w.WriteInt64(res.N)
	return nil
}

// hgetallCmd builds HGETALL, HKEYS and HVALS.
func hgetallCmd(names, values bool) func(*conn, [][]byte) error {
	return func(c *conn, args [][]byte) error {
		v, _, err := c.value(api.TypeMap, args[1])
		if err != nil {
			return err
		}
		c.w.WriteArray(len(v.Fields) * (boolInt(names) + boolInt(values)))
		for _, f := range v.Fields {
			if names {
				c.w.WriteBulk(f.Name)
			}
			if values {
				c.w.WriteBulk(f.Value)
			}
		}
		return nil
	}
}

func cmdHIncrBy(c *conn, args [][]byte) error {
	delta, err := parseInt(args[3])
	if err != nil {
		return err
	}
	res, err := c.update(api.TypeMap, args[1], api.Op{Kind: api.OpIncrement, Field: args[2], Delta: delta})
	if err != nil {
		return err
	}
	c.w.WriteInt64(res.N)
	return nil
}

func cmdHLen(c *conn, args [][]byte) error {
	v, _, err := c.value(api.TypeMap, args[1])
	if err != nil {
		return err
	}
	c.w.WriteInt(len(v.Fields))
	return nil
}

func cmdHExists(c *conn, args [][]byte) error {
	v, _, err := c.value(api.TypeMap, args[1])
	if err != nil {
		return err
	}
	_, ok := fields(v)[string(args[2])]
	c.w.WriteInt(boolInt(ok))
	return nil
}

// counterGet is GET in a counter namespace: the value as a decimal string.
func (c *conn) counterGet(key []byte) error {
	v, found, err := c.value(api.TypeCounter, key)
	if err != nil {
		return err
	}
	if !found {
		c.w.WriteNull()
		return nil
	}
	c.w.WriteBulkString(strconv.FormatInt(v.Counter, 10))
	return nil
}

// typedExists reports whether key holds a value in a typed namespace, and
// the Redis type name it shows: string for a counter, set, hash.
func (c *conn) typedExists(key []byte) (typeName string, found bool, err error) {
	t := c.nsType()
	_, found, err = c.value(t, key)
	return map[string]string{api.TypeCounter: "string", api.TypeSet: "set", api.TypeMap: "hash"}[t], found, err
}
