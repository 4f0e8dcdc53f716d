package metadata

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/pandodb/pando/ring"
)

// Ownership changes: an operator stages them (join, leave, replace), sees
// the plan they make, and commits them; the commit fixes the next ring, and
// the data moves while the current ring still serves reads. During the
// move, writes reach the replicas of both rings (Pending); each node that
// gains a partition pulls it from the partition's current replicas and
// reports it moved (opMoved); the last report switches the ring.

// Kinds of Change.
const (
	ChangeJoin    = "join"
	ChangeLeave   = "leave"
	ChangeReplace = "replace"
)

// Change is one ownership change an operator staged.
type Change struct {
	// Kind is ChangeJoin (Node takes a share of the partitions),
	// ChangeLeave (Node hands off all of its partitions), or ChangeReplace
	// (With takes exactly Node's partitions).
	Kind string `json:"kind"`
	Node string `json:"node"`
	With string `json:"with,omitempty"`
}

func (c Change) String() string {
	if c.Kind == ChangeReplace {
		return "replace " + c.Node + " with " + c.With
	}
	return c.Kind + " " + c.Node
}

// Move is a committed ownership change whose data is moving. A Move is
// immutable once published, like the State that holds it.
type Move struct {
	// ID is the log index of the commit.
	ID      uint64
	Changes []Change
	// Next is the ring the cluster switches to once every transfer is
	// done.
	Next *ring.Ring
	// Done holds the transfers reported finished, by TransferKey.
	Done map[string]bool
	// Ready holds the members that write to both rings: each reports it
	// once it has applied the move and every write it placed with the
	// current ring alone has finished or timed out. Transfers begin once
	// every member up is ready, so that no write they should carry is
	// still on its way to the current replicas only.
	Ready map[string]bool
}

type moveJSON struct {
	ID      uint64          `json:"id"`
	Changes []Change        `json:"changes"`
	Next    []byte          `json:"next"`
	Done    map[string]bool `json:"done,omitempty"`
	Ready   map[string]bool `json:"ready,omitempty"`
}

// MarshalJSON encodes the move with its ring in the ring's own encoding.
func (m *Move) MarshalJSON() ([]byte, error) {
	return json.Marshal(moveJSON{ID: m.ID, Changes: m.Changes, Next: m.Next.Encode(), Done: m.Done, Ready: m.Ready})
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (m *Move) UnmarshalJSON(b []byte) error {
	var j moveJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	r, err := ring.Decode(j.Next)
	if err != nil {
		return fmt.Errorf("metadata: corrupt next ring: %w", err)
	}
	*m = Move{ID: j.ID, Changes: j.Changes, Next: r, Done: j.Done, Ready: j.Ready}
	return nil
}

// Transfer is one partition that one node gains in a move, and the
// replicas that hold it now.
type Transfer struct {
	Partition int      `json:"partition"`
	To        string   `json:"to"`
	From      []string `json:"from"`
}

// TransferKey names a transfer in Move.Done.
func TransferKey(partition int, to string) string {
	return strconv.Itoa(partition) + "/" + to
}

// NextReplicas is the replica count of ns once the move switches the ring.
func (s *State) NextReplicas(ns Namespace) int {
	if s.Move == nil {
		return s.Replicas(ns)
	}
	return min(ns.N, s.Move.Next.NumNodes())
}

// Pending returns the nodes that replicate partition p of ns in the next
// ring and not in the current one: during a move, writes reach them too.
// It is nil when no move is under way, and for strong namespaces, whose
// partitions never move by copying.
func (s *State) Pending(ns Namespace, p int) []string {
	if s.Move == nil || ns.Model == Strong {
		return nil
	}
	return gained(s.Ring.Preference(p, s.Replicas(ns)), s.Move.Next.Preference(p, s.NextReplicas(ns)))
}

// Gains returns the nodes that replicate partition p of ns in the next
// ring and not in the current one, whatever ns's model: for a strong
// namespace, the nodes its partition's Raft group adds. Nil when no move
// is under way.
func (s *State) Gains(ns Namespace, p int) []string {
	if s.Move == nil {
		return nil
	}
	return gained(s.Ring.Preference(p, s.Replicas(ns)), s.Move.Next.Preference(p, s.NextReplicas(ns)))
}

// GroupReplicas returns the nodes that the Raft group of partition p of
// strong namespace ns should have as voters: its replicas in the next ring
// during a move, else in the current one. The first is the group's
// preferred leader.
func (s *State) GroupReplicas(ns Namespace, p int) []string {
	if s.Move != nil {
		return s.Move.Next.Preference(p, s.NextReplicas(ns))
	}
	return s.Ring.Preference(p, s.Replicas(ns))
}

// StrongServers lists, for a request to partition p of strong namespace ns,
// the replicas to try, best first, and how many of the first ones stay in
// the partition's group through the move under way. Outside a move they
// are the partition's replicas, all staying. During one, the replicas of
// both rings: first those in both, then those the group gains (a learner
// until it has caught up), last those it loses, which the group may
// already have removed (their member, unaware, would wait for entries
// that no longer reach it).
func (s *State) StrongServers(ns Namespace, p int) (servers []string, staying int) {
	cur := s.Ring.Preference(p, s.Replicas(ns))
	if s.Move == nil {
		return cur, len(cur)
	}
	next := s.Move.Next.Preference(p, s.NextReplicas(ns))
	for _, n := range cur {
		if slices.Contains(next, n) {
			servers = append(servers, n)
		}
	}
	staying = len(servers)
	servers = append(servers, gained(cur, next)...)
	return append(servers, gained(next, cur)...), staying
}

func gained(cur, next []string) []string {
	var out []string
	for _, n := range next {
		if !slices.Contains(cur, n) {
			out = append(out, n)
		}
	}
	return out
}

// Transfers lists what moving from the current ring to next costs: for
// each partition, each node that replicates it in next (for any namespace)
// and not now, with the current replicas it pulls from. The node pulls the
// partition of each eventual namespace, and waits until the Raft group of
// each strong one has it as a voter and has only the replicas of next.
func (s *State) Transfers(next *ring.Ring) []Transfer {
	var out []Transfer
	for p := range s.Ring.Partitions() {
		seen := map[string]int{} // node -> index in out
		for _, name := range s.NamespaceNames() {
			ns := s.Namespaces[name]
			cur := s.Ring.Preference(p, s.Replicas(ns))
			for _, to := range gained(cur, next.Preference(p, min(ns.N, next.NumNodes()))) {
				i, ok := seen[to]
				if !ok {
					i = len(out)
					seen[to] = i
					out = append(out, Transfer{Partition: p, To: to})
				}
				for _, f := range cur {
					if !slices.Contains(out[i].From, f) {
						out[i].From = append(out[i].From, f)
					}
				}
			}
		}
	}
	return out
}

// Remaining lists the transfers of the move under way not yet reported
// done.
func (s *State) Remaining() []Transfer {
	if s.Move == nil {
		return nil
	}
	var out []Transfer
	for _, t := range s.Transfers(s.Move.Next) {
		if !s.Move.Done[TransferKey(t.Partition, t.To)] {
			out = append(out, t)
		}
	}
	return out
}

// NextRing is the ring the staged changes make, or an error naming the
// change that cannot apply.
func (s *State) NextRing(changes []Change) (*ring.Ring, error) {
	if len(changes) == 0 {
		return nil, fmt.Errorf("%w: no change is staged (pando cluster join, leave or replace stages one)", ErrInvalid)
	}
	r := s.Ring
	nodes := r.Nodes()
	reclaim := false
	for _, c := range changes {
		if err := s.checkChange(nodes, c); err != nil {
			return nil, err
		}
		switch c.Kind {
		case ChangeReplace:
			next, err := r.Substitute(c.Node, c.With)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, c, err)
			}
			r = next
			nodes = r.Nodes()
		case ChangeJoin:
			nodes = append(nodes, c.Node)
			reclaim = true
		case ChangeLeave:
			nodes = slices.DeleteFunc(nodes, func(n string) bool { return n == c.Node })
			reclaim = true
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: the staged changes leave no node owning partitions", ErrInvalid)
	}
	if reclaim {
		next, err := r.Reclaim(nodes, TargetN)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		r = next
	}
	for _, name := range s.NamespaceNames() {
		ns := s.Namespaces[name]
		if have, would := s.Replicas(ns), min(ns.N, r.NumNodes()); ns.Model == Strong && would < have {
			return nil, fmt.Errorf("%w: strong namespace %s would keep %d replicas of each partition instead of %d (a smaller Raft group survives fewer failures); join a node first, or replace this one", ErrInvalid, name, would, have)
		}
	}
	return r, nil
}

// checkChange says whether c can apply to a ring whose owners are nodes
// (as the changes before it left them).
func (s *State) checkChange(nodes []string, c Change) error {
	member := func(id string) error {
		if _, ok := s.Members[id]; !ok {
			return fmt.Errorf("%w: %s is not a member (pando cluster join admits a candidate)", ErrInvalid, id)
		}
		return nil
	}
	owns := slices.Contains(nodes, c.Node)
	switch c.Kind {
	case ChangeJoin:
		if err := member(c.Node); err != nil {
			return err
		}
		if owns {
			return fmt.Errorf("%w: %s owns partitions already", ErrExists, c.Node)
		}
	case ChangeLeave:
		if !owns {
			return fmt.Errorf("%w: %s owns no partitions; nothing to hand off", ErrInvalid, c.Node)
		}
	case ChangeReplace:
		if !owns {
			return fmt.Errorf("%w: %s owns no partitions; nothing to replace", ErrInvalid, c.Node)
		}
		if err := member(c.With); err != nil {
			return err
		}
		if slices.Contains(nodes, c.With) {
			return fmt.Errorf("%w: %s owns partitions already; a replacement must own none", ErrInvalid, c.With)
		}
	default:
		return fmt.Errorf("%w: unknown change %q", ErrInvalid, c.Kind)
	}
	return nil
}

// stage adds c to the staged changes, refusing one that conflicts with
// them.
func (s *State) stage(c Change) error {
	if !s.Initialized() {
		return ErrNotInitialized
	}
	if slices.Contains(s.Staged, c) {
		return nil // a retry
	}
	for _, o := range s.Staged {
		if o.Node == c.Node || c.With != "" && (o.Node == c.With || o.With == c.With) || o.With != "" && o.With == c.Node {
			return fmt.Errorf("%w: %s conflicts with the staged %s (pando cluster plan shows them; pando cluster clear drops them)", ErrInvalid, c, o)
		}
	}
	staged := append(slices.Clone(s.Staged), c)
	if _, err := s.NextRing(staged); err != nil {
		return err
	}
	s.Staged = staged
	return nil
}

// commit fixes the staged changes as the move under way.
func (s *State) commit(index uint64) error {
	if s.Move != nil {
		return fmt.Errorf("%w: move %d is still under way (pando cluster wait follows it)", ErrInvalid, s.Move.ID)
	}
	next, err := s.NextRing(s.Staged)
	if err != nil {
		return err
	}
	s.Move = &Move{ID: index, Changes: s.Staged, Next: next, Done: map[string]bool{}, Ready: map[string]bool{}}
	s.Staged = nil
	s.finishMove()
	return nil
}

// moved records a transfer of move id as done, and switches the ring once
// none is left.
func (s *State) moved(id uint64, partition int, to string) {
	if s.setIn(id, func(m *Move) *map[string]bool { return &m.Done }, TransferKey(partition, to)) {
		s.finishMove()
	}
}

// ready records that node writes to both rings of move id.
func (s *State) ready(id uint64, node string) {
	s.setIn(id, func(m *Move) *map[string]bool { return &m.Ready }, node)
}

// setIn sets key in the set of move id that field picks, on a copy of the
// move (a published State is never changed), and reports whether it did:
// not for a move that is not the one under way (a retry, or a report of a
// move that finished).
func (s *State) setIn(id uint64, field func(*Move) *map[string]bool, key string) bool {
	if s.Move == nil || s.Move.ID != id {
		return false
	}
	m := *s.Move
	set := field(&m)
	*set = maps.Clone(*set)
	if *set == nil {
		*set = map[string]bool{}
	}
	(*set)[key] = true
	s.Move = &m
	return true
}

// finishMove switches to the next ring when no transfer is left.
func (s *State) finishMove() {
	if s.Move == nil || len(s.Remaining()) > 0 {
		return
	}
	s.Ring = s.Move.Next
	s.LastMove = s.Move.ID
	s.Move = nil
}

// Moving returns a copy of s with changes staged and committed as a move
// at log index id, as the metadata log applies them: for tests of the
// parts that follow a move.
func (s *State) Moving(id uint64, changes ...Change) (*State, error) {
	c := s.clone()
	c.Index = id
	for _, ch := range changes {
		if err := c.stage(ch); err != nil {
			return nil, err
		}
	}
	if err := c.commit(id); err != nil {
		return nil, err
	}
	return c, nil
}

// WithReady returns a copy of s in which nodes are ready for the move
// under way (see Move.Ready): for tests.
func (s *State) WithReady(nodes ...string) *State {
	c := s.clone()
	for _, n := range nodes {
		c.ready(c.Move.ID, n)
	}
	return c
}
