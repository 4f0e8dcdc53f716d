package server

import (
	"context"

	"github.com/pandodb/pando/internal/api/resp"
	"github.com/pandodb/pando/ring"
)

// topology presents the ring to cluster-aware Redis clients: each
// partition is a slot range whose nodes are its replicas that gossip
// believes up, in preference order (the first coordinates its writes).
// Clients do not know namespaces, so the lists are the default namespace's.
type topology struct{ s *Server }

var _ resp.Topology = topology{}

func (t topology) up(id string) bool { return id == t.s.node.ID || t.s.gossip.Up(id) }

func (t topology) Shards() []resp.Shard {
	st := t.s.node.Meta().State()
	if !st.Initialized() {
		return nil
	}
	def, _ := st.Namespace("default")
	n := st.Replicas(def)
	out := make([]resp.Shard, 0, st.Ring.Partitions())
	for p := range st.Ring.Partitions() {
		first, last := ring.SlotRange(p, st.Ring.Partitions())
		sh := resp.Shard{First: first, Last: last}
		for _, id := range st.Ring.Preference(p, n) {
			if m, ok := st.Members[id]; ok && t.up(id) {
				sh.Nodes = append(sh.Nodes, resp.ClusterNode{ID: id, Addr: m.RESPAddr, Up: true})
			}
		}
		out = append(out, sh)
	}
	return out
}

func (t topology) Nodes() []resp.ClusterNode {
	st := t.s.node.Meta().State()
	out := make([]resp.ClusterNode, 0, len(st.Members))
	for _, id := range st.MemberIDs() {
		out = append(out, resp.ClusterNode{ID: id, Addr: st.Members[id].RESPAddr, Up: t.up(id)})
	}
	return out
}

func (t topology) Self() string { return t.s.node.ID }

// flusher serves FLUSHDB and FLUSHALL through the metadata log.
type flusher struct{ s *Server }

func (f flusher) Truncate(ctx context.Context, name string) error {
	return metadataError(f.s.node.Meta().TruncateNamespace(ctx, name))
}

func (f flusher) Namespaces() []string { return f.s.node.Meta().State().NamespaceNames() }
