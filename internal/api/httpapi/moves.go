package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/rebalance"
)

// Moves is what the ownership routes need of the cluster: staging
// changes, the plan they make, committing them, and following the move.
type Moves interface {
	Stage(ctx context.Context, c metadata.Change) error
	ClearStaged(ctx context.Context) error
	Plan(ctx context.Context) Plan
	Commit(ctx context.Context) (MoveStatus, error)
	MoveStatus(ctx context.Context) MoveStatus
	SetThrottle(ctx context.Context, bytesPerSecond int64) error
}

// Plan is the answer of GET /v1/cluster/plan: what committing the staged
// changes would do, before anything moves.
type Plan struct {
	Staged []metadata.Change `json:"staged"`
	// Error says why the staged changes cannot be committed, if they
	// cannot.
	Error string `json:"error,omitempty"`
	// Owners and Next count the partitions each node owns now and would
	// own after the move.
	Owners map[string]int `json:"owners"`
	Next   map[string]int `json:"next,omitempty"`
	// Transfers are the partitions that move, to whom, from whom.
	Transfers []metadata.Transfer `json:"transfers,omitempty"`
	// Groups counts the Raft groups of strong partitions whose members
	// change (learners added, caught up, promoted; leavers removed):
	// their data moves through Raft, not by copying.
	Groups int `json:"raft_groups,omitempty"`
	// Bytes estimates what the transfers copy (from the asked node's disk
	// use per partition replica it holds); Seconds, how long that takes
	// at the throttle (0 without one).
	Bytes    int64   `json:"bytes_estimate"`
	Throttle int64   `json:"throttle_bytes_per_second"`
	Seconds  float64 `json:"seconds_estimate,omitempty"`
}

// MoveStatus is the answer of GET /v1/cluster/move and of a commit.
type MoveStatus struct {
	// Move is the move under way, 0 when none is; LastMove the last one
	// finished.
	Move     uint64            `json:"move"`
	LastMove uint64            `json:"last_move"`
	Changes  []metadata.Change `json:"changes,omitempty"`
	// Transfers and Remaining count the move's transfers, all and not yet
	// done.
	Transfers int   `json:"transfers"`
	Remaining int   `json:"remaining"`
	Throttle  int64 `json:"throttle_bytes_per_second"`
	// Node is the asked node's part in the move.
	Node rebalance.Status `json:"node"`
}

// ThrottleChange is the body of PUT /v1/cluster/throttle.
type ThrottleChange struct {
	BytesPerSecond *int64 `json:"bytes_per_second"`
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", api.ErrInvalidArgument, err)
	}
	return nil
}

// handleStage: POST /v1/cluster/staged stages a change; it answers the
// plan.
func (s *Server) handleStage(w http.ResponseWriter, r *http.Request) {
	var c metadata.Change
	if err := decodeBody(w, r, &c); err != nil {
		fail(w, err)
		return
	}
	if c.Node == "" || c.Kind == metadata.ChangeReplace && c.With == "" {
		fail(w, fmt.Errorf(`%w: a change needs "kind" (join, leave, replace), "node", and for a replacement "with"`, api.ErrInvalidArgument))
		return
	}
	if err := s.cfg.Moves.Stage(r.Context(), c); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Moves.Plan(r.Context()))
}

// handleClearStaged: DELETE /v1/cluster/staged drops the staged changes.
func (s *Server) handleClearStaged(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Moves.ClearStaged(r.Context()); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Moves.Plan(r.Context()))
}

// handlePlan: GET /v1/cluster/plan.
func (s *Server) handlePlan(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Moves.Plan(r.Context()))
}

// handleCommit: POST /v1/cluster/commit commits the staged changes.
func (s *Server) handleCommit(w http.ResponseWriter, r *http.Request) {
	st, err := s.cfg.Moves.Commit(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handleMove: GET /v1/cluster/move.
func (s *Server) handleMove(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Moves.MoveStatus(r.Context()))
}

// handleThrottle: PUT /v1/cluster/throttle sets the bytes per second each
// node pulls in transfers, also those under way.
func (s *Server) handleThrottle(w http.ResponseWriter, r *http.Request) {
	var t ThrottleChange
	if err := decodeBody(w, r, &t); err != nil {
		fail(w, err)
		return
	}
	if t.BytesPerSecond == nil {
		fail(w, fmt.Errorf(`%w: "bytes_per_second" is missing (0 for no bound)`, api.ErrInvalidArgument))
		return
	}
	if err := s.cfg.Moves.SetThrottle(r.Context(), *t.BytesPerSecond); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Moves.MoveStatus(r.Context()))
}
