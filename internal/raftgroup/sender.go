package raftgroup

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Sender delivers the Raft messages of every group on a node: one queue and
// one goroutine per peer, shared by all groups, so a slow or dead peer
// delays no one else and a peer with many groups in common gets their
// messages in one flush, a request per group. A full queue drops messages:
// raft resends what matters. It tells each group what it learns: which
// peers it could not reach and which snapshots it sent or lost.
type Sender struct {
	t       transport.Transport
	resolve func(uint64) (string, bool)
	log     *slog.Logger

	mu     sync.Mutex
	queues map[uint64]chan outgoing
	groups map[uint64]*Group // told what sending learns
	wg     sync.WaitGroup
	done   chan struct{}
}

type outgoing struct {
	group uint64
	m     *pb.Message
}

// NewSender returns a sender that calls peers through t; resolve maps a
// Raft id to a node id.
func NewSender(t transport.Transport, resolve func(uint64) (string, bool), log *slog.Logger) *Sender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{t: t, resolve: resolve, log: log, queues: map[uint64]chan outgoing{}, groups: map[uint64]*Group{}, done: make(chan struct{})}
}

// For returns the Send function of a group's Config.
func (s *Sender) For(group uint64) func([]*pb.Message) {
	return func(msgs []*pb.Message) { s.Send(group, msgs) }
}

// Attach makes g the group told about group's sends; Detach forgets it.
func (s *Sender) Attach(group uint64, g *Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[group] = g
}

// Detach forgets group's reporter.
func (s *Sender) Detach(group uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.groups, group)
}

// Send queues msgs of group. It never blocks.
func (s *Sender) Send(group uint64, msgs []*pb.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		q, ok := s.queues[m.GetTo()]
		if !ok {
			q = make(chan outgoing, 4096)
			s.queues[m.GetTo()] = q
			s.wg.Add(1)
			go s.loop(m.GetTo(), q)
		}
		select {
		case q <- outgoing{group, m}:
		default:
			s.reportLocked(group, m.GetTo(), m.GetType() == pb.MsgSnap, false)
		}
	}
}

func (s *Sender) report(group, to uint64, snap, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reportLocked(group, to, snap, ok)
}

// reportLocked tells the group the outcome of sending to a peer. The
// group's Report methods only queue, so calling them under mu is safe.
func (s *Sender) reportLocked(group, to uint64, snap, ok bool) {
	g := s.groups[group]
	if g == nil {
		return
	}
	if !ok {
		g.ReportUnreachable(to)
	}
	if snap {
		g.ReportSnapshot(to, ok)
	}
}

// batch is what one flush sends to a peer for one group.
type batch struct {
	msgs [][]byte
	snap bool
}

func (s *Sender) loop(to uint64, q chan outgoing) {
	defer s.wg.Done()
	for {
		var o outgoing
		select {
		case <-s.done:
			return
		case o = <-q:
		}
		var order []uint64
		batches := map[uint64]*batch{}
		for more := true; more; {
			b := batches[o.group]
			if b == nil {
				b = &batch{}
				batches[o.group] = b
				order = append(order, o.group)
			}
			if data, err := proto.Marshal(o.m); err == nil {
				b.msgs = append(b.msgs, data)
				b.snap = b.snap || o.m.GetType() == pb.MsgSnap
			} else {
				s.report(o.group, to, o.m.GetType() == pb.MsgSnap, false)
			}
			select {
			case o = <-q:
			default:
				more = false
			}
		}
		id, ok := s.resolve(to)
		for _, group := range order {
			b := batches[group]
			if !ok {
				s.report(group, to, b.snap, false)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := s.t.Peer(id).Raft(ctx, &nodepb.RaftRequest{Group: group, Messages: b.msgs})
			cancel()
			if err != nil {
				s.log.Debug("sending raft messages", "to", id, "group", group, "err", err)
			}
			s.report(group, to, b.snap, err == nil)
		}
	}
}

// Close stops the senders.
func (s *Sender) Close() {
	close(s.done)
	s.wg.Wait()
}
