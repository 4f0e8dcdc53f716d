package server

import (
	"context"
	"log/slog"
	"slices"

	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/strong"
)

// runStrong keeps this node a member of the Raft group of every partition
// of a strong namespace it replicates: at start and after every metadata
// change, it opens the groups it should be in and is not yet. A group's
// voters are the partition's replicas when the group is first opened
// (members change with the ring only through scale-out, a later release).
// The partition's first replica is the group's preferred leader (see
// strong.Host.Open), so each node leads about as many partitions as it is
// first replica of.
func runStrong(ctx context.Context, self string, meta *metadata.Service, host *strong.Host, log *slog.Logger) {
	failed := map[uint64]bool{} // logged once each
	opened := map[uint64]bool{}
	for {
		changed := meta.Changed()
		st := meta.State()
		if st.Initialized() {
			for _, ns := range st.Namespaces {
				if ns.Model != metadata.Strong {
					continue
				}
				n := st.Replicas(ns)
				for p := range st.Ring.Partitions() {
					pref := st.Ring.Preference(p, n)
					if !slices.Contains(pref, self) {
						continue
					}
					voters := make([]uint64, len(pref))
					for i, id := range pref {
						voters[i] = metadata.RaftID(id)
					}
					group := strong.GroupID(ns.Generation, p)
					if opened[group] {
						continue
					}
					if err := host.Open(group, voters); err != nil {
						if !failed[group] {
							failed[group] = true
							log.Error("cannot open a strong partition's raft group", "namespace", ns.Name, "partition", p, "err", err)
						}
						continue
					}
					opened[group] = true
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}
