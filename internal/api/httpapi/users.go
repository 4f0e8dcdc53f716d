package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

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
