package coordinator

import "sync"

// batcher sends one peer what queues for it, in batches: items that queue
// while a call is in flight go out together in the next call, so under load
// many small calls become few large ones, while a lone item goes out at
// once. At most one call per peer and kind is in flight.
type batcher[T any] struct {
	// flush sends one batch; it must answer every item.
	flush func([]T)
	// size is an item's weight in bytes.
	size func(T) int
	// maxItems and maxBytes bound one batch (a single larger item still
	// goes, alone); maxQueued bounds the bytes waiting, 0 for no bound.
	maxItems, maxBytes, maxQueued int

	mu      sync.Mutex
	queue   []T
	queued  int // bytes in queue
	running bool
}

// add queues an item. It returns false, queueing nothing, when the queue
// already holds maxQueued bytes: the peer is not keeping up.
func (b *batcher[T]) add(it T) bool {
	n := b.size(it)
	b.mu.Lock()
	if b.maxQueued > 0 && len(b.queue) > 0 && b.queued+n > b.maxQueued {
		b.mu.Unlock()
		return false
	}
	b.queue = append(b.queue, it)
	b.queued += n
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		go b.loop()
	}
	return true
}

// loop sends batches until the queue is empty, then ends; the next add
// starts it again.
func (b *batcher[T]) loop() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		n, bytes := 0, 0
		for n < len(b.queue) && n < b.maxItems {
			s := b.size(b.queue[n])
			if n > 0 && bytes+s > b.maxBytes {
				break
			}
			bytes += s
			n++
		}
		batch := make([]T, n)
		copy(batch, b.queue[:n])
		clear(b.queue[:n]) // let the sent items be collected
		b.queue = b.queue[n:]
		b.queued -= bytes
		b.mu.Unlock()
		b.flush(batch)
	}
}
