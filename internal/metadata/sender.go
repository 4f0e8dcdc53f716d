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
// messages: raft resends what matters.
type sender struct {
	t       transport.Transport
	resolve func(uint64) (string, bool)
	log     *slog.Logger

	mu     sync.Mutex
	queues map[uint64]chan *pb.Message
	wg     sync.WaitGroup
	done   chan struct{}
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
		}
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
		for m != nil {
			if b, err := proto.Marshal(m); err == nil {
				batch = append(batch, b)
			}
			select {
			case m = <-q:
			default:
				m = nil
			}
		}
		id, ok := s.resolve(to)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := s.t.Peer(id).Raft(ctx, &nodepb.RaftRequest{Group: Group, Messages: batch})
		cancel()
		if err != nil {
			s.log.Debug("sending raft messages", "to", id, "err", err)
		}
	}
}

func (s *sender) close() {
	close(s.done)
	s.wg.Wait()
}
