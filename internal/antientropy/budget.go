package antientropy

import (
	"context"
	"sync"
	"time"
)

// Budget bounds what exchanges move: records and bytes per second, each a
// token bucket holding at most one second's worth. Zero means no bound.
// Its rates can change while exchanges run.
type Budget struct {
	mu             sync.Mutex
	records, bytes float64 // per second
	haveR, haveB   float64
	at             time.Time
}

// NewBudget returns a budget of records and bytes per second.
func NewBudget(records, bytes float64) *Budget {
	b := &Budget{}
	b.Set(records, bytes)
	return b
}

// Set changes the rates.
func (b *Budget) Set(records, bytes float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records, b.bytes = records, bytes
	b.haveR, b.haveB = min(b.haveR, records), min(b.haveB, bytes)
}

// Rates returns the rates.
func (b *Budget) Rates() (records, bytes float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.records, b.bytes
}

// Wait blocks until n records of size bytes may move. A nil budget never
// waits. A request larger than a bucket waits for a full bucket and takes
// it.
func (b *Budget) Wait(ctx context.Context, n, size int) error {
	if b == nil {
		return nil
	}
	for {
		b.mu.Lock()
		now := time.Now()
		if !b.at.IsZero() {
			dt := now.Sub(b.at).Seconds()
			b.haveR = min(b.records, b.haveR+dt*b.records)
			b.haveB = min(b.bytes, b.haveB+dt*b.bytes)
		}
		b.at = now
		needR, needB := min(float64(n), b.records), min(float64(size), b.bytes)
		okR := b.records == 0 || b.haveR >= needR
		okB := b.bytes == 0 || b.haveB >= needB
		if okR && okB {
			if b.records > 0 {
				b.haveR -= needR
			}
			if b.bytes > 0 {
				b.haveB -= needB
			}
			b.mu.Unlock()
			return nil
		}
		var wait time.Duration
		if !okR {
			wait = max(wait, time.Duration((needR-b.haveR)/b.records*float64(time.Second)))
		}
		if !okB {
			wait = max(wait, time.Duration((needB-b.haveB)/b.bytes*float64(time.Second)))
		}
		b.mu.Unlock()
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
