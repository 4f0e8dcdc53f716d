package server

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/sabotage"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/strong"
)

// runStrong keeps this node a member of the Raft group of every partition
// of a strong namespace it replicates: at start and after every metadata
// change, it opens the groups it should be in and is not yet. A group's
// founding voters are the partition's replicas when the group is first
// opened. During a move, a node that the next ring makes a replica opens
// its member empty, and the group's leader adds it (reconfigureStrong). The
// first of the replicas the group should have (metadata's GroupReplicas)
// is its preferred leader (see strong.Host.Open), so each node leads about
// as many partitions as it is first replica of.
//
// A group this node runs and no longer replicates once a move has
// finished is stopped and its data deleted: the move finished only once
// the group's members were the next ring's replicas (see
// rebalance.Runner), so the group no longer counts this member.
//
// The groups of a strong namespace that was dropped or truncated (its
// generation retired) are stopped and their data deleted, here and on
// every member, and the same at start for groups left on disk by a drop
// that happened while this node was down.
func runStrong(ctx context.Context, self string, meta *metadata.Service, host *strong.Host, eng *storage.Engine, log *slog.Logger) {
	// The metadata a restarted node starts from is its last snapshot:
	// it could name this node a replica of a partition it has left and
	// deleted, and opening that group would bootstrap it anew.
	select {
	case <-ctx.Done():
		return
	case <-meta.Replayed():
	}
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
				why := ""
				switch {
				case retiredGroup(st, g):
					why = "deleted the raft group of a dropped or truncated strong namespace's partition"
				case opened[g] && !replicatesGroup(st, self, g):
					why = "deleted the raft group of a strong partition this node no longer replicates"
				default:
					continue
				}
				if err := host.Drop(g); err != nil {
					log.Error("cannot delete a strong partition's raft group", "group", g, "err", err)
					continue
				}
				delete(opened, g)
				log.Info(why, "group", g)
			}
			for _, ns := range st.Namespaces {
				if ns.Model != metadata.Strong {
					continue
				}
				for p := range st.Ring.Partitions() {
					group := strong.GroupID(ns.Generation, p)
					cur := st.Ring.Preference(p, st.Replicas(ns))
					var voters []uint64 // none: a member that joins a running group
					switch {
					case slices.Contains(cur, self):
						voters = metadata.RaftIDs(cur)
					case !slices.Contains(st.Gains(ns, p), self):
						continue
					}
					if !opened[group] {
						if err := host.Open(group, voters); err != nil {
							if !failed[group] {
								failed[group] = true
								log.Error("cannot open a strong partition's raft group", "namespace", ns.Name, "partition", p, "err", err)
							}
							continue
						}
						opened[group] = true
					}
					host.Prefer(group, metadata.RaftID(st.GroupReplicas(ns, p)[0]))
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

// groupOf returns the strong namespace and the partition of group, if a
// strong namespace of st has it.
func groupOf(st *metadata.State, group uint64) (metadata.Namespace, int, bool) {
	gen := strong.GroupGeneration(group)
	for _, ns := range st.Namespaces {
		if ns.Generation == gen && ns.Model == metadata.Strong {
			return ns, int(group - strong.GroupID(gen, 0)), true
		}
	}
	return metadata.Namespace{}, 0, false
}

// replicatesGroup reports whether self replicates group's partition in the
// current ring or in the next one of a move under way. A group of no
// strong namespace st knows is not its business (see retiredGroup).
func replicatesGroup(st *metadata.State, self string, group uint64) bool {
	ns, p, ok := groupOf(st, group)
	if !ok {
		return true
	}
	return slices.Contains(st.Ring.Preference(p, st.Replicas(ns)), self) || slices.Contains(st.Gains(ns, p), self)
}

// reconfigureStrong, twice a second, steps each strong group this node
// leads toward the voters metadata wants it to have (GroupReplicas), one
// single-member change at a time (strong.Host.Reconfigure): during a move
// it adds the next ring's new replicas as learners, promotes them once
// caught up, then removes the replicas the next ring drops. Before a step
// it reads the metadata linearizably, so that a leader whose metadata lags
// never undoes a move's changes.
func reconfigureStrong(ctx context.Context, self string, meta *metadata.Service, host *strong.Host, log *slog.Logger) {
	selfID := metadata.RaftID(self)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	want := func(group uint64) []uint64 {
		st := meta.State()
		ns, p, ok := groupOf(st, group)
		if !ok || !st.Initialized() {
			return nil
		}
		return metadata.RaftIDs(st.GroupReplicas(ns, p))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if sabotage.Is("move-no-raft") {
			continue // the groups keep their members whatever the ring says
		}
		for _, group := range host.Groups() {
			rs, err := host.Status(group)
			w := want(group)
			if err != nil || rs.Leader != selfID || w == nil || len(rs.Learners) == 0 && slices.Equal(rs.Voters, slices.Sorted(slices.Values(w))) {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := meta.Sync(sctx); err == nil {
				if w = want(group); w != nil {
					_, err = host.Reconfigure(sctx, group, w)
				}
			}
			cancel()
			if err != nil && ctx.Err() == nil {
				log.Debug("changing a strong partition's raft group", "group", group, "err", err)
			}
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
