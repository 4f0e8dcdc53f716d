package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

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
	a.Checker = &auth.Checker{Lookup: a.User, Tokens: a.Token}
	return a
}

func (a *authenticator) User(name string) (auth.User, bool) { return a.meta.State().User(name) }

func (a *authenticator) Token(id string) (auth.Token, bool) { return a.meta.State().Token(id) }

func (a *authenticator) NoUsers() bool { return len(a.meta.State().Users) == 0 }

// firstAdmin makes the admin of --admin-password-file, when there is one
// and the cluster has no user. Nodes started together may race: the
// first add wins, the others find the name taken.
func (s *Server) firstAdmin(ctx context.Context) error {
	if s.cfg.AdminPasswordFile == "" {
		return errors.New("not given")
	}
	data, err := os.ReadFile(s.cfg.AdminPasswordFile)
	if err != nil {
		return err
	}
	pw, _, _ := strings.Cut(string(data), "\n")
	hash, err := auth.Hash(strings.TrimSuffix(pw, "\r"))
	if err != nil {
		return fmt.Errorf("%s: %w", s.cfg.AdminPasswordFile, err)
	}
	name := s.cfg.AdminUser
	if name == "" {
		name = "admin"
	}
	err = s.node.Meta().PutUser(ctx, auth.User{Name: name, Hash: hash, Role: auth.Admin}, true)
	switch {
	case err == nil:
		s.log.Info("made the first admin user", "user", name)
	case errors.Is(err, metadata.ErrExists):
	default:
		return err
	}
	return nil
}
