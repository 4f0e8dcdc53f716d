package resp

import (
	"errors"
	"fmt"
	"net"

	"github.com/pandodb/pando/internal/auth"
)

// Authentication and permissions (Config.Auth).
//
// A connection starts unauthenticated; until AUTH (or HELLO's AUTH)
// succeeds, every command but AUTH, HELLO and QUIT is refused with
// Redis's -NOAUTH. Then each command is checked against the user's
// current record (a user removed, or whose role changed, is checked
// anew): its permission class (perm), decided once for every command of
// the table (permOf), names what it needs and where: read or write in the
// connection's namespace, write in every namespace (FLUSHALL), admin
// (CONFIG), or only a login (PING, CLIENT, INFO, CLUSTER ...). A refusal is
// Redis's -NOPERM.

// Authenticator checks logins and knows the users.
type Authenticator = auth.Authenticator

// perm is what a command needs.
type perm uint8

const (
	permUnset    perm = iota
	permNoAuth        // runs before a login: AUTH, HELLO, QUIT
	permLogin         // any user
	permRead          // read in the connection's namespace
	permWrite         // write in the connection's namespace
	permWriteAll      // write in every namespace
	permAdmin         // admin of the cluster
)

// loginOnly are the commands any authenticated user may run: they touch no
// namespace's data (connection settings, introspection, transactions,
// whose queued commands are checked each on its own).
var loginOnly = map[string]bool{
	"ping": true, "echo": true, "select": true, "namespace": true, "consistency": true,
	"client": true, "command": true, "time": true, "info": true, "cluster": true,
	"readonly": true, "readwrite": true, "asking": true,
	"multi": true, "exec": true, "discard": true, "unwatch": true,
}

// permOverrides are the commands whose flags do not say what they need.
var permOverrides = map[string]perm{
	"auth": permNoAuth, "hello": permNoAuth, "quit": permNoAuth,
	"flushall": permWriteAll, "watch": permRead, "config": permAdmin,
}

// permOf decides what c needs, or fails: a command must not be added
// without saying so.
func permOf(c *command) (perm, error) {
	if p, ok := permOverrides[c.name]; ok {
		return p, nil
	}
	if loginOnly[c.name] {
		return permLogin, nil
	}
	for _, f := range c.flags {
		switch f {
		case "admin":
			return permAdmin, nil
		case "write":
			return permWrite, nil
		case "readonly":
			return permRead, nil
		}
	}
	return permUnset, fmt.Errorf("resp: command %s has no permission class (flags %v): give it one in auth.go", c.name, c.flags)
}

const errNoAuth replyError = "NOAUTH Authentication required."

// authorize checks that the connection may run def now.
func (c *conn) authorize(def *command) error {
	if def.perm == permNoAuth {
		return nil
	}
	if c.user == "" {
		return errNoAuth
	}
	u, ok := c.s.cfg.Auth.User(c.user)
	if !ok { // removed since the login
		c.user = ""
		return errNoAuth
	}
	need, ns := auth.Read, c.ns
	switch def.perm {
	case permLogin:
		return nil
	case permWrite:
		need = auth.Write
	case permWriteAll:
		need, ns = auth.Write, ""
	case permAdmin:
		need, ns = auth.Admin, ""
	}
	if !u.Allows(need, ns) {
		return replyError("NOPERM User " + u.Name + " has no permissions to run the '" + def.name + "' command")
	}
	return nil
}

// login authenticates the connection as user.
func (c *conn) login(user, password []byte) error {
	if c.s.cfg.Auth == nil {
		return replyError("ERR AUTH is not enabled on this server (nodes require it with --require-auth)")
	}
	source, _, _ := net.SplitHostPort(c.nc.RemoteAddr().String())
	err := c.s.cfg.Auth.Login(string(user), string(password), source)
	switch {
	case err == nil:
		c.user = string(user)
		return nil
	case errors.Is(err, auth.ErrTooManyAttempts):
		return replyError("ERR " + err.Error())
	}
	return replyError("WRONGPASS " + auth.ErrWrongPass.Error() + ".") // Redis's words
}

// cmdAuth is AUTH [user] password; a password alone is the user "default".
func cmdAuth(c *conn, args [][]byte) error {
	user, password := []byte("default"), args[1]
	switch len(args) {
	case 2:
	case 3:
		user, password = args[1], args[2]
	default:
		return errSyntax
	}
	if err := c.login(user, password); err != nil {
		return err
	}
	c.w.WriteString("OK")
	return nil
}
