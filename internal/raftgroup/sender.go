package raftgroup

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Sender delivers the Raft messages of every group on a node: one queue and
// one goroutine per peer, shared by all groups, so a slow or dead peer
// delays no one else and a peer with many groups in common gets their
// messages in one flush, in one request. A full queue drops messages:
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

	linger atomic.Int64 // how long heartbeats wait for others; see CoalesceHeartbeats
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

// CoalesceHeartbeats makes a flush that holds nothing but heartbeats (and
// their answers) wait up to d for more before it leaves: the groups of a
// node that share a Ticker send theirs within moments of each other, and
// they then reach each peer in one request. Other messages, and ReadIndex
// heartbeats, never wait. 0 (the default) sends at once.
func (s *Sender) CoalesceHeartbeats(d time.Duration) { s.linger.Store(int64(d)) }

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

// errUnresolved: the peer's Raft id names no known node.
var errUnresolved = errors.New("raftgroup: unknown peer")

// batch is what one flush sends to a peer for one group.
type batch struct {
	msgs [][]byte
	snap bool
}

// flushing gathers one flush for a peer: each group's messages, in order.
type flushing struct {
	order   []uint64
	batches map[uint64]*batch
	idle    bool // only heartbeats so far, none of them a ReadIndex
}

func (f *flushing) add(s *Sender, to uint64, o outgoing) {
	b := f.batches[o.group]
	if b == nil {
		b = &batch{}
		f.batches[o.group] = b
		f.order = append(f.order, o.group)
	}
	t := o.m.GetType()
	f.idle = f.idle && (t == pb.MsgHeartbeat || t == pb.MsgHeartbeatResp) && len(o.m.GetContext()) == 0
	if data, err := proto.Marshal(o.m); err == nil {
		b.msgs = append(b.msgs, data)
		b.snap = b.snap || t == pb.MsgSnap
	} else {
		s.report(o.group, to, t == pb.MsgSnap, false)
	}
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
		f := &flushing{batches: map[uint64]*batch{}, idle: true}
		f.add(s, to, o)
		s.drain(to, q, f)
		if linger := time.Duration(s.linger.Load()); f.idle && linger > 0 {
			// Heartbeats alone: the node's other groups, ticked at the same
			// moment, are about to send theirs; wait for them briefly so
			// that all go in one request. Anything else leaves at once.
			t := time.NewTimer(linger)
		wait:
			for f.idle {
				select {
				case o = <-q:
					f.add(s, to, o)
				case <-t.C:
					break wait
				case <-s.done:
					t.Stop()
					return
				}
			}
			t.Stop()
			s.drain(to, q, f)
		}
		order, batches := f.order, f.batches
		id, ok := s.resolve(to)
		err := errUnresolved
		if ok {
			req := &nodepb.RaftRequest{Batches: make([]*nodepb.RaftBatch, len(order))}
			for i, group := range order {
				req.Batches[i] = &nodepb.RaftBatch{Group: group, Messages: batches[group].msgs}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = s.t.Peer(id).Raft(ctx, req)
			cancel()
			if err != nil {
				s.log.Debug("sending raft messages", "to", id, "groups", len(order), "err", err)
			}
		}
		for _, group := range order {
			s.report(group, to, batches[group].snap, err == nil)
		}
	}
}

// drain adds what is queued already.
func (s *Sender) drain(to uint64, q chan outgoing, f *flushing) {
	for {
		select {
		case o := <-q:
			f.add(s, to, o)
		default:
			return
		}
	}
}

// Close stops the senders.
func (s *Sender) Close() {
	close(s.done)
	s.wg.Wait()
}
