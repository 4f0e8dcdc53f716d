package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/auth"
)

// UserChange is the body of POST /v1/users and PUT /v1/users/{name}: the
// password is sent once, over the connection, and only its hash is kept.
type UserChange struct {
	Name       string   `json:"name"`
	Password   string   `json:"password"`
	Role       string   `json:"role"`
	Namespaces []string `json:"namespaces,omitempty"`
}

// handleUsers: GET /v1/users lists the users, without their hashes.
func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request) {
	users := []auth.User{}
	for _, u := range s.cfg.Cluster.State().Users {
		users = append(users, u.Public())
	}
	slices.SortFunc(users, func(a, b auth.User) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, users)
}

// handleAddUser: POST /v1/users adds a user.
func (s *Server) handleAddUser(w http.ResponseWriter, r *http.Request) {
	s.putUser(w, r, "", true)
}

// handleChangeUser: PUT /v1/users/{name} changes a user's password, and
// its role and namespaces when given.
func (s *Server) handleChangeUser(w http.ResponseWriter, r *http.Request) {
	s.putUser(w, r, r.PathValue("name"), false)
}

func (s *Server) putUser(w http.ResponseWriter, r *http.Request, name string, create bool) {
	var req UserChange
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<13))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(w, fmt.Errorf("%w: user: %v", api.ErrInvalidArgument, err))
		return
	}
	if name != "" {
		req.Name = name
	}
	u := auth.User{Name: req.Name, Role: auth.Role(req.Role), Namespaces: req.Namespaces}
	if !create && req.Role == "" { // a password change keeps the rest
		old, ok := s.cfg.Cluster.State().User(req.Name)
		if !ok {
			fail(w, fmt.Errorf("%w: no user %s", api.ErrInvalidArgument, req.Name))
			return
		}
		u.Role, u.Namespaces = old.Role, old.Namespaces
	}
	var err error
	if u.Hash, err = auth.Hash(req.Password); err != nil {
		fail(w, fmt.Errorf("%w: %v", api.ErrInvalidArgument, err))
		return
	}
	if err := u.Validate(); err != nil {
		fail(w, fmt.Errorf("%w: %v", api.ErrInvalidArgument, err))
		return
	}
	if err := s.cfg.Cluster.PutUser(r.Context(), u, create); err != nil {
		fail(w, err)
		return
	}
	status := http.StatusOK
	if create {
		status = http.StatusCreated
	}
	writeJSON(w, status, u.Public())
}

// handleDeleteUser: DELETE /v1/users/{name}.
func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Cluster.DeleteUser(r.Context(), r.PathValue("name")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TokenRequest is the body of POST /v1/tokens: whose token (default: the
// caller's; another user's needs admin) and how long it lasts (Go
// duration; empty: never expires).
type TokenRequest struct {
	User string `json:"user,omitempty"`
	TTL  string `json:"ttl,omitempty"`
}

// NewToken is the answer of POST /v1/tokens: the token's text, shown this
// once, and its record.
type NewToken struct {
	Token  string     `json:"token"`
	Record auth.Token `json:"record"`
}

// mayActFor reports whether the caller may manage user's tokens: its own,
// or anyone's as an admin (or when no login is required).
func mayActFor(r *http.Request, user string) bool {
	c, ok := caller(r)
	return !ok || c.Name == user || c.Allows(auth.Admin, "")
}

// handleCreateToken: POST /v1/tokens.
func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(w, fmt.Errorf("%w: token: %v", api.ErrInvalidArgument, err))
		return
	}
	if req.User == "" {
		c, ok := caller(r)
		if !ok {
			fail(w, fmt.Errorf("%w: name the token's user (\"user\")", api.ErrInvalidArgument))
			return
		}
		req.User = c.Name
	}
	if !mayActFor(r, req.User) {
		writeError(w, http.StatusForbidden, "forbidden", "only an admin makes tokens of other users")
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		var err error
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 {
			fail(w, fmt.Errorf("%w: ttl %q: a positive duration, as 720h", api.ErrInvalidArgument, req.TTL))
			return
		}
	}
	t, text, err := auth.NewToken(req.User, ttl, time.Now())
	if err != nil {
		fail(w, err)
		return
	}
	if err := s.cfg.Cluster.PutToken(r.Context(), t); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, NewToken{Token: text, Record: t.Public()})
}

// handleTokens: GET /v1/tokens lists the caller's tokens (an admin's: all),
// without their hashes.
func (s *Server) handleTokens(w http.ResponseWriter, r *http.Request) {
	tokens := []auth.Token{}
	for _, t := range s.cfg.Cluster.State().Tokens {
		if mayActFor(r, t.User) {
			tokens = append(tokens, t.Public())
		}
	}
	slices.SortFunc(tokens, func(a, b auth.Token) int { return a.Created.Compare(b.Created) })
	writeJSON(w, http.StatusOK, tokens)
}

// handleRevokeToken: DELETE /v1/tokens/{id}.
func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	t, ok := s.cfg.Cluster.State().Token(r.PathValue("id"))
	if !ok || !mayActFor(r, t.User) {
		writeError(w, http.StatusNotFound, "not_found", "no token "+r.PathValue("id")+" of yours")
		return
	}
	if err := s.cfg.Cluster.DeleteToken(r.Context(), t.ID); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
