package httpapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pandodb/pando/internal/auth"
)

// Authenticator checks logins and knows the users (Config.Auth).
type Authenticator interface {
	auth.Authenticator
	// NoUsers reports that the cluster has no user yet.
	NoUsers() bool
	// Token finds a bearer token by id.
	Token(id string) (auth.Token, bool)
}

// callerKey holds, in a request's context, the user the guard let in.
type callerKey struct{}

// caller is the user a request was authenticated as; ok is false when
// the API requires no login (then every caller may do everything).
func caller(r *http.Request) (auth.User, bool) {
	u, ok := r.Context().Value(callerKey{}).(auth.User)
	return u, ok
}

// need is what a route needs.
type need uint8

const (
	needNothing   need = iota // /healthz, /readyz
	needLogin                 // any user: status, ring, the namespaces' list
	needData                  // read (GET, HEAD) or write in the route's namespace
	needAdmin                 // admin of the cluster
	needFirstUser             // admin; or, while there is no user, a caller on this machine
)

// guard checks a request's credentials and permission before fn.
func (s *Server) guard(need need, fn http.HandlerFunc) http.Handler {
	if s.cfg.Auth == nil || need == needNothing {
		return fn
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		source, _, _ := net.SplitHostPort(r.RemoteAddr)
		if need == needFirstUser && s.cfg.Auth.NoUsers() {
			if ip := net.ParseIP(source); ip != nil && ip.IsLoopback() {
				fn(w, r) // the first admin, made on the node's own machine
				return
			}
		}
		name, password, basic := r.BasicAuth()
		viaToken := false
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			var err error
			if name, err = s.bearer(bearer); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="pando"`)
				writeError(w, http.StatusUnauthorized, "unauthenticated", err.Error())
				return
			}
			viaToken = true
		}
		if !basic && !viaToken {
			w.Header().Set("WWW-Authenticate", `Basic realm="pando"`)
			msg := "authentication required: HTTP Basic auth with a user of the cluster, or a bearer token (the CLI sends PANDO_USER and PANDO_PASSWORD, or PANDO_TOKEN)"
			if s.cfg.Auth.NoUsers() {
				msg += "; the cluster has no user yet: add the first with pando user add NAME --role admin on a node's machine"
			}
			writeError(w, http.StatusUnauthorized, "unauthenticated", msg)
			return
		}
		if !viaToken {
			if err := s.logins.check(s.cfg.Auth, name, password, source); err != nil {
				w.Header().Set("WWW-Authenticate", `Basic realm="pando"`)
				status := http.StatusUnauthorized
				if errors.Is(err, auth.ErrTooManyAttempts) {
					status = http.StatusTooManyRequests
				}
				writeError(w, status, "unauthenticated", err.Error())
				return
			}
		}
		u, ok := s.cfg.Auth.User(name)
		allowed := ok
		switch need {
		case needData:
			role := auth.Write
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				role = auth.Read
			}
			allowed = ok && u.Allows(role, namespace(r))
		case needAdmin, needFirstUser:
			allowed = ok && u.Allows(auth.Admin, "")
		}
		if !allowed {
			writeError(w, http.StatusForbidden, "forbidden", "user "+name+" has no permission for "+r.Method+" "+r.URL.Path)
			return
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, u)))
	})
}

// bearer checks a bearer token's text and returns its user's name.
func (s *Server) bearer(text string) (string, error) {
	id, secret, ok := auth.ParseToken(text)
	if !ok {
		return "", auth.ErrBadToken
	}
	t, ok := s.cfg.Auth.Token(id)
	if !ok {
		return "", auth.ErrBadToken
	}
	if err := t.Check(secret, time.Now()); err != nil {
		return "", err
	}
	return t.User, nil
}

// logins remembers recent successful logins, so that a client sending
// its credentials with every request does not pay a password hash (tens
// of milliseconds of CPU) each time: a login is trusted again for a
// minute, while the user's stored hash is unchanged.
type logins struct {
	mu   sync.Mutex
	seen map[[32]byte]loginSeen
}

type loginSeen struct {
	hash string // the user's hash when checked
	at   time.Time
}

const (
	loginReuse = time.Minute
	maxLogins  = 4096
)

func (l *logins) check(a Authenticator, name, password, source string) error {
	key := sha256.Sum256([]byte(name + "\x00" + password))
	u, ok := a.User(name)
	l.mu.Lock()
	seen, hit := l.seen[key]
	l.mu.Unlock()
	if ok && hit && seen.hash == u.Hash && time.Since(seen.at) < loginReuse {
		return nil
	}
	if err := a.Login(name, password, source); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil || len(l.seen) >= maxLogins {
		l.seen = map[[32]byte]loginSeen{}
	}
	l.seen[key] = loginSeen{hash: u.Hash, at: time.Now()}
	return nil
}
