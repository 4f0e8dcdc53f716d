package resp

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pandodb/pando/internal/api"
)

// cmdInfo: INFO [section ...]. Sections: server, clients, stats, cluster,
// keyspace; "all", "everything" and "default" give every one.
func cmdInfo(c *conn, args [][]byte) error {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(want) == 0 || want["all"] || want["everything"] || want["default"]
	var b strings.Builder
	section := func(name string, lines ...string) {
		if !all && !want[name] {
			return
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + strings.ToUpper(name[:1]) + name[1:] + "\r\n")
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
	}
	up := time.Since(c.s.started)
	port := ""
	if a, ok := c.nc.LocalAddr().(interface{ String() string }); ok {
		if i := strings.LastIndexByte(a.String(), ':'); i >= 0 {
			port = a.String()[i+1:]
		}
	}
	section("server",
		// Clients read redis_version to pick features; Pando speaks the
		// subset of Redis 7.0 that its COMMAND table lists.
		"redis_version:7.0.0",
		"pando_version:"+c.s.cfg.Version,
		"pando_node_id:"+c.s.cfg.NodeID,
		"redis_mode:standalone",
		"os:"+runtime.GOOS,
		"arch_bits:"+strconv.Itoa(strconv.IntSize),
		"process_id:"+strconv.Itoa(os.Getpid()),
		"tcp_port:"+port,
		"uptime_in_seconds:"+strconv.FormatInt(int64(up/time.Second), 10),
		"uptime_in_days:"+strconv.FormatInt(int64(up/(24*time.Hour)), 10),
	)
	section("clients", "connected_clients:"+strconv.Itoa(c.s.connections()))
	// Every node answers CLUSTER (clustermode.go): cluster clients such as
	// redis-py's RedisCluster check this before asking.
	section("cluster", "cluster_enabled:1")
	section("stats",
		"total_connections_received:"+strconv.FormatInt(c.s.accepted.Load(), 10),
		"total_commands_processed:"+strconv.FormatInt(c.s.executed.Load(), 10),
	)
	if all || want["keyspace"] {
		n, err := c.s.cfg.KV.Count(c.s.ctx, c.ns)
		switch {
		case errors.Is(err, api.ErrUnsupported): // a namespace whose keys cannot be counted yet (strong)
		case err != nil:
			return err
		default:
			db := 0
			if c.s.cfg.Catalog != nil {
				info, _ := c.s.cfg.Catalog.Namespace(c.ns)
				db = info.DB
			}
			section("keyspace", fmt.Sprintf("db%d:keys=%d", db, n))
		}
	}
	c.w.WriteBulkString(b.String())
	return nil
}

// cmdConfig: CONFIG GET pattern [pattern ...]. The settings are the ones
// clients and redis-benchmark ask for; they describe what Pando does (every
// write is fsync'd before it is acknowledged).
func cmdConfig(c *conn, args [][]byte) error {
	sub := strings.ToLower(string(args[1]))
	switch sub {
	case "get":
		if len(args) < 3 {
			return wrongArity("config|get")
		}
	case "set", "resetstat", "rewrite":
		return replyError("ERR CONFIG " + strings.ToUpper(sub) + " is not supported: Pando is configured by flags, environment and config file at start")
	default:
		return replyError("ERR unknown subcommand '" + sanitize(args[1]) + "'. Try CONFIG GET.")
	}
	lim := c.s.cfg.Limits
	databases := 1
	if c.s.cfg.Catalog != nil {
		databases = c.s.cfg.Catalog.Databases()
	}
	settings := map[string]string{
		"save":               "",
		"appendonly":         "yes",
		"appendfsync":        "always",
		"databases":          strconv.Itoa(databases),
		"maxmemory":          "0",
		"timeout":            "0",
		"proto-max-bulk-len": strconv.Itoa(lim.MaxValueBytes),
	}
	var names []string
	for name := range settings {
		for _, p := range args[2:] {
			if globMatch([]byte(strings.ToLower(string(p))), []byte(name)) {
				names = append(names, name)
				break
			}
		}
	}
	slices.Sort(names)
	c.w.WriteArray(2 * len(names))
	for _, n := range names {
		c.w.WriteBulkString(n)
		c.w.WriteBulkString(settings[n])
	}
	return nil
}

// cmdCommand: COMMAND, COMMAND COUNT, COMMAND INFO name..., COMMAND DOCS
// [name...], COMMAND LIST.
func cmdCommand(c *conn, args [][]byte) error {
	names := make([]string, 0, len(c.s.commands))
	for n := range c.s.commands {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(args) == 1 {
		c.w.WriteArray(len(names))
		for _, n := range names {
			c.writeCommandInfo(c.s.commands[n])
		}
		return nil
	}
	sub := strings.ToLower(string(args[1]))
	asked := func() []string {
		if len(args) == 2 {
			return names
		}
		var out []string
		for _, a := range args[2:] {
			out = append(out, strings.ToLower(string(a)))
		}
		return out
	}
	switch sub {
	case "count":
		c.w.WriteInt(len(names))
	case "list":
		c.w.WriteArray(len(names))
		for _, n := range names {
			c.w.WriteBulkString(n)
		}
	case "info":
		list := asked()
		c.w.WriteArray(len(list))
		for _, n := range list {
			if def, ok := c.s.commands[n]; ok {
				c.writeCommandInfo(def)
			} else {
				c.w.WriteNull()
			}
		}
	case "docs":
		var known []*command
		for _, n := range asked() {
			if def, ok := c.s.commands[n]; ok {
				known = append(known, def)
			}
		}
		// RESP2 renders the map as a flat array: name, doc, name, doc...
		c.w.WriteArray(2 * len(known))
		for _, def := range known {
			c.w.WriteBulkString(def.name)
			c.w.WriteArray(4)
			c.w.WriteBulkString("summary")
			c.w.WriteBulkString(def.summary)
			c.w.WriteBulkString("group")
			c.w.WriteBulkString("generic")
		}
	default:
		return replyError("ERR unknown subcommand '" + sanitize(args[1]) + "'. Try COMMAND COUNT, LIST, INFO or DOCS.")
	}
	return nil
}

// writeCommandInfo writes one entry of COMMAND's reply in Redis 7's shape.
func (c *conn) writeCommandInfo(def *command) {
	c.w.WriteArray(10)
	c.w.WriteBulkString(def.name)
	c.w.WriteInt(def.arity)
	c.w.WriteArray(len(def.flags))
	for _, f := range def.flags {
		c.w.WriteString(f)
	}
	c.w.WriteInt(def.firstKey)
	c.w.WriteInt(def.lastKey)
	c.w.WriteInt(def.step)
	for range 4 { // ACL categories, tips, key specs, subcommands
		c.w.WriteArray(0)
	}
}
