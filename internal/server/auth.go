package server

import (
	"github.com/pandodb/pando/internal/auth"
	"github.com/pandodb/pando/internal/metadata"
)

// authenticator checks logins against the users of the metadata, as this
// node last applied it, for the Redis protocol and HTTP front ends.
type authenticator struct {
	meta *metadata.Service
	*auth.Checker
}

func newAuthenticator(meta *metadata.Service) *authenticator {
	a := &authenticator{meta: meta}
	a.Checker = &auth.Checker{Lookup: a.User}
	return a
}

func (a *authenticator) User(name string) (auth.User, bool) { return a.meta.State().User(name) }

func (a *authenticator) NoUsers() bool { return len(a.meta.State().Users) == 0 }
