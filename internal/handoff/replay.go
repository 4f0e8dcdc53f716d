package handoff

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/storage"
)

// Replayer delivers hints to their replicas.
type Replayer interface {
	// Up reports whether gossip believes node is up.
	Up(node string) bool
	// Replay delivers hints to target durably, or fails as a whole.
	Replay(ctx context.Context, target string, hints []Hint) error
}

// The bounds of one replay call.
const (
	replayItems = 512
	replayBytes = 4 << 20
)

// Run replays hints to their targets that are up, every ReplayInterval,
// until ctx ends.
func (s *Store) Run(ctx context.Context, r Replayer) error {
	t := time.NewTicker(s.cfg.ReplayInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.ReplayOnce(ctx, r)
	}
}

// ReplayOnce sends every target that is up all its hints, oldest first, and
// returns how many it delivered.
func (s *Store) ReplayOnce(ctx context.Context, r Replayer) int {
	total := 0
	for _, target := range s.targets() {
		if !r.Up(target) {
			continue
		}
		n, err := s.replayTo(ctx, target, r)
		total += n
		if err != nil {
			s.log.Debug("replaying hints", "to", target, "delivered", n, "err", err)
		} else if n > 0 {
			s.log.Info("hints delivered", "to", target, "hints", n)
		}
	}
	return total
}

// stored is one hint as kept: its storage key and size.
type stored struct {
	key  []byte
	size int64
}

func (s *Store) replayTo(ctx context.Context, target string, r Replayer) (int, error) {
	delivered := 0
	for ctx.Err() == nil {
		hints, keys, expired, err := s.next(target)
		if err != nil {
			return delivered, err
		}
		if len(expired) > 0 {
			if err := s.remove(target, expired); err != nil {
				return delivered, err
			}
			s.expired.Add(uint64(len(expired)))
			s.log.Warn("hints expired before their replica came back; it catches up on those keys through read repair",
				"to", target, "hints", len(expired), "max_age", s.cfg.MaxAge)
		}
		if len(hints) == 0 {
			if len(expired) > 0 {
				continue
			}
			return delivered, nil
		}
		if err := r.Replay(ctx, target, hints); err != nil {
			return delivered, err
		}
		if err := s.remove(target, keys); err != nil {
			return delivered, err
		}
		s.replayed.Add(uint64(len(hints)))
		delivered += len(hints)
	}
	return delivered, ctx.Err()
}

// next reads target's oldest hints, up to one replay call's worth, and
// separately those too old to replay.
func (s *Store) next(target string) (hints []Hint, keys, expired []stored, err error) {
	lo, hi := storage.HintSpan(target)
	it, err := s.eng.NewIter(lo, hi)
	if err != nil {
		return nil, nil, nil, err
	}
	defer it.Close()
	oldest := clock.UnixMilli(s.cfg.Clock) - s.cfg.MaxAge.Milliseconds()
	bytes := 0
	for ok := it.First(); ok && len(hints) < replayItems && len(expired) < replayItems && bytes < replayBytes; ok = it.Next() {
		_, created, _, err := storage.ParseHintKey(it.Key())
		if err != nil {
			return nil, nil, nil, fmt.Errorf("handoff: %w", err)
		}
		v, err := it.Value()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("handoff: %w", err)
		}
		st := stored{key: slices.Clone(it.Key()), size: int64(len(it.Key()) + len(v))}
		if created < oldest {
			expired = append(expired, st)
			continue
		}
		h, err := decodeHint(slices.Clone(v))
		if err != nil {
			return nil, nil, nil, err
		}
		h.Made = created
		hints = append(hints, h)
		keys = append(keys, st)
		bytes += len(v)
	}
	return hints, keys, expired, nil
}

// remove deletes hints of target. Unsynced: a delete lost in a crash only
// means the hint is replayed again, which changes nothing.
func (s *Store) remove(target string, hints []stored) error {
	b := s.eng.NewBatch()
	var size int64
	for _, h := range hints {
		b.Delete(h.key)
		size += h.size
	}
	if err := s.eng.Commit(b, false); err != nil {
		return fmt.Errorf("handoff: deleting hints: %w", err)
	}
	s.mu.Lock()
	s.note(target, -len(hints), -size)
	s.mu.Unlock()
	return nil
}
