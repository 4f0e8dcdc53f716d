package resp_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/api/resp"
	"github.com/pandodb/pando/internal/auth"
	"github.com/pandodb/pando/internal/coordinator"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
)

// users is an Authenticator over a map, which tests change.
type users struct {
	mu sync.Mutex
	m  map[string]auth.User
	*auth.Checker
}

func (u *users) User(name string) (auth.User, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	x, ok := u.m[name]
	return x, ok
}

func (u *users) put(t *testing.T, name, password string, role auth.Role, ns ...string) {
	t.Helper()
	h, err := auth.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.m[name] = auth.User{Name: name, Hash: h, Role: role, Namespaces: ns}
}

// startAuth runs a server that requires authentication (namespace
// "users" is the connection's), with the users of the returned map.
func startAuth(t *testing.T) (*testServer, *users) {
	t.Helper()
	us := &users{m: map[string]auth.User{}}
	us.Checker = &auth.Checker{Lookup: us.User}
	ts := startWith(t, api.DefaultLimits(), func(store *replica.Store, _ *storage.Engine) *coordinator.Coordinator {
		return coordinator.Local(store, metadata.Namespace{Name: "users", N: 1, Model: metadata.Eventual, Type: metadata.Bytes})
	}, func(cfg *resp.Config) { cfg.Auth = us })
	return ts, us
}

// argsFor is the command name with enough placeholder arguments for its
// arity.
func argsFor(name string, arity int64) []any {
	n := arity
	if n < 0 {
		n = -n
	}
	args := []any{name}
	for i := int64(1); i < n; i++ {
		args = append(args, "x")
	}
	return args
}

// TestEveryCommandIsChecked: for every command the server lists (COMMAND,
// made from its command table), an unauthenticated connection is refused
// with NOAUTH (but AUTH, HELLO and QUIT), a user without rights on the
// connection's namespace with NOPERM unless the command needs only a
// login, and a reader of the namespace is refused exactly the commands
// that write. A command added without a permission class makes every
// server refuse to start (the table panics), so this covers new ones.
func TestEveryCommandIsChecked(t *testing.T) {
	ts, us := startAuth(t)
	us.put(t, "admin", "pw", auth.Admin)
	us.put(t, "outsider", "pw", auth.Admin, "elsewhere")
	us.put(t, "reader", "pw", auth.Read, "users")
	admin := redis.NewClient(&redis.Options{Addr: ts.addr, Username: "admin", Password: "pw", PoolSize: 1, MaxRetries: -1})
	defer admin.Close()
	if err := admin.Do(ctx, "namespace", "users").Err(); err != nil {
		t.Fatalf("go-redis with a username and password: %v", err)
	}
	cmds, err := admin.Command(ctx).Result()
	if err != nil || len(cmds) < 50 {
		t.Fatalf("COMMAND: %d commands, %v", len(cmds), err)
	}
	anon := ts.client(t)
	login := func(user string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: ts.addr, Username: user, Password: "pw", PoolSize: 1, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		if err := c.Do(ctx, "namespace", "users").Err(); err != nil {
			t.Fatalf("login as %s: %v", user, err)
		}
		return c
	}
	outsider, reader := login("outsider"), login("reader")
	for name, info := range cmds {
		perm := resp.CommandPerm(name)
		if perm == "" {
			t.Fatalf("COMMAND lists %s, which the table does not have", name)
		}
		if name == "quit" || name == "auth" || name == "multi" {
			continue // checked on their own below
		}
		args := argsFor(name, int64(info.Arity))
		got := func(c *redis.Client) string {
			err := c.Do(ctx, args...).Err()
			c.Do(ctx, "discard") // whatever a command started
			if err == nil || errors.Is(err, redis.Nil) {
				return "ok"
			}
			return err.Error()
		}
		noauth := got(anon) == "NOAUTH Authentication required."

		if noauth != (perm != "noauth") {
			t.Errorf("%s (%s) without a login: %q", name, perm, got(anon))
		}
		if denied := strings.HasPrefix(got(outsider), "NOPERM"); denied != (perm != "noauth" && perm != "login") {
			t.Errorf("%s (%s) by a user without rights here: %q", name, perm, got(outsider))
		}
		if denied := strings.HasPrefix(got(reader), "NOPERM"); denied != (perm == "write" || perm == "write-all" || perm == "admin") {
			t.Errorf("%s (%s) by a reader: %q", name, perm, got(reader))
		}
	}
	for name, want := range map[string]string{"get": "read", "set": "write", "scan": "read", "flushall": "write-all", "config": "admin", "ping": "login", "info": "login", "cluster": "login", "hello": "noauth", "watch": "read", "sadd": "write"} {
		if got := resp.CommandPerm(name); got != want {
			t.Errorf("%s needs %q, want %q", name, got, want)
		}
	}
	// Pipelined SETs (which the server batches) are checked too.
	pipe := reader.Pipeline()
	for range 5 {
		pipe.Set(ctx, "k", "v", 0)
	}
	res, _ := pipe.Exec(ctx)
	for _, r := range res {
		if err := r.Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Fatalf("a pipelined SET by a reader: %v", err)
		}
	}
	// A command refused inside MULTI fails the transaction.
	if err := reader.Do(ctx, "multi").Err(); err != nil {
		t.Fatal(err)
	}
	if err := reader.Do(ctx, "set", "k", "v").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("SET queued by a reader: %v", err)
	}
	if err := reader.Do(ctx, "exec").Err(); err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Fatalf("EXEC after a refused command: %v", err)
	}
}

// TestAuth: AUTH and HELLO's AUTH with Redis's replies; a wrong password
// is WRONGPASS whether the user exists or not; a removed user's
// connection is refused from its next command; too many failures for one
// user from one address are refused without a check.
func TestAuth(t *testing.T) {
	ts, us := startAuth(t)
	us.put(t, "ann", "secret", auth.Write)
	us.put(t, "default", "plain", auth.Read)
	c := ts.client(t)
	if err := c.Get(ctx, "k").Err(); err == nil || err.Error() != "NOAUTH Authentication required." {
		t.Fatalf("GET before AUTH: %v", err)
	}
	if err := c.Do(ctx, "hello", "2").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH HELLO must be called") {
		t.Fatalf("HELLO without AUTH: %v", err)
	}
	for _, args := range [][]any{{"auth", "ann", "wrong"}, {"auth", "nobody", "secret"}, {"hello", "2", "auth", "ann", "wrong"}} {
		if err := c.Do(ctx, args...).Err(); err == nil || err.Error() != "WRONGPASS invalid username-password pair or user is disabled." {
			t.Fatalf("%v: %v", args, err)
		}
	}
	if err := c.Do(ctx, "auth", "plain").Err(); err != nil {
		t.Fatalf("AUTH password (the default user): %v", err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM User default has no permissions to run the 'set' command") {
		t.Fatalf("SET as the reader default: %v", err)
	}
	if v, err := c.Do(ctx, "hello", "2", "auth", "ann", "secret").Slice(); err != nil || len(v) != 14 {
		t.Fatalf("HELLO 2 AUTH: %v %v", v, err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET as ann: %v", err)
	}
	us.mu.Lock()
	delete(us.m, "ann")
	us.mu.Unlock()
	if err := c.Get(ctx, "k").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Fatalf("GET by a removed user: %v", err)
	}
	for range 10 { // 10 failures for default from this address
		_ = c.Do(ctx, "auth", "wrong").Err()
	}
	if err := c.Do(ctx, "auth", "plain").Err(); err == nil || !strings.Contains(err.Error(), "too many failed logins") {
		t.Fatalf("AUTH after 10 failures: %v", err)
	}
}
