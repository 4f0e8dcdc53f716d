package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Real is the machine's clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

var _ Clock = Real{}

// Manual is a clock that moves only when told to. The zero value starts at the
// Unix epoch; use NewManual for another start.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

var _ Clock = (*Manual)(nil)

// NewManual returns a Manual clock set to start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the clock's current time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves the clock forward (or back, for a negative d).
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
}

// Set moves the clock to t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = t
}

// UnixMilli returns c's time as milliseconds since the Unix epoch, the unit in
// which records store their expiry.
func UnixMilli(c Clock) int64 { return c.Now().UnixMilli() }

// Offset is the machine's clock moved by an adjustable offset: a node whose
// clock is wrong by hours, for tests and the verifier's clock nemesis.
type Offset struct {
	d atomic.Int64 // nanoseconds
}

var _ Clock = (*Offset)(nil)

// NewOffset returns a clock d ahead of the machine's (behind if negative).
func NewOffset(d time.Duration) *Offset {
	o := &Offset{}
	o.d.Store(int64(d))
	return o
}

// Now returns the machine's time plus the offset.
func (o *Offset) Now() time.Time { return time.Now().Add(time.Duration(o.d.Load())) }

// Set changes the offset.
func (o *Offset) Set(d time.Duration) { o.d.Store(int64(d)) }

// Get returns the offset.
func (o *Offset) Get() time.Duration { return time.Duration(o.d.Load()) }
