package raftgroup

import (
	"context"
	"errors"
	"maps"
	"slices"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// ErrNotLeader: the member asked to change the group's configuration does
// not lead it; the leader's node does that.
var ErrNotLeader = errors.New("raftgroup: this member does not lead the group")

// A learner is promoted once its log matches at least nine tenths of the
// leader's (etcd's rule for promoting a learner): a voter that far behind
// would leave the group one member short of a quorum while it catches up.
const (
	readyNum = 9
	readyDen = 10
)

type reconfReq struct {
	want  []uint64
	reply chan reconfig
}

// reconfig is the next step toward a configuration.
type reconfig struct {
	cc       *pb.ConfChange // a change to propose, or nil
	transfer uint64         // a voter to hand leadership to, or 0
	done     bool           // the configuration is the one wanted
	err      error
}

// Reconfigure takes the next step toward the configuration whose voters
// are exactly want and that has no learners, and reports whether the
// group has it already. Only the leader changes the configuration; other
// members return ErrNotLeader. The steps, one a call, each a single-member
// change that raft commits like a command:
//
//  1. a wanted node outside the group joins it as a learner, which counts
//     in no quorum while it receives the log (or a snapshot);
//  2. a wanted learner whose log has caught up is promoted to voter;
//  3. once every wanted node is a voter, voters not wanted are removed;
//     a leader that is not wanted first hands leadership to a wanted
//     voter, which removes it;
//  4. learners not wanted are removed.
//
// A call that has nothing to do yet (a learner still catching up) does
// nothing. A change returns once this member has applied it. Calls are
// idempotent: raft ignores adding a learner twice, promoting a voter or
// removing a node that is gone.
func (g *Group) Reconfigure(ctx context.Context, want []uint64) (bool, error) {
	req := reconfReq{want: want, reply: make(chan reconfig, 1)}
	select {
	case g.reconfs <- req:
	case <-ctx.Done():
		return false, g.ctxErr(ctx)
	case <-g.done:
		return false, g.stopErr()
	}
	var r reconfig
	select {
	case r = <-req.reply:
	case <-ctx.Done():
		return false, g.ctxErr(ctx)
	case <-g.done:
		return false, g.stopErr()
	}
	if r.err != nil || r.cc == nil {
		return r.done, r.err
	}
	g.log.Info("changing the group's members", "change", r.cc.GetType().String(), "node", r.cc.GetNodeId())
	return false, g.ProposeConfChange(ctx, r.cc)
}

// planReconfig, in the Run goroutine, decides Reconfigure's next step and
// starts a leadership transfer if that is the step.
func (g *Group) planReconfig(want []uint64) reconfig {
	if g.rn.BasicStatus().RaftState != raft.StateLeader {
		return reconfig{err: ErrNotLeader}
	}
	prs := map[uint64]peer{}
	g.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
		prs[id] = peer{learner: typ == raft.ProgressTypeLearner, match: pr.Match, active: pr.RecentActive || id == g.cfg.ID}
	})
	r := planConf(g.cfg.ID, prs, want)
	if r.transfer != 0 {
		g.log.Info("handing leadership to a member that stays, before leaving the group", "to", r.transfer)
		g.rn.TransferLeader(r.transfer)
	}
	return r
}

// peer is what the leader knows of a member.
type peer struct {
	learner bool
	match   uint64 // the highest log index known to be on the member
	active  bool   // heard from recently
}

// planConf is Reconfigure's rule (see there), for leader self whose
// members are prs.
func planConf(self uint64, prs map[uint64]peer, want []uint64) reconfig {
	if len(want) == 0 {
		return reconfig{err: errors.New("raftgroup: a configuration needs a voter")}
	}
	change := func(typ pb.ConfChangeType, id uint64) reconfig {
		return reconfig{cc: &pb.ConfChange{Type: typ.Enum(), NodeId: proto.Uint64(id)}}
	}
	for _, w := range want {
		if _, ok := prs[w]; !ok {
			return change(pb.ConfChangeAddLearnerNode, w)
		}
	}
	own := prs[self].match
	for _, w := range want {
		if p := prs[w]; p.learner {
			if p.active && p.match*readyDen >= own*readyNum {
				return change(pb.ConfChangeAddNode, w)
			}
			return reconfig{} // catching up
		}
	}
	ids := slices.Sorted(maps.Keys(prs))
	for _, id := range ids {
		if p := prs[id]; !p.learner && !slices.Contains(want, id) && id != self {
			return change(pb.ConfChangeRemoveNode, id)
		}
	}
	if !slices.Contains(want, self) {
		// The others not wanted are gone: hand over to the wanted voter
		// furthest along, which removes this one.
		var to uint64
		for _, w := range want {
			if p := prs[w]; p.active && (to == 0 || p.match > prs[to].match) {
				to = w
			}
		}
		return reconfig{transfer: to}
	}
	for _, id := range ids {
		if prs[id].learner {
			return change(pb.ConfChangeRemoveNode, id)
		}
	}
	return reconfig{done: true}
}

// SetPreferredLeader changes the voter the group should be led by (see
// Config.PreferredLeader); 0 for none.
func (g *Group) SetPreferredLeader(id uint64) { g.preferred.Store(id) }
