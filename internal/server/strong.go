package server

import (
	"context"
	"log/slog"
	"slices"

	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/storage"
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
//
// The groups of a strong namespace that was dropped or truncated (its
// generation retired) are stopped and their data deleted, here and on
// every member, and the same at start for groups left on disk by a drop
// that happened while this node was down.
func runStrong(ctx context.Context, self string, meta *metadata.Service, host *strong.Host, eng *storage.Engine, log *slog.Logger) {
	failed := map[uint64]bool{} // logged once each
	opened := map[uint64]bool{}
	swept := false
	for {
		changed := meta.Changed()
		st := meta.State()
		if st.Initialized() {
			if !swept {
				swept = sweepGroups(st, eng, log)
			}
			for _, g := range host.Groups() {
				if retiredGroup(st, g) {
					if err := host.Drop(g); err != nil {
						log.Error("cannot delete a retired strong partition's group", "group", g, "err", err)
						continue
					}
					delete(opened, g)
					log.Info("deleted the raft group of a dropped or truncated strong namespace's partition", "group", g)
				}
			}
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

// retiredGroup reports whether strong group belongs to a namespace
// generation the metadata has given out and no strong namespace has now:
// one that a drop or a truncation retired. The metadata group is never
// one.
func retiredGroup(st *metadata.State, group uint64) bool {
	gen := strong.GroupGeneration(group)
	if group == metadata.Group || gen == 0 || gen > st.Generations {
		return false // not a strong group, or a namespace this state does not know yet
	}
	for _, ns := range st.Namespaces {
		if ns.Generation == gen && ns.Model == metadata.Strong {
			return false
		}
	}
	return true
}

// sweepGroups deletes the data of retired groups that no member runs here
// (left by a drop while this node was down). It reports whether it ran.
func sweepGroups(st *metadata.State, eng *storage.Engine, log *slog.Logger) bool {
	groups, err := eng.RaftGroups()
	if err != nil {
		log.Error("listing raft groups", "err", err)
		return false
	}
	for _, g := range groups {
		if !retiredGroup(st, g) {
			continue
		}
		if err := eng.DeleteGroup(g); err != nil {
			log.Error("cannot delete a retired strong partition's group", "group", g, "err", err)
			return false
		}
		log.Info("deleted the raft group of a dropped or truncated strong namespace's partition", "group", g)
	}
	return true
}
