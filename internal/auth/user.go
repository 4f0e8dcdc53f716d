package auth

import (
	"errors"
	"fmt"
	"slices"
)

// Role is what a user may do.
type Role string

// Roles, each including the ones before it.
const (
	Read  Role = "read"
	Write Role = "write"
	Admin Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case Read:
		return 1
	case Write:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	if r := Role(s); r.rank() > 0 {
		return r, nil
	}
	return "", fmt.Errorf("auth: unknown role %q (want read, write or admin)", s)
}

// User is one user, as the metadata log keeps it.
type User struct {
	Name string `json:"name"`
	// Hash is the password's argon2id hash (Hash).
	Hash string `json:"hash"`
	Role Role   `json:"role"`
	// Namespaces the role applies to; empty: every namespace.
	Namespaces []string `json:"namespaces,omitempty"`
}

// MaxNameBytes bounds a user's name.
const MaxNameBytes = 64

// Validate checks a user record.
func (u User) Validate() error {
	if u.Name == "" || len(u.Name) > MaxNameBytes {
		return fmt.Errorf("auth: a user name has 1 to %d bytes", MaxNameBytes)
	}
	for _, c := range u.Name {
		if c <= ' ' || c == 0x7f {
			return errors.New("auth: a user name has no spaces or control characters")
		}
	}
	if _, err := ParseRole(string(u.Role)); err != nil {
		return err
	}
	if _, err := parseHash(u.Hash); err != nil {
		return fmt.Errorf("auth: user %s: %w", u.Name, err)
	}
	return nil
}

// Allows reports whether u may do what role need allows in namespace ns;
// ns "" asks for every namespace (the cluster-wide routes and commands).
func (u User) Allows(need Role, ns string) bool {
	if u.Role.rank() < need.rank() {
		return false
	}
	if len(u.Namespaces) == 0 {
		return true
	}
	return ns != "" && slices.Contains(u.Namespaces, ns)
}

// Public is u without its hash: what may be shown.
func (u User) Public() User {
	u.Hash = ""
	return u
}
