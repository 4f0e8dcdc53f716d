package metadata

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pandodb/pando/internal/auth"
	"github.com/pandodb/pando/ring"
)

// Member is a node of the cluster.
type Member struct {
	ID          string `json:"id"`
	RaftID      uint64 `json:"raft_id"`
	ClusterAddr string `json:"cluster_addr"`
	GossipAddr  string `json:"gossip_addr"`
	RESPAddr    string `json:"resp_addr"`
	HTTPAddr    string `json:"http_addr"`
	// Voter marks the founders, who voted from the start. Who votes now
	// is the metadata group's configuration (its Raft status), which the
	// leader keeps at VoterTarget; this field is not updated.
	Voter bool `json:"voter"`
}

// Model is a namespace's consistency model.
type Model string

// The models.
const (
	Eventual Model = "eventual"
	Strong   Model = "strong"
)

// Type is a namespace's value type.
type Type string

// The value types.
const (
	Bytes    Type = "bytes"
	Counter  Type = "counter"
	Set      Type = "set"
	Map      Type = "map"
	Register Type = "register"
	Flag     Type = "flag"
)

// Namespace is a named keyspace.
type Namespace struct {
	Name string `json:"name"`
	// N is the replication factor.
	N     int   `json:"n"`
	Model Model `json:"model"`
	Type  Type  `json:"type"`
	// MaxSiblings bounds the concurrent values a key may hold before writes
	// that would add one are refused.
	MaxSiblings int `json:"max_siblings"`
	// DB is the namespace's number, for Redis clients that SELECT a database
	// by number. default is 0; each new namespace takes the next free one.
	DB int `json:"db"`
	// Generation names the namespace's data on disk (StorageName). A
	// truncation (FLUSHDB) moves the namespace to a new generation, which
	// hides the old data at once; it is purged in the background.
	Generation uint64 `json:"generation,omitempty"`
	// SloppyQuorum lets a write count hints toward W: when replicas of the
	// key are down or do not answer, the next healthy nodes in the ring keep
	// the record as a durable hint for them, and each hint counts as an
	// acknowledgement (Dynamo's sloppy quorum). Writes then stay available
	// with fewer than W replicas up, at a price: until the hints are
	// delivered, a read at R may not see an acknowledged write even with
	// R + W > N. Off by default: hints are kept, but only replicas count.
	SloppyQuorum bool `json:"sloppy_quorum,omitempty"`
}

// StorageName is the name under which the namespace's records are stored
// and replicated: its name, then '#' and its generation past the first.
// ('#' is not allowed in names, so storage names never collide.)
func (ns *Namespace) StorageName() string {
	if ns.Generation == 0 {
		return ns.Name
	}
	return ns.Name + "#" + strconv.FormatUint(ns.Generation, 10)
}

// ParseStorageName splits a storage name into namespace and generation.
func ParseStorageName(s string) (name string, gen uint64) {
	i := strings.LastIndexByte(s, '#')
	if i < 0 {
		return s, 0
	}
	g, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return s, 0
	}
	return s[:i], g
}

// Defaults of new namespaces.
const (
	DefaultN           = 3
	DefaultMaxSiblings = 16
	// TargetN is the window of consecutive partitions the claim keeps on
	// distinct nodes (Riak's target_n_val).
	TargetN = 3
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Validate checks that a namespace definition is well formed. The metadata
// log applies it, so it must not depend on what this binary supports: that
// is Supported's job, before a definition is proposed.
func (ns *Namespace) Validate() error {
	if !nameRE.MatchString(ns.Name) {
		return fmt.Errorf("%w: namespace name %q: use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit", ErrInvalid, ns.Name)
	}
	if ns.N < 1 || ns.N > 7 {
		return fmt.Errorf("%w: n must be 1 to 7, got %d", ErrInvalid, ns.N)
	}
	switch ns.Model {
	case Eventual, Strong:
	default:
		return fmt.Errorf("%w: model must be eventual or strong, got %q", ErrInvalid, ns.Model)
	}
	switch ns.Type {
	case Bytes, Counter, Set, Map, Register, Flag:
	default:
		return fmt.Errorf("%w: type must be bytes, counter, set, map, register or flag, got %q", ErrInvalid, ns.Type)
	}
	if ns.MaxSiblings < 1 || ns.MaxSiblings > 1024 {
		return fmt.Errorf("%w: max siblings must be 1 to 1024, got %d", ErrInvalid, ns.MaxSiblings)
	}
	return nil
}

// CheckNew checks what a new namespace must satisfy beyond Validate, which
// namespaces already in the log (from older releases) need not: a name that
// starts with a letter, so that NAMESPACE 1 and SELECT 1 cannot mean
// different namespaces.
func (ns *Namespace) CheckNew() error {
	if c := ns.Name[0]; c < 'a' || c > 'z' {
		return fmt.Errorf("%w: namespace name %q: start it with a letter (SELECT takes numbers)", ErrInvalid, ns.Name)
	}
	return nil
}

// Supported reports a well-formed definition that this version of Pando
// cannot serve yet.
func (ns *Namespace) Supported() error {
	if ns.Model == Strong && ns.SloppyQuorum {
		return fmt.Errorf("%w: a sloppy quorum is for eventual namespaces; a strong one writes through a majority of its replicas only", ErrInvalid)
	}
	switch {
	case ns.Type == Register || ns.Type == Flag:
		return fmt.Errorf("%w: the %s type is not available in this version of Pando; use bytes, counter, set or map", ErrUnsupported, ns.Type)
	case ns.Type != Bytes && ns.Model == Strong:
		return fmt.Errorf("%w: a %s namespace merges concurrent updates and is eventual; strong namespaces hold bytes (with INCRBY and transactions)", ErrInvalid, ns.Type)
	}
	return nil
}

// State is the metadata at one point of the log. A State is immutable once
// published: readers share it without locks.
type State struct {
	// ClusterID is empty until the cluster is initialised.
	ClusterID  string
	Partitions int
	Members    map[string]Member
	Ring       *ring.Ring
	Namespaces map[string]Namespace
	// Generations counts the generations ever given to namespaces.
	Generations uint64
	// Retired holds, by namespace name, the lowest generation still in use:
	// data stored under an older generation of that name (truncated, or
	// dropped) is garbage. A name never retired has no entry.
	Retired map[string]uint64
	// Removed holds the members removed for good (pando cluster remove),
	// by node id, with their Raft ids: neither is ever a member again.
	Removed map[string]uint64
	// Users are the users of the cluster (package auth), by name.
	Users map[string]auth.User
	// Tokens are the users' bearer tokens, by id.
	Tokens map[string]auth.Token
	// Staged are the ownership changes staged and not yet committed.
	Staged []Change
	// Move is the committed ownership change whose data is moving (nil
	// when none is); LastMove is the ID of the last one that finished.
	Move     *Move
	LastMove uint64
	// MoveThrottle bounds the bytes per second each node pulls in
	// transfers (0: no bound).
	MoveThrottle int64
	// Index is the last applied log index.
	Index uint64
}

// User returns a user.
func (s *State) User(name string) (auth.User, bool) {
	u, ok := s.Users[name]
	return u, ok
}

// Token returns a bearer token by id.
func (s *State) Token(id string) (auth.Token, bool) {
	t, ok := s.Tokens[id]
	return t, ok
}

// Garbage reports whether records stored under storage name are of a
// generation that a truncation or a drop retired. A storage name this
// state does not know (a namespace created on another node a moment ago)
// is not garbage.
func (s *State) Garbage(storage string) bool {
	name, gen := ParseStorageName(storage)
	return gen < s.Retired[name]
}

// Initialized reports whether the cluster has been formed.
func (s *State) Initialized() bool { return s.ClusterID != "" && s.Ring != nil }

// Namespace returns a namespace definition.
func (s *State) Namespace(name string) (Namespace, bool) {
	ns, ok := s.Namespaces[name]
	return ns, ok
}

// MemberByRaftID finds a member by its Raft id.
func (s *State) MemberByRaftID(id uint64) (Member, bool) {
	for _, m := range s.Members {
		if m.RaftID == id {
			return m, true
		}
	}
	return Member{}, false
}

// wasRemoved refuses a node id or Raft id of a member removed for good.
func (s *State) wasRemoved(id string, raftID uint64) error {
	if _, ok := s.Removed[id]; ok {
		return fmt.Errorf("%w: %s was removed from the cluster for good; start it with an empty data directory, and it joins under a new id", ErrInvalid, id)
	}
	for other, r := range s.Removed {
		if r == raftID {
			return fmt.Errorf("%w: raft id %d of %s belonged to %s, removed for good", ErrInvalid, raftID, id, other)
		}
	}
	return nil
}

// VoterTarget is how many voters the metadata group keeps with members
// members: five from five members on, three from three, else every member.
// An odd count: a fourth voter would raise the quorum without surviving
// one more failure.
func VoterTarget(members int) int {
	switch {
	case members >= 5:
		return 5
	case members >= 3:
		return 3
	}
	return members
}

// MemberIDs returns the member ids, sorted.
func (s *State) MemberIDs() []string {
	ids := slices.Collect(maps.Keys(s.Members))
	slices.Sort(ids)
	return ids
}

// NamespaceNames returns the namespace names, sorted.
func (s *State) NamespaceNames() []string {
	names := slices.Collect(maps.Keys(s.Namespaces))
	slices.Sort(names)
	return names
}

// NamespaceByDB finds a namespace by its number.
func (s *State) NamespaceByDB(db int) (Namespace, bool) {
	for _, ns := range s.Namespaces {
		if ns.DB == db {
			return ns, true
		}
	}
	return Namespace{}, false
}

// Replicas returns the effective replication factor of ns: its N, bounded
// by the number of nodes that own partitions.
func (s *State) Replicas(ns Namespace) int {
	if s.Ring == nil {
		return 0
	}
	return min(ns.N, s.Ring.NumNodes())
}

func (s *State) clone() *State {
	c := *s
	c.Members = maps.Clone(s.Members)
	c.Namespaces = maps.Clone(s.Namespaces)
	c.Retired = maps.Clone(s.Retired)
	if c.Retired == nil {
		c.Retired = map[string]uint64{}
	}
	c.Removed = maps.Clone(s.Removed)
	if c.Removed == nil {
		c.Removed = map[string]uint64{}
	}
	c.Users = maps.Clone(s.Users)
	if c.Users == nil {
		c.Users = map[string]auth.User{}
	}
	c.Tokens = maps.Clone(s.Tokens)
	if c.Tokens == nil {
		c.Tokens = map[string]auth.Token{}
	}
	if c.Members == nil {
		c.Members = map[string]Member{}
	}
	if c.Namespaces == nil {
		c.Namespaces = map[string]Namespace{}
	}
	return &c
}

// snapshot is State's encoding in Raft snapshots.
type snapshot struct {
	Version    int                  `json:"version"`
	ClusterID  string               `json:"cluster_id"`
	Partitions int                  `json:"partitions"`
	Members    map[string]Member    `json:"members"`
	Ring       []byte               `json:"ring"`
	Namespaces map[string]Namespace `json:"namespaces"`
	Index      uint64               `json:"index"`
	// Added after version 1 without changing it: absent, they read as zero.
	Generations uint64                `json:"generations,omitempty"`
	Retired     map[string]uint64     `json:"retired,omitempty"`
	Removed     map[string]uint64     `json:"removed,omitempty"`
	Users       map[string]auth.User  `json:"users,omitempty"`
	Tokens      map[string]auth.Token `json:"tokens,omitempty"`
	Staged      []Change              `json:"staged,omitempty"`
	Move        *Move                 `json:"move,omitempty"`
	LastMove    uint64                `json:"last_move,omitempty"`
	Throttle    int64                 `json:"move_throttle,omitempty"`
}

func (s *State) encode() ([]byte, error) {
	snap := snapshot{Version: 1, ClusterID: s.ClusterID, Partitions: s.Partitions, Members: s.Members, Namespaces: s.Namespaces, Index: s.Index,
		Generations: s.Generations, Retired: s.Retired, Removed: s.Removed, Users: s.Users, Tokens: s.Tokens,
		Staged: s.Staged, Move: s.Move, LastMove: s.LastMove, Throttle: s.MoveThrottle}
	if s.Ring != nil {
		snap.Ring = s.Ring.Encode()
	}
	return json.Marshal(snap)
}

func decodeState(b []byte) (*State, error) {
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("metadata: corrupt snapshot: %w", err)
	}
	if snap.Version != 1 {
		return nil, fmt.Errorf("metadata: snapshot version %d is newer than this binary reads (1)", snap.Version)
	}
	s := &State{ClusterID: snap.ClusterID, Partitions: snap.Partitions, Members: snap.Members, Namespaces: snap.Namespaces, Index: snap.Index,
		Generations: snap.Generations, Retired: snap.Retired, Removed: snap.Removed, Users: snap.Users, Tokens: snap.Tokens,
		Staged: snap.Staged, Move: snap.Move, LastMove: snap.LastMove, MoveThrottle: snap.Throttle}
	if len(snap.Ring) > 0 {
		r, err := ring.Decode(snap.Ring)
		if err != nil {
			return nil, fmt.Errorf("metadata: corrupt ring in snapshot: %w", err)
		}
		s.Ring = r
	}
	return s.clone(), nil
}

// SingleNode returns the State of a one-node cluster that owns every
// partition, with the default namespace and any others given: a fixed
// metadata for tests and tools that need a coordinator without Raft.
func SingleNode(id string, partitions int, namespaces ...Namespace) *State {
	return FixedCluster([]string{id}, partitions, namespaces...)
}

// FixedCluster returns the State of a cluster of the given nodes, all voters
// that own partitions, with the default namespace and any others given: a
// fixed metadata for tests that run coordinators without Raft.
func FixedCluster(ids []string, partitions int, namespaces ...Namespace) *State {
	r, err := ring.New(partitions, ids, TargetN)
	if err != nil {
		panic(fmt.Sprintf("metadata: fixed ring: %v", err))
	}
	s := (&State{ClusterID: "fixed-" + ids[0], Partitions: partitions, Ring: r}).clone()
	for i, id := range ids {
		s.Members[id] = Member{ID: id, RaftID: uint64(i + 1), Voter: true}
	}
	s.Namespaces["default"] = Namespace{Name: "default", N: DefaultN, Model: Eventual, Type: Bytes, MaxSiblings: DefaultMaxSiblings}
	for i, ns := range namespaces {
		if ns.MaxSiblings == 0 {
			ns.MaxSiblings = DefaultMaxSiblings
		}
		ns.DB = i + 1
		s.Namespaces[ns.Name] = ns
	}
	return s
}

// Fixed is metadata that never changes.
type Fixed struct{ S *State }

// State returns the fixed state.
func (f Fixed) State() *State { return f.S }
