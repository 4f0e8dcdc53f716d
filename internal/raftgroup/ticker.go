package raftgroup

import (
	"sync"
	"time"
)

// Ticker ticks many groups from one timer, all at once: a node's groups
// then send their heartbeats together, and the Sender carries them to
// each peer in one request instead of one per group.
type Ticker struct {
	interval time.Duration
	mu       sync.Mutex
	subs     map[chan struct{}]struct{}
	stop     chan struct{}
	once     sync.Once
}

// NewTicker starts a ticker of the given interval; Stop ends it.
func NewTicker(interval time.Duration) *Ticker {
	t := &Ticker{interval: interval, subs: map[chan struct{}]struct{}{}, stop: make(chan struct{})}
	go t.run()
	return t
}

// Interval is the ticker's tick.
func (t *Ticker) Interval() time.Duration { return t.interval }

func (t *Ticker) run() {
	tk := time.NewTicker(t.interval)
	defer tk.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
		}
		t.mu.Lock()
		for c := range t.subs {
			select {
			case c <- struct{}{}:
			default: // the group has not taken the last tick yet; it gets one
			}
		}
		t.mu.Unlock()
	}
}

// subscribe returns a channel that receives the ticks, and its cancel.
func (t *Ticker) subscribe() (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	t.mu.Lock()
	t.subs[c] = struct{}{}
	t.mu.Unlock()
	return c, func() {
		t.mu.Lock()
		delete(t.subs, c)
		t.mu.Unlock()
	}
}

// Stop ends the ticks.
func (t *Ticker) Stop() { t.once.Do(func() { close(t.stop) }) }
