package server

import (
	"context"
	"slices"

	"github.com/pandodb/pando/internal/api/httpapi"
	"github.com/pandodb/pando/internal/metadata"
)

// The ownership routes of the HTTP API (httpapi.Moves), over the node's
// metadata and its part in moves.

func (v clusterView) Stage(ctx context.Context, c metadata.Change) error {
	return metadataError(v.s.node.Meta().Stage(ctx, c))
}

func (v clusterView) ClearStaged(ctx context.Context) error {
	return metadataError(v.s.node.Meta().ClearStaged(ctx))
}

func (v clusterView) SetThrottle(ctx context.Context, bytesPerSecond int64) error {
	return metadataError(v.s.node.Meta().SetThrottle(ctx, bytesPerSecond))
}

func (v clusterView) Commit(ctx context.Context) (httpapi.MoveStatus, error) {
	if _, err := v.s.node.Meta().Commit(ctx); err != nil {
		return httpapi.MoveStatus{}, metadataError(err)
	}
	return v.MoveStatus(ctx), nil
}

func (v clusterView) MoveStatus(context.Context) httpapi.MoveStatus {
	st := v.s.node.Meta().State()
	out := httpapi.MoveStatus{LastMove: st.LastMove, Throttle: st.MoveThrottle}
	if m := st.Move; m != nil {
		out.Move, out.Changes = m.ID, m.Changes
		out.Transfers, out.Remaining = len(st.Transfers(m.Next)), len(st.Remaining())
		if part := v.s.node.Moves().Status(); part.Move == m.ID {
			out.Node = part
		}
	}
	return out
}

func (v clusterView) Plan(context.Context) httpapi.Plan {
	st := v.s.node.Meta().State()
	p := httpapi.Plan{Staged: st.Staged, Owners: owned(st.Ring.Owners()), Throttle: st.MoveThrottle}
	if len(st.Staged) == 0 {
		p.Error = "no change is staged (pando cluster join, leave or replace stages one)"
		return p
	}
	next, err := st.NextRing(st.Staged)
	if err != nil {
		p.Error = metadataError(err).Error()
		return p
	}
	p.Next = owned(next.Owners())
	p.Transfers = st.Transfers(next)
	for _, name := range st.NamespaceNames() {
		if ns := st.Namespaces[name]; ns.Model == metadata.Strong {
			for part := range st.Ring.Partitions() {
				if !slices.Equal(st.Ring.Preference(part, st.Replicas(ns)), next.Preference(part, min(ns.N, next.NumNodes()))) {
					p.Groups++
				}
			}
		}
	}
	// Estimate: the transfers times this node's disk use per partition
	// replica it holds.
	held := 0
	for _, name := range st.NamespaceNames() {
		if ns := st.Namespaces[name]; ns.Model != metadata.Strong {
			for part := range st.Ring.Partitions() {
				for _, r := range st.Ring.Preference(part, st.Replicas(ns)) {
					if r == v.s.node.ID {
						held++
					}
				}
			}
		}
	}
	if held > 0 {
		p.Bytes = int64(v.s.node.eng.Disk().UsedBytes) / int64(held) * int64(len(p.Transfers))
	}
	if p.Throttle > 0 {
		// Each receiving node pulls at the throttle, in parallel.
		perNode := map[string]int64{}
		for _, t := range p.Transfers {
			perNode[t.To]++
		}
		var most int64
		for _, n := range perNode {
			most = max(most, n)
		}
		if len(p.Transfers) > 0 {
			p.Seconds = float64(p.Bytes/int64(len(p.Transfers))*most) / float64(p.Throttle)
		}
	}
	return p
}

func owned(owners []string) map[string]int {
	out := map[string]int{}
	for _, o := range owners {
		out[o]++
	}
	return out
}
