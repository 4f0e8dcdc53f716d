package auth

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

var (
	// ErrWrongPass refuses a login: no such user, or another password.
	// The two are not told apart.
	ErrWrongPass = errors.New("invalid username-password pair or user is disabled")
	// ErrTooManyAttempts refuses a login from a source that failed too
	// often lately, without checking it.
	ErrTooManyAttempts = errors.New("too many failed logins from this address")
)

// Authenticator checks logins and knows the users: what the front ends
// ask.
type Authenticator interface {
	// Login checks a password, from source (an IP address): nil,
	// ErrWrongPass or ErrTooManyAttempts.
	Login(user, password, source string) error
	// User is a user's current record.
	User(name string) (User, bool)
}

// Checker checks logins against the users Lookup finds. After
// MaxFailures failed logins to one user from one source (an IP address)
// within Window, that source's logins to that user are refused unchecked
// until the window has passed; after ten times as many to any users, all
// its logins are. (Clients that share an address, as on one machine, do
// not lock each other out over one mistyped password.)
type Checker struct {
	Lookup func(name string) (User, bool)
	// Tokens, if set, finds bearer tokens by id: a user's token is
	// taken as its password too (AUTH ann pdt_...).
	Tokens      func(id string) (Token, bool)
	MaxFailures int           // default 10
	Window      time.Duration // default 1 minute

	mu    sync.Mutex
	fails map[string][]time.Time // recent failures by source
}

// maxSources bounds the sources remembered; beyond, the oldest go.
const maxSources = 10000

// dummy is verified against when a user does not exist, so that a login
// takes as long for an unknown name as for a wrong password.
var dummy = sync.OnceValue(func() string {
	h, _ := Hash("no user has this password")
	return h
})

// Login checks name's password, coming from source: nil, ErrWrongPass or
// ErrTooManyAttempts (wrapped with when to retry).
func (c *Checker) Login(name, password, source string) error {
	now := time.Now()
	n, _ := c.limits()
	if wait := max(c.wait(source+"\x00"+name, n, now), c.wait(source, 10*n, now)); wait > 0 {
		return fmt.Errorf("%w; retry in %v", ErrTooManyAttempts, wait.Round(time.Second))
	}
	if id, secret, isToken := ParseToken(password); isToken && c.Tokens != nil {
		if t, ok := c.Tokens(id); ok && t.User == name && t.Check(secret, now) == nil {
			if _, ok := c.Lookup(name); ok {
				return nil
			}
		}
		c.failed(source+"\x00"+name, n, now)
		c.failed(source, 10*n, now)
		return ErrWrongPass
	}
	u, ok := c.Lookup(name)
	hash := u.Hash
	if !ok {
		hash = dummy()
	}
	match, err := Verify(hash, password)
	if !ok || err != nil || !match {
		c.failed(source+"\x00"+name, n, now)
		c.failed(source, 10*n, now)
		return ErrWrongPass
	}
	return nil
}

func (c *Checker) limits() (int, time.Duration) {
	n, w := c.MaxFailures, c.Window
	if n <= 0 {
		n = 10
	}
	if w <= 0 {
		w = time.Minute
	}
	return n, w
}

// wait is how long key (a source, or a source and a user) must wait
// before its next login is checked, n failures being the limit.
func (c *Checker) wait(source string, n int, now time.Time) time.Duration {
	_, w := c.limits()
	c.mu.Lock()
	defer c.mu.Unlock()
	recent := c.recent(source, now, w)
	if len(recent) < n {
		return 0
	}
	return recent[len(recent)-n].Add(w).Sub(now)
}

func (c *Checker) failed(source string, n int, now time.Time) {
	_, w := c.limits()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fails == nil {
		c.fails = map[string][]time.Time{}
	}
	if _, ok := c.fails[source]; !ok && len(c.fails) >= maxSources {
		for s := range c.fails { // forget what is oldest, or any
			if len(c.recent(s, now, w)) == 0 || len(c.fails) >= maxSources {
				delete(c.fails, s)
				break
			}
		}
	}
	recent := append(c.recent(source, now, w), now)
	if len(recent) > n {
		recent = recent[len(recent)-n:]
	}
	c.fails[source] = recent
}

// recent is source's failures within w before now. Called under mu.
func (c *Checker) recent(source string, now time.Time, w time.Duration) []time.Time {
	ts := c.fails[source]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= w {
		i++
	}
	if i == len(ts) {
		delete(c.fails, source)
		return nil
	}
	return ts[i:]
}
