package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/pandodb/pando/internal/auth"
	"net/http"

	"github.com/pandodb/pando/internal/antientropy"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/storage"
)

// Cluster is what the admin endpoints serve. Its errors should wrap the
// sentinels of package api.
type Cluster interface {
	Status(ctx context.Context) Status
	State() *metadata.State
	CreateNamespace(ctx context.Context, ns metadata.Namespace) error
	// TruncateNamespace empties a namespace; DropNamespace removes it.
	// Either hides the records at once and purges them in the background.
	TruncateNamespace(ctx context.Context, name string) error
	DropNamespace(ctx context.Context, name string) error
	// SetAntiEntropyBudget changes what this node's anti-entropy may move
	// per second (0: no bound).
	SetAntiEntropyBudget(records, bytes float64) error
	// Admit makes a candidate node a member; Remove removes a member
	// that is down and owns nothing, for good.
	Admit(ctx context.Context, node string) error
	Remove(ctx context.Context, node string) error
	// PutUser adds (create) or changes a user; DeleteUser removes one.
	PutUser(ctx context.Context, u auth.User, create bool) error
	DeleteUser(ctx context.Context, name string) error
	// PutToken records a bearer token; DeleteToken revokes one.
	PutToken(ctx context.Context, t auth.Token) error
	DeleteToken(ctx context.Context, id string) error
}

// Status is the answer of GET /v1/status.
type Status struct {
	ClusterID  string               `json:"cluster_id"`
	Node       string               `json:"node"`
	Leader     string               `json:"leader"`
	Partitions int                  `json:"partitions"`
	Nodes      []NodeStatus         `json:"nodes"`
	Namespaces []metadata.Namespace `json:"namespaces"`
	// HintsPending counts the hints the asked node keeps, by the node each
	// is for.
	HintsPending map[string]int `json:"hints_pending,omitempty"`
	// AntiEntropy is what the asked node's anti-entropy knows of its
	// partitions; nil when it runs none.
	AntiEntropy *antientropy.Status `json:"anti_entropy,omitempty"`
	// Disk is the asked node's disk: free space, and whether it refuses
	// data writes and why.
	Disk *storage.DiskStatus `json:"disk,omitempty"`
	// Staged are the ownership changes staged, not yet committed; Move,
	// the move under way, if any.
	Staged []metadata.Change `json:"staged,omitempty"`
	Move   *MoveStatus       `json:"move,omitempty"`
}

// NodeStatus is one node in Status.
type NodeStatus struct {
	ID string `json:"id"`
	// State is up, down (stopped answering), stopped (shut down cleanly,
	// still a member) or unknown (gossip has not seen it).
	State string `json:"state"`
	// Member is whether the node is in the cluster's metadata. A node up
	// in gossip that is not is a candidate, until an operator admits it
	// (POST /v1/cluster/members); Removed, one removed for good.
	Member  bool `json:"member"`
	Removed bool `json:"removed,omitempty"`
	Voter   bool `json:"voter"`
	// Partitions is how many partitions the node owns.
	Partitions  int    `json:"partitions"`
	ClusterAddr string `json:"cluster_addr,omitempty"`
	RESPAddr    string `json:"resp_addr,omitempty"`
	HTTPAddr    string `json:"http_addr,omitempty"`
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Cluster.Status(r.Context()))
}

// AntiEntropyBudget is the body of PUT /v1/antientropy: what the node's
// anti-entropy may move per second, 0 for no bound.
type AntiEntropyBudget struct {
	RecordsPerSecond *float64 `json:"records_per_second"`
	BytesPerSecond   *float64 `json:"bytes_per_second"`
}

// handleAntiEntropy: PUT /v1/antientropy changes this node's budget; a
// field left out keeps its value.
func (s *Server) handleAntiEntropy(w http.ResponseWriter, r *http.Request) {
	var req AntiEntropyBudget
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(w, fmt.Errorf("%w: anti-entropy budget: %v", api.ErrInvalidArgument, err))
		return
	}
	st := s.cfg.Cluster.Status(r.Context()).AntiEntropy
	if st == nil {
		fail(w, fmt.Errorf("%w: anti-entropy is off on this node (--anti-entropy=false)", api.ErrUnsupported))
		return
	}
	records, bytes := st.RecordsPerSecond, st.BytesPerSecond
	if req.RecordsPerSecond != nil {
		records = *req.RecordsPerSecond
	}
	if req.BytesPerSecond != nil {
		bytes = *req.BytesPerSecond
	}
	if err := s.cfg.Cluster.SetAntiEntropyBudget(records, bytes); err != nil {
		fail(w, fmt.Errorf("%w: %v", api.ErrInvalidArgument, err))
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Cluster.Status(r.Context()).AntiEntropy)
}

// RingView is the answer of GET /v1/ring.
type RingView struct {
	Partitions []PartitionView `json:"partitions"`
}

// PartitionView is one partition of RingView.
type PartitionView struct {
	Partition int `json:"partition"`
	// Range is the partition's hash range, as hexadecimal [from, to).
	From string `json:"from"`
	To   string `json:"to"`
	// Replicas is the preference list for the namespace asked (default N=3).
	Replicas []string `json:"replicas"`
}

func (s *Server) handleRing(w http.ResponseWriter, r *http.Request) {
	st := s.cfg.Cluster.State()
	if !st.Initialized() {
		fail(w, fmt.Errorf("%w: the cluster has not formed yet", api.ErrUnavailable))
		return
	}
	nsName := r.URL.Query().Get("ns")
	if nsName == "" {
		nsName = "default"
	}
	ns, ok := st.Namespace(nsName)
	if !ok {
		fail(w, fmt.Errorf("%w: %q", api.ErrNoNamespace, nsName))
		return
	}
	n := st.Replicas(ns)
	var v RingView
	for p := range st.Ring.Partitions() {
		lo, hi, last := st.Ring.Range(p)
		to := fmt.Sprintf("%016x", hi)
		if last {
			to = "end"
		}
		v.Partitions = append(v.Partitions, PartitionView{Partition: p, From: fmt.Sprintf("%016x", lo), To: to, Replicas: st.Ring.Preference(p, n)})
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleNamespaces(w http.ResponseWriter, r *http.Request) {
	st := s.cfg.Cluster.State()
	out := struct {
		Namespaces []metadata.Namespace `json:"namespaces"`
	}{Namespaces: []metadata.Namespace{}}
	for _, name := range st.NamespaceNames() {
		out.Namespaces = append(out.Namespaces, st.Namespaces[name])
	}
	writeJSON(w, http.StatusOK, out)
}

// handleDropNamespace: DELETE /v1/ns/{ns}.
func (s *Server) handleDropNamespace(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Cluster.DropNamespace(r.Context(), r.PathValue("ns")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleTruncateNamespace: POST /v1/ns/{ns}/truncate, Redis's FLUSHDB.
func (s *Server) handleTruncateNamespace(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Cluster.TruncateNamespace(r.Context(), r.PathValue("ns")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleCreateNamespace(w http.ResponseWriter, r *http.Request) {
	// n and max_siblings may be left out, for their defaults; given as 0,
	// they are refused like any other bad value.
	var req struct {
		metadata.Namespace
		N           *int `json:"n"`
		MaxSiblings *int `json:"max_siblings"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(w, fmt.Errorf("%w: namespace definition: %v", api.ErrInvalidArgument, err))
		return
	}
	ns := req.Namespace
	ns.N, ns.MaxSiblings = metadata.DefaultN, metadata.DefaultMaxSiblings
	if req.N != nil {
		ns.N = *req.N
	}
	if req.MaxSiblings != nil {
		ns.MaxSiblings = *req.MaxSiblings
	}
	if ns.Model == "" {
		ns.Model = metadata.Eventual
	}
	if ns.Type == "" {
		ns.Type = metadata.Bytes
	}
	if err := s.cfg.Cluster.CreateNamespace(r.Context(), ns); err != nil {
		fail(w, err)
		return
	}
	created, _ := s.cfg.Cluster.State().Namespace(ns.Name)
	writeJSON(w, http.StatusCreated, created)
}

// MemberChange is the body of POST /v1/cluster/members: the node to admit.
type MemberChange struct {
	Node string `json:"node"`
}

// handleAdmit: POST /v1/cluster/members admits a candidate node as a
// member; it answers the cluster's status.
func (s *Server) handleAdmit(w http.ResponseWriter, r *http.Request) {
	var req MemberChange
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Node == "" {
		if err == nil {
			err = errors.New(`"node" is missing`)
		}
		fail(w, fmt.Errorf("%w: node to admit: %v", api.ErrInvalidArgument, err))
		return
	}
	if err := s.cfg.Cluster.Admit(r.Context(), req.Node); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Cluster.Status(r.Context()))
}

// handleRemove: DELETE /v1/cluster/members/{node} removes a member for
// good; it answers the cluster's status.
func (s *Server) handleRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Cluster.Remove(r.Context(), r.PathValue("node")); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Cluster.Status(r.Context()))
}
