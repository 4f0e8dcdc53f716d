package handoff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// Hint is a record that a replica missed.
type Hint struct {
	Namespace string
	Key       []byte
	// Record is the key's record as package replica encodes it.
	Record []byte
	// Made is when the write first missed its replica (Unix ms), by which
	// the hint ages; 0 means when it is added. A hint the store returns
	// for replay carries it.
	Made int64
}

// DefaultMaxAge is how long a hint waits for its replica unless configured.
const DefaultMaxAge = 3 * time.Hour

// Config configures a Store.
type Config struct {
	Engine *storage.Engine
	// MaxBytes bounds the hints kept, all targets together (default 512
	// MiB).
	MaxBytes int64
	// MaxAge is how long a hint waits for its replica (default 3h, as
	// Cassandra's max_hint_window); older ones are deleted at replay.
	MaxAge time.Duration
	// ReplayInterval is how often targets that are up are sent their hints
	// (default 1s).
	ReplayInterval time.Duration
	// Clock dates hints. Default: the real clock.
	Clock      clock.Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.MaxBytes == 0 {
		c.MaxBytes = 512 << 20
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.ReplayInterval == 0 {
		c.ReplayInterval = time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.Engine == nil {
		return errors.New("handoff: no storage engine")
	}
	if c.MaxBytes < 0 || c.MaxAge < 0 || c.ReplayInterval < 0 {
		return errors.New("handoff: negative bound")
	}
	return nil
}

// Store is a node's durable hints for other nodes.
type Store struct {
	cfg Config
	eng *storage.Engine
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]*backlog // by target
	bytes   int64               // all targets
	seq     uint64
	full    bool // the last Add was refused: log the change once

	stored, replayed, refused, expired atomic.Uint64
	pendingHints                       *prometheus.GaugeVec
	pendingBytes                       prometheus.Gauge
}

// Stats are a store's counts since it opened, and what it holds now.
type Stats struct {
	// Pending is the number of hints held for each target.
	Pending map[string]int
	// PendingBytes is the size of every hint held.
	PendingBytes int64
	// Stored, Replayed, Refused and Expired count hints since Open: stored,
	// delivered, refused for want of room, and dropped for age.
	Stored, Replayed, Refused, Expired uint64
}

// backlog is what the store holds for one target.
type backlog struct {
	count int
	bytes int64
}

// Open returns the hints of cfg.Engine, counting those a previous run left.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	s := &Store{
		cfg: cfg, eng: cfg.Engine, log: cfg.Logger.With("subsystem", "handoff"), pending: map[string]*backlog{},
		pendingHints: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "pando_hints_pending", Help: "Hints waiting for their replica, by replica."}, []string{"node"}),
		pendingBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pando_hints_pending_bytes", Help: "Bytes of hints waiting, all replicas together."}),
	}
	if err := s.count(); err != nil {
		return nil, err
	}
	counter := func(v *atomic.Uint64, name, help string) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	if cfg.Registerer != nil {
		for _, m := range []prometheus.Collector{
			counter(&s.stored, "pando_hints_stored_total", "Hints stored for replicas that missed a record."),
			counter(&s.replayed, "pando_hints_replayed_total", "Hints delivered to their replica and deleted."),
			counter(&s.refused, "pando_hints_refused_total", "Hints refused because the hint store was full (--hint-max-bytes); those records reach their replica only by read repair."),
			counter(&s.expired, "pando_hints_expired_total", "Hints deleted unreplayed because their replica was away longer than --hint-max-age."),
			s.pendingHints, s.pendingBytes,
		} {
			if err := cfg.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("handoff: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// count tallies the stored hints by target.
func (s *Store) count() error {
	lo, hi := storage.HintSpan("")
	it, err := s.eng.NewIter(lo, hi)
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		target, _, seq, err := storage.ParseHintKey(it.Key())
		if err != nil {
			it.Close()
			return fmt.Errorf("handoff: %w", err)
		}
		v, err := it.Value()
		if err != nil {
			it.Close()
			return fmt.Errorf("handoff: %w", err)
		}
		s.note(target, 1, int64(len(it.Key())+len(v)))
		s.seq = max(s.seq, seq)
	}
	return it.Close()
}

// note changes a target's backlog; callers hold mu or own the store.
func (s *Store) note(target string, count int, bytes int64) {
	b := s.pending[target]
	if b == nil {
		b = &backlog{}
		s.pending[target] = b
	}
	b.count += count
	b.bytes += bytes
	s.bytes += bytes
	s.pendingHints.WithLabelValues(target).Set(float64(b.count))
	s.pendingBytes.Set(float64(s.bytes))
	if b.count == 0 {
		delete(s.pending, target)
	}
}

// Add stores hints for target, durably. It refuses them all with ErrFull if
// they do not fit in MaxBytes. Each ages from its Made time, not from when
// it is added: a record that waited on a partitioned link before it became
// a hint has waited part of MaxAge already.
func (s *Store) Add(target string, hints ...Hint) error {
	if len(hints) == 0 {
		return nil
	}
	now := clock.UnixMilli(s.cfg.Clock)
	b := s.eng.NewBatch()
	var size int64
	s.mu.Lock()
	first := s.seq + 1
	s.seq += uint64(len(hints))
	for i, h := range hints {
		made := now
		if h.Made > 0 && h.Made < now {
			made = h.Made
		}
		k := storage.HintKey(target, made, first+uint64(i))
		v := encodeHint(h)
		b.Set(k, v)
		size += int64(len(k) + len(v))
	}
	if s.bytes+size > s.cfg.MaxBytes {
		wasFull := s.full
		s.full = true
		held := s.bytes
		s.mu.Unlock()
		b.Close()
		s.refused.Add(uint64(len(hints)))
		if !wasFull {
			s.log.Warn("hint store full: refusing hints; replicas that miss writes now catch up only through read repair",
				"held_bytes", held, "max_bytes", s.cfg.MaxBytes)
		}
		return fmt.Errorf("%w: %d bytes held, %d more do not fit in %d (--hint-max-bytes)", ErrFull, held, size, s.cfg.MaxBytes)
	}
	if s.full {
		s.full = false
		s.log.Info("hint store has room again")
	}
	s.note(target, len(hints), size) // reserved now, so concurrent Adds see it
	s.mu.Unlock()
	if err := s.eng.Commit(b, true); err != nil {
		s.mu.Lock()
		s.note(target, -len(hints), -size)
		s.mu.Unlock()
		return fmt.Errorf("handoff: storing hints for %s: %w", target, err)
	}
	s.stored.Add(uint64(len(hints)))
	return nil
}

// Pending returns how many hints wait for each target.
func (s *Store) Pending() map[string]int { return s.Stats().Pending }

// Stats returns the store's counts.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	st := Stats{Pending: make(map[string]int, len(s.pending)), PendingBytes: s.bytes}
	for t, b := range s.pending {
		st.Pending[t] = b.count
	}
	s.mu.Unlock()
	st.Stored, st.Replayed, st.Refused, st.Expired = s.stored.Load(), s.replayed.Load(), s.refused.Load(), s.expired.Load()
	return st
}

// targets returns the targets that have hints, sorted.
func (s *Store) targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.pending))
}

// encodeHint is a hint's stored form: uvarint-prefixed namespace and key,
// then the record.
func encodeHint(h Hint) []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen32+len(h.Namespace)+len(h.Key)+len(h.Record))
	b = binary.AppendUvarint(b, uint64(len(h.Namespace)))
	b = append(b, h.Namespace...)
	b = binary.AppendUvarint(b, uint64(len(h.Key)))
	b = append(b, h.Key...)
	return append(b, h.Record...)
}

func decodeHint(b []byte) (Hint, error) {
	var h Hint
	ns, b, ok := field(b)
	if !ok {
		return h, errors.New("handoff: corrupt hint: namespace")
	}
	key, rec, ok := field(b)
	if !ok {
		return h, errors.New("handoff: corrupt hint: key")
	}
	return Hint{Namespace: string(ns), Key: key, Record: rec}, nil
}

// field splits a uvarint-prefixed field off b. The length must be encoded
// minimally, so that every hint has one encoding.
func field(b []byte) (f, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || k != len(binary.AppendUvarint(nil, n)) || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	b = b[k:]
	return b[:n:n], b[n:], true
}
