package resp

import (
	"bytes"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/auth"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/coordinator"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"github.com/tidwall/redcon"
)

// replyLen returns the length of the one RESP2 reply at the start of b, or -1
// if b does not start with a complete, well-formed reply.
func replyLen(b []byte) int {
	if len(b) < 3 {
		return -1
	}
	eol := bytes.Index(b, []byte("\r\n"))
	if eol < 0 {
		return -1
	}
	line := b[1:eol]
	switch b[0] {
	case '+', '-':
		if bytes.ContainsAny(line, "\r\n") {
			return -1
		}
		return eol + 2
	case ':':
		if _, err := strconv.ParseInt(string(line), 10, 64); err != nil {
			return -1
		}
		return eol + 2
	case '$':
		n, err := strconv.Atoi(string(line))
		if err != nil || n < -1 {
			return -1
		}
		if n == -1 {
			return eol + 2
		}
		end := eol + 2 + n
		if len(b) < end+2 || b[end] != '\r' || b[end+1] != '\n' {
			return -1
		}
		return end + 2
	case '*':
		n, err := strconv.Atoi(string(line))
		if err != nil || n < -1 {
			return -1
		}
		off := eol + 2
		for range max(n, 0) {
			l := replyLen(b[off:])
			if l < 0 {
				return -1
			}
			off += l
		}
		return off
	}
	return -1
}

// FuzzCommands runs random argument vectors through the command table over
// in-memory Pebble. Every command must produce exactly one well-formed reply
// and never panic.
func FuzzCommands(f *testing.F) {
	for _, seed := range [][]string{
		{"set", "k", "v", "ex", "10"},
		{"set", "k", "v", "pxat", "99999999999999", "get"},
		{"set", "k", "v", "nx", "keepttl"},
		{"expire", "k", "-9223372036854775808", "gt"},
		{"pexpireat", "k", "9223372036854775807"},
		{"scan", "18446744073709551615", "match", "[a-", "count", "1"},
		{"mset", "a", "1", "b"},
		{"mget", "a", "", "c"},
		{"config", "get", "*"},
		{"command", "info", "get", "nosuch"},
		{"client", "setname", "x"},
		{"hello", "2", "setname", "n"},
		{"info", "keyspace", "server"},
		{"ttl", "k"},
		{"getdel", "k"},
	} {
		var args [5][]byte
		for i := range min(len(seed), 5) {
			args[i] = []byte(seed[i])
		}
		f.Add(args[0], args[1], args[2], args[3], args[4], uint8(len(seed)))
	}
	fuzzDispatch(f, Config{Limits: api.Limits{MaxKeyBytes: 32, MaxValueBytes: 64}}, nil)
}

// fuzzDispatch runs each fuzzed argument vector through a server made
// from cfg over in-memory Pebble, on a fresh connection: exactly one
// well-formed reply, then check, if set, judges the connection and reply.
func fuzzDispatch(f *testing.F, cfg Config, check func(t *testing.T, c *conn, args [][]byte, reply []byte)) {
	eng, err := storage.Open(storage.Config{Dir: "fuzz", FS: vfs.NewMem()})
	if err != nil {
		f.Fatal(err)
	}
	defer eng.Close()
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	store, err := replica.New(replica.Config{Engine: eng, Clock: clk})
	if err != nil {
		f.Fatal(err)
	}
	kv := coordinator.Local(store)
	cfg.KV, cfg.Catalog, cfg.Clock, cfg.Version = kv, coordinator.Catalog{Meta: kv.Meta()}, clk, "fuzz"
	srv, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	f.Fuzz(func(t *testing.T, a0, a1, a2, a3, a4 []byte, n uint8) {
		args := [][]byte{a0, a1, a2, a3, a4}[:1+int(n)%5]
		if len(args[0]) == 0 {
			return
		}
		var out bytes.Buffer
		c := newConn(srv, a)
		c.w = redcon.NewWriter(&out)
		c.dispatch(&Command{Args: args}, time.Now())
		_ = c.w.Flush()
		got := out.Bytes()
		if l := replyLen(got); l != len(got) {
			t.Fatalf("%q: reply %q is not exactly one well-formed RESP value", args, got)
		}
		if check != nil {
			check(t, c, args, got)
		}
	})
}

// plainUsers is an Authenticator with plain passwords: the fuzzer checks
// the commands' parsing, not the password hash.
type plainUsers map[string]string

func (p plainUsers) Login(user, password, _ string) error {
	if pw, ok := p[user]; ok && pw == password {
		return nil
	}
	return auth.ErrWrongPass
}

func (p plainUsers) User(name string) (auth.User, bool) {
	_, ok := p[name]
	return auth.User{Name: name, Role: auth.Read}, ok
}

// FuzzAuth runs random argument vectors through a server that requires a
// login, each on a fresh connection: every one gets exactly one
// well-formed reply, a connection is authenticated only as a user with
// that user's password, and before a login every command but AUTH, HELLO
// and QUIT is refused with NOAUTH.
func FuzzAuth(f *testing.F) {
	for _, seed := range [][]string{
		{"auth", "ann", "pw"}, {"auth", "pw"}, {"auth", "ann", "pw", "x"}, {"auth"},
		{"hello", "2", "auth", "ann", "pw"}, {"hello", "2", "auth", "ann"}, {"hello", "3", "auth", "ann", "pw"},
		{"hello", "2", "setname", "x", "auth"}, {"hello", "x"}, {"get", "k"}, {"set", "k", "v"}, {"quit"},
	} {
		var args [5][]byte
		for i := range min(len(seed), 5) {
			args[i] = []byte(seed[i])
		}
		f.Add(args[0], args[1], args[2], args[3], args[4], uint8(len(seed)-1))
	}
	users := plainUsers{"ann": "pw", "default": "dpw"}
	fuzzDispatch(f, Config{Limits: api.DefaultLimits(), Auth: users}, func(t *testing.T, c *conn, args [][]byte, got []byte) {
		if c.user != "" {
			pw, ok := users[c.user]
			if !ok || !bytes.Contains(bytes.Join(args, []byte{0}), []byte(pw)) {
				t.Fatalf("%q authenticated the connection as %q", args, c.user)
			}
		}
		def, known := c.s.commands[string(bytes.ToLower(args[0]))]
		if known && def.perm != permNoAuth && !bytes.HasPrefix(got, []byte("-NOAUTH")) {
			t.Fatalf("%q before a login: %q", args, got)
		}
	})
}
