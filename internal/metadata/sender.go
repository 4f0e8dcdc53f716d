package metadata

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func marshal(c command) ([]byte, error) { return json.Marshal(c) }

// sender delivers a group's Raft messages, one goroutine and queue per
// peer, so a slow or dead peer delays no one else. A full queue drops
// messages: raft resends what matters. It tells the group (report) which
// peers it could not reach and which snapshots it sent or lost.
type sender struct {
	t       transport.Transport
	resolve func(uint64) (string, bool)
	log     *slog.Logger
	report  reporter // set before the first send

	mu     sync.Mutex
	queues map[uint64]chan *pb.Message
	wg     sync.WaitGroup
	done   chan struct{}
}

// reporter is told what sending learns: the Raft group.
type reporter interface {
	ReportUnreachable(peer uint64)
	ReportSnapshot(peer uint64, ok bool)
}

func newSender(t transport.Transport, resolve func(uint64) (string, bool), log *slog.Logger) *sender {
	return &sender{t: t, resolve: resolve, log: log, queues: map[uint64]chan *pb.Message{}, done: make(chan struct{})}
}

func (s *sender) send(msgs []*pb.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		q, ok := s.queues[m.GetTo()]
		if !ok {
			q = make(chan *pb.Message, 1024)
			s.queues[m.GetTo()] = q
			s.wg.Add(1)
			go s.loop(m.GetTo(), q)
		}
		select {
		case q <- m:
		default:
			s.reportSent(m.GetTo(), m.GetType() == pb.MsgSnap, false)
		}
	}
}

// reportSent tells the group the outcome of sending to a peer.
func (s *sender) reportSent(to uint64, snap, ok bool) {
	if s.report == nil {
		return
	}
	if !ok {
		s.report.ReportUnreachable(to)
	}
	if snap {
		s.report.ReportSnapshot(to, ok)
	}
}

func (s *sender) loop(to uint64, q chan *pb.Message) {
	defer s.wg.Done()
	for {
		var m *pb.Message
		select {
		case <-s.done:
			return
		case m = <-q:
		}
		batch := [][]byte{}
		snap := false
		for m != nil {
			if b, err := proto.Marshal(m); err == nil {
				batch = append(batch, b)
				snap = snap || m.GetType() == pb.MsgSnap
			} else {
				s.reportSent(to, m.GetType() == pb.MsgSnap, false)
			}
			select {
			case m = <-q:
			default:
				m = nil
			}
		}
		id, ok := s.resolve(to)
		if !ok {
			s.reportSent(to, snap, false)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := s.t.Peer(id).Raft(ctx, &nodepb.RaftRequest{Group: Group, Messages: batch})
		cancel()
		if err != nil {
			s.log.Debug("sending raft messages", "to", id, "err", err)
		}
		s.reportSent(to, snap, err == nil)
	}
}

func (s *sender) close() {
	close(s.done)
	s.wg.Wait()
}
