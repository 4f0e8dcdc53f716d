package membership

import (
	"slices"
	"strings"
	"sync"
)

// Static is an in-memory stand-in for gossip, for in-process clusters in
// tests: every node sees the same member list at once, and the test decides
// who is up. It is to gossip what transport.MemNetwork is to the network.
type Static struct {
	mu      sync.Mutex
	members map[string]*Member
}

// NewStatic returns an empty view.
func NewStatic() *Static { return &Static{members: map[string]*Member{}} }

// Add registers an alive node with its metadata.
func (s *Static) Add(id string, meta Meta) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[id] = &Member{ID: id, GossipAddr: "static/" + id, Meta: meta, State: Alive}
}

// SetState marks a node alive, dead or left.
func (s *Static) SetState(id string, st State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.members[id]; ok {
		m.State = st
	}
}

// Members implements the metadata's view: every node, sorted.
func (s *Static) Members() []Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Member, 0, len(s.members))
	for _, m := range s.members {
		c := *m
		c.Founders = slices.Clone(m.Founders)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Up reports whether node id is alive.
func (s *Static) Up(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.members[id]
	return ok && m.Up()
}

// Of returns node id's handle, through which it updates its own metadata.
func (s *Static) Of(id string) StaticNode { return StaticNode{s: s, id: id} }

// StaticNode is one node's handle on a Static view.
type StaticNode struct {
	s  *Static
	id string
}

// Members returns the shared view.
func (n StaticNode) Members() []Member { return n.s.Members() }

// Up reports whether a node is alive.
func (n StaticNode) Up(id string) bool { return n.s.Up(id) }

// UpdateMeta changes the node's metadata.
func (n StaticNode) UpdateMeta(fn func(*Meta)) error {
	n.s.mu.Lock()
	defer n.s.mu.Unlock()
	if m, ok := n.s.members[n.id]; ok {
		fn(&m.Meta)
	}
	return nil
}
