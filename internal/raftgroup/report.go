package raftgroup

import "go.etcd.io/raft/v3"

// ReportUnreachable tells the group that a message to peer could not be
// sent. A leader then stops streaming entries to the peer and probes it
// instead. It never blocks; transports call it from any goroutine.
func (g *Group) ReportUnreachable(peer uint64) {
	g.reportMu.Lock()
	if g.unreachable == nil {
		g.unreachable = map[uint64]bool{}
	}
	g.unreachable[peer] = true
	g.reportMu.Unlock()
	g.signalReports()
}

// ReportSnapshot tells the group whether a snapshot message to peer was
// sent (ok) or lost. A leader sends a peer nothing more after a snapshot
// until it hears this, so a transport must report every snapshot message
// it is given, including those it drops. It never blocks.
func (g *Group) ReportSnapshot(peer uint64, ok bool) {
	st := raft.SnapshotFinish
	if !ok {
		st = raft.SnapshotFailure
	}
	g.reportMu.Lock()
	if g.snapReports == nil {
		g.snapReports = map[uint64]raft.SnapshotStatus{}
	}
	g.snapReports[peer] = st
	g.reportMu.Unlock()
	g.signalReports()
}

func (g *Group) signalReports() {
	select {
	case g.reported <- struct{}{}:
	default: // Run has a signal pending and will see this report too
	}
}

// stepReports hands pending reports to raft. Run calls it.
func (g *Group) stepReports() {
	g.reportMu.Lock()
	unreachable, snaps := g.unreachable, g.snapReports
	g.unreachable, g.snapReports = nil, nil
	g.reportMu.Unlock()
	for peer := range unreachable {
		g.rn.ReportUnreachable(peer)
	}
	for peer, st := range snaps {
		g.rn.ReportSnapshot(peer, st)
	}
}
