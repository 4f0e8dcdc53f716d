package stronglocal

import (
	"context"
	"sync"

	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/strong"
)

// Groups runs every group as one strong.Machine on an engine. It serves as
// a coordinator's Strong.
type Groups struct {
	eng    *storage.Engine
	mu     sync.Mutex
	index  uint64
	groups map[uint64]*strong.Machine
	fail   error // if set, the next Do fails with it, unapplied
}

// New returns Groups that keep their keys in eng.
func New(eng *storage.Engine) *Groups {
	return &Groups{eng: eng, groups: map[uint64]*strong.Machine{}}
}

func (l *Groups) machine(group uint64) (*strong.Machine, error) {
	m, ok := l.groups[group]
	if !ok {
		var err error
		if m, err = strong.NewMachine(l.eng, group); err != nil {
			return nil, err
		}
		l.groups[group] = m
	}
	return m, nil
}

// Do applies cmd to group's machine at the next index.
func (l *Groups) Do(ctx context.Context, group uint64, cmd strong.Command) (strong.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.fail; err != nil {
		l.fail = nil
		return nil, err
	}
	m, err := l.machine(group)
	if err != nil {
		return nil, err
	}
	l.index++
	out, err := m.Apply(l.index, cmd.Encode(nil))
	if err != nil {
		return nil, err
	}
	return strong.DecodeResult(out)
}

// Get reads key from group's machine.
func (l *Groups) Get(ctx context.Context, group uint64, key []byte) ([]byte, uint64, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, err := l.machine(group)
	if err != nil {
		return nil, 0, false, err
	}
	return m.Get(key)
}

// FailNext makes the next Do fail with err, applying nothing: how a test
// stands for a partition without a leader (strong.ErrNoQuorum) or a
// proposal with no answer (strong.ErrUnknown).
func (l *Groups) FailNext(err error) {
	l.mu.Lock()
	l.fail = err
	l.mu.Unlock()
}
