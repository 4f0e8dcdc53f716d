package raftgroup

import (
	"bytes"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// Quiescence (Config.Quiesce), after CockroachDB's: a group with nothing to
// do stops ticking, so a node's idle groups send nothing and wake nothing,
// however many there are.
//
// The leader decides. On a tick, once it has led quiesceAfter ticks with
// nothing new in its log, everything committed and applied, every member's
// log known to match its own, no ReadIndex pending and no leadership to
// hand back, it marks the heartbeats of that tick as the last (their
// context is quiesceCtx) and stops ticking. A follower that receives one
// stops ticking too if it holds the leader's whole log and commit; if not,
// it goes on as before. Followers echo a heartbeat's context in their
// answers, so those answers are marked too and wake no one.
//
// Anything else wakes a member: a proposal, a read or a membership change
// submitted to it, any other message from a peer, a Ready with a message
// to send that is not a marked heartbeat (the leader answering a lagging
// follower), or Wake. A proposal on a quiesced follower goes to the
// leader, which wakes on it, and its appends wake the other followers.
//
// Safety never rests on quiescence: Raft still commits only with a
// majority, and reads still go through ReadIndex. Liveness does. A
// quiesced follower does not notice that its leader died, so it needs
// Wake, from whoever learns that the leader's node is down (the node's
// gossip). Without it, the next request to the group wakes a follower,
// which elects a new leader an election timeout later. A follower that
// missed the last heartbeat keeps ticking, stands for election in time,
// and its pre-vote wakes the others; their leases, frozen with their
// clocks, make them refuse it, and the woken leader's next heartbeats put
// it back in line. A group with a member behind (down, or cut off) does
// not quiesce until it has caught up.

// quiesceAfter is how many idle ticks a leader waits before quiescing, so
// that a group under steady but light load does not stop and start.
const quiesceAfter = 3

// quiesceCtx marks a leader's last heartbeats. The contexts raft gives
// the heartbeats of a ReadIndex are 8 bytes long (a count of reads), so
// this one can be told from them; a marked answer loses its mark before
// raft sees it.
var quiesceCtx = []byte("\x00quiesced")

// isQuiesceMsg reports whether m is a marked heartbeat or an answer to one.
func isQuiesceMsg(m *pb.Message) bool {
	t := m.GetType()
	return (t == pb.MsgHeartbeat || t == pb.MsgHeartbeatResp) && bytes.Equal(m.GetContext(), quiesceCtx)
}

// Wake makes a quiesced member tick again. It never blocks.
func (g *Group) Wake() {
	select {
	case g.wakes <- struct{}{}:
	default:
	}
}

// startClock subscribes the group to its ticks: the shared Ticker's, or a
// timer of its own. The returned function stops it all.
func (g *Group) startClock() (stop func()) {
	g.tickSrc = g.cfg.Ticker
	if g.tickSrc == nil {
		g.tickSrc = NewTicker(g.cfg.TickInterval)
	}
	g.tickC, g.untick = g.tickSrc.subscribe()
	return func() {
		g.untick()
		if g.cfg.Ticker == nil {
			g.tickSrc.Stop()
		}
	}
}

// busy marks work submitted to this member: a leader waits quiesceAfter
// more ticks before it quiesces. It wakes the member.
func (g *Group) busy() {
	g.idleTicks = 0
	g.wake()
}

// wake makes a quiesced member tick again.
func (g *Group) wake() {
	if g.quiesced {
		g.quiesced = false
		g.tickC, g.untick = g.tickSrc.subscribe()
	}
}

// quiesce stops the member's ticks.
func (g *Group) quiesce() {
	if !g.quiesced {
		g.quiesced = true
		g.untick()
		g.tickC, g.untick = nil, func() {}
	}
}

// shouldQuiesce, on a leader's tick, reports whether this tick's
// heartbeats may be the last.
func (g *Group) shouldQuiesce() bool {
	if !g.cfg.Quiesce {
		return false
	}
	st := g.rn.BasicStatus()
	if st.RaftState != raft.StateLeader || st.LeadTransferee != 0 {
		g.idleTicks = 0
		return false
	}
	last, err := g.ms.LastIndex()
	if err != nil || st.GetCommit() != last || g.applied != last {
		g.idleTicks = 0
		return false
	}
	if last != g.idleIndex {
		g.idleIndex, g.idleTicks = last, 0
		return false
	}
	if g.idleTicks++; g.idleTicks < quiesceAfter {
		return false
	}
	if pref := g.preferred.Load(); pref != 0 && pref != g.cfg.ID && g.isVoter(pref) {
		return false // maybeHandBack needs the ticks
	}
	caughtUp := true
	g.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id != g.cfg.ID && (pr.Match != last || pr.State != tracker.StateReplicate) {
			caughtUp = false
		}
	})
	return caughtUp
}

func (g *Group) isVoter(id uint64) bool {
	for _, v := range g.confState.GetVoters() {
		if v == id {
			return true
		}
	}
	return false
}

// quiesceReady looks at a Ready's messages before they are sent. On the
// tick a leader chose to quiesce, they are heartbeats alone, none of them
// for a ReadIndex: it marks them and quiesces (anything else, and it stays
// awake). A quiesced member with something else to send wakes.
func (g *Group) quiesceReady(msgs []*pb.Message) {
	if g.quiescing {
		g.quiescing = false
		for _, m := range msgs {
			if m.GetType() != pb.MsgHeartbeat || len(m.GetContext()) != 0 {
				return
			}
		}
		for _, m := range msgs {
			m.Context = quiesceCtx
		}
		g.quiesce()
		return
	}
	if !g.quiesced {
		return
	}
	for _, m := range msgs {
		if !isQuiesceMsg(m) {
			g.wake()
			return
		}
	}
}

// followerQuiesce, after a marked heartbeat m was stepped, quiesces this
// member if it follows m's sender and holds its whole log and commit, and
// wakes it otherwise.
func (g *Group) followerQuiesce(m *pb.Message) {
	st := g.rn.BasicStatus()
	last, err := g.ms.LastIndex()
	if g.cfg.Quiesce && err == nil && st.RaftState == raft.StateFollower && st.Lead == m.GetFrom() &&
		st.GetTerm() == m.GetTerm() && st.GetCommit() == m.GetCommit() && last == m.GetCommit() {
		g.quiesce()
		return
	}
	g.wake()
}
