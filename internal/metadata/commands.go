package metadata

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pandodb/pando/internal/auth"
	"github.com/pandodb/pando/ring"
)

// command is one entry of the metadata log. Commands are idempotent: a
// command proposed twice (a retry after a lost answer) changes nothing the
// second time, or is refused with ErrExists.
type command struct {
	Op string `json:"op"`
	// init
	ClusterID  string   `json:"cluster_id,omitempty"`
	Partitions int      `json:"partitions,omitempty"`
	Founders   []Member `json:"founders,omitempty"`
	// add_member, update_member
	Member *Member `json:"member,omitempty"`
	// create_namespace
	Namespace *Namespace `json:"namespace,omitempty"`
	// truncate_namespace, drop_namespace: the namespace, and the
	// generation the command empties (so that a retry changes nothing);
	// remove_member: the node id.
	Name       string `json:"name,omitempty"`
	Generation uint64 `json:"generation,omitempty"`
	// put_user: the user, and whether it must be new (an add) or must
	// exist (a change); delete_user: Name.
	User   *auth.User `json:"user,omitempty"`
	Create bool       `json:"create,omitempty"`
	// put_token: the token; delete_token: Name is its id.
	Token *auth.Token `json:"token,omitempty"`
	// stage: the change; moved: the move's ID, the partition, and the
	// node that has it (Name).
	// commit: the staged changes it commits.
	Change    *Change  `json:"change,omitempty"`
	Changes   []Change `json:"changes,omitempty"`
	Move      uint64   `json:"move,omitempty"`
	Partition int      `json:"partition,omitempty"`
	// throttle: bytes per second, 0 for no bound.
	Rate int64 `json:"rate,omitempty"`
}

const (
	opInit            = "init"
	opAddMember       = "add_member"
	opUpdateMember    = "update_member"
	opRemoveMember    = "remove_member"
	opCreateNamespace = "create_namespace"
	opTruncate        = "truncate_namespace"
	opDrop            = "drop_namespace"
	opPutUser         = "put_user"
	opDeleteUser      = "delete_user"
	opPutToken        = "put_token"
	opDeleteToken     = "delete_token"
	opStage           = "stage"
	opClearStaged     = "clear_staged"
	opCommit          = "commit"
	opMoved           = "moved"
	opMoveReady       = "move_ready"
	opThrottle        = "throttle"
)

// stateMachine applies commands to a State and publishes each new State.
type stateMachine struct {
	mu      sync.Mutex // serialises Apply/Restore against Snapshot
	cur     atomic.Pointer[State]
	changed func() // called after each change, outside mu
}

func newStateMachine(changed func()) *stateMachine {
	sm := &stateMachine{changed: changed}
	sm.cur.Store((&State{}).clone())
	return sm
}

func (sm *stateMachine) state() *State { return sm.cur.Load() }

func (sm *stateMachine) Apply(index uint64, data []byte) ([]byte, error) {
	var c command
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%w: undecodable command: %v", ErrInvalid, err)
	}
	sm.mu.Lock()
	next := sm.cur.Load().clone()
	next.Index = index
	err := apply(next, &c)
	sm.cur.Store(next) // the index moves even when a command is refused
	sm.mu.Unlock()
	if sm.changed != nil {
		sm.changed()
	}
	return nil, err
}

func apply(s *State, c *command) error {
	switch c.Op {
	case opInit:
		if s.Initialized() {
			return fmt.Errorf("%w: cluster %s", ErrExists, s.ClusterID)
		}
		ids := make([]string, 0, len(c.Founders))
		for _, m := range c.Founders {
			ids = append(ids, m.ID)
		}
		r, err := ring.New(c.Partitions, ids, TargetN)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		s.ClusterID, s.Partitions, s.Ring = c.ClusterID, c.Partitions, r
		for _, m := range c.Founders {
			s.Members[m.ID] = m
		}
		s.Namespaces["default"] = Namespace{Name: "default", N: DefaultN, Model: Eventual, Type: Bytes, MaxSiblings: DefaultMaxSiblings}
		return nil
	case opAddMember:
		if !s.Initialized() {
			return ErrNotInitialized
		}
		m := c.Member
		if m == nil || m.ID == "" || m.RaftID == 0 {
			return fmt.Errorf("%w: member needs an id and a raft id", ErrInvalid)
		}
		if old, ok := s.Members[m.ID]; ok {
			if old.RaftID == m.RaftID {
				return nil // a retry
			}
			return fmt.Errorf("%w: member %s", ErrExists, m.ID)
		}
		if other, ok := s.MemberByRaftID(m.RaftID); ok {
			return fmt.Errorf("%w: raft id %d of %s is taken by %s", ErrExists, m.RaftID, m.ID, other.ID)
		}
		if err := s.wasRemoved(m.ID, m.RaftID); err != nil {
			return err
		}
		s.Members[m.ID] = *m
		return nil
	case opRemoveMember:
		if !s.Initialized() {
			return ErrNotInitialized
		}
		m, ok := s.Members[c.Name]
		if !ok {
			if _, gone := s.Removed[c.Name]; gone {
				return nil // a retry
			}
			return fmt.Errorf("%w: %s is not a member", ErrInvalid, c.Name)
		}
		if owned := len(s.Ring.PartitionsOf(m.ID)); owned > 0 {
			return fmt.Errorf("%w: %s owns %d partitions; a member is removed only once it owns none (pando cluster leave or replace hands them off)", ErrInvalid, m.ID, owned)
		}
		if s.Move != nil && len(s.Move.Next.PartitionsOf(m.ID)) > 0 {
			return fmt.Errorf("%w: %s takes partitions in move %d, under way", ErrInvalid, m.ID, s.Move.ID)
		}
		for _, st := range s.Staged {
			if st.Node == m.ID || st.With == m.ID {
				return fmt.Errorf("%w: %s is named by the staged change %q (pando cluster clear drops it)", ErrInvalid, m.ID, st)
			}
		}
		delete(s.Members, m.ID)
		s.Removed[m.ID] = m.RaftID
		return nil
	case opUpdateMember:
		m := c.Member
		if m == nil {
			return fmt.Errorf("%w: no member", ErrInvalid)
		}
		old, ok := s.Members[m.ID]
		if !ok || old.RaftID != m.RaftID {
			return fmt.Errorf("%w: no member %s", ErrInvalid, m.ID)
		}
		old.ClusterAddr, old.GossipAddr, old.RESPAddr, old.HTTPAddr = m.ClusterAddr, m.GossipAddr, m.RESPAddr, m.HTTPAddr
		if m.Voter {
			old.Voter = true
		}
		s.Members[m.ID] = old
		return nil
	case opCreateNamespace:
		if !s.Initialized() {
			return ErrNotInitialized
		}
		ns := c.Namespace
		if ns == nil {
			return fmt.Errorf("%w: no namespace", ErrInvalid)
		}
		if err := ns.Validate(); err != nil {
			return err
		}
		if old, ok := s.Namespaces[ns.Name]; ok {
			retry := *ns
			retry.DB, retry.Generation = old.DB, old.Generation
			if old == retry {
				return nil // a retry
			}
			return fmt.Errorf("%w: namespace %s (n=%d, %s, %s)", ErrExists, old.Name, old.N, old.Model, old.Type)
		}
		next := *ns
		next.DB = 0
		for _, o := range s.Namespaces {
			next.DB = max(next.DB, o.DB+1)
		}
		// A fresh generation, so that a name used before (and dropped)
		// never finds its old data.
		s.Generations++
		next.Generation = s.Generations
		s.Namespaces[ns.Name] = next
		return nil
	case opTruncate, opDrop:
		ns, ok := s.Namespaces[c.Name]
		if !ok || ns.Generation != c.Generation {
			return nil // a retry, or a change that another one overtook
		}
		if c.Op == opDrop {
			if c.Name == "default" {
				return fmt.Errorf("%w: the default namespace cannot be dropped", ErrInvalid)
			}
			delete(s.Namespaces, c.Name)
		} else {
			s.Generations++
			ns.Generation = s.Generations
			s.Namespaces[c.Name] = ns
		}
		s.Retired[c.Name] = max(s.Retired[c.Name], c.Generation+1)
		return nil
	case opPutUser:
		u := c.User
		if u == nil {
			return fmt.Errorf("%w: no user", ErrInvalid)
		}
		if err := u.Validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		old, ok := s.Users[u.Name]
		switch {
		case ok && c.Create && old.Hash == u.Hash:
			return nil // a retry
		case ok && c.Create:
			return fmt.Errorf("%w: user %s", ErrExists, u.Name)
		case !ok && !c.Create:
			return fmt.Errorf("%w: no user %s", ErrInvalid, u.Name)
		}
		s.Users[u.Name] = *u
		return nil
	case opDeleteUser:
		delete(s.Users, c.Name) // absent: a retry
		for id, t := range s.Tokens {
			if t.User == c.Name {
				delete(s.Tokens, id) // a user's tokens go with it
			}
		}
		return nil
	case opPutToken:
		t := c.Token
		if t == nil {
			return fmt.Errorf("%w: no token", ErrInvalid)
		}
		if err := t.Validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if _, ok := s.Users[t.User]; !ok {
			return fmt.Errorf("%w: no user %s", ErrInvalid, t.User)
		}
		if old, ok := s.Tokens[t.ID]; ok && old.Hash != t.Hash {
			return fmt.Errorf("%w: token %s", ErrExists, t.ID)
		}
		s.Tokens[t.ID] = *t
		return nil
	case opDeleteToken:
		delete(s.Tokens, c.Name) // absent: a retry
		return nil
	case opStage:
		if c.Change == nil {
			return fmt.Errorf("%w: no change", ErrInvalid)
		}
		return s.stage(*c.Change)
	case opClearStaged:
		s.Staged = nil
		return nil
	case opCommit:
		if s.Move != nil && slices.Equal(s.Move.Changes, c.Changes) {
			return nil // a retry
		}
		if len(c.Changes) > 0 && !slices.Equal(s.Staged, c.Changes) {
			return fmt.Errorf("%w: the staged changes changed since they were read (now %v); nothing was committed", ErrInvalid, s.Staged)
		}
		return s.commit(s.Index)
	case opMoved:
		s.moved(c.Move, c.Partition, c.Name)
		return nil
	case opMoveReady:
		s.ready(c.Move, c.Name)
		return nil
	case opThrottle:
		if c.Rate < 0 {
			return fmt.Errorf("%w: a throttle of %d bytes per second", ErrInvalid, c.Rate)
		}
		s.MoveThrottle = c.Rate
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", ErrInvalid, c.Op)
}

func (sm *stateMachine) Snapshot() ([]byte, error) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return sm.cur.Load().encode()
}

func (sm *stateMachine) Restore(index uint64, data []byte) error {
	s, err := decodeState(data)
	if err != nil {
		return err
	}
	s.Index = index
	sm.mu.Lock()
	sm.cur.Store(s)
	sm.mu.Unlock()
	if sm.changed != nil {
		sm.changed()
	}
	return nil
}
