package replica

import (
	"context"
	"time"

	"github.com/pandodb/pando/internal/sabotage"
	"github.com/pandodb/pando/internal/storage"
)

// Run reclaims expired records until ctx is done.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for {
			n, err := s.ReapOnce()
			if err != nil {
				s.log.Warn("reclaiming expired records", "err", err)
				break
			}
			if n < s.cfg.ReapBatch || ctx.Err() != nil {
				break
			}
		}
	}
}

// ReapOnce examines up to ReapBatch expiry-index entries that are due and,
// where every value of the record has expired by now, drops the values'
// bytes. It returns the number of entries examined.
//
// An expired record becomes a tombstone, not a hole: its siblings keep
// their dots and the record its causal history. Removing it outright would
// be unsafe in a cluster, since a replica that missed the write that set the
// expiry may still hold the value that write replaced; without the history
// here, the next read would merge that older value back in. Purging
// tombstones once every replica holds them is anti-entropy's job.
func (s *Store) ReapOnce() (int, error) {
	now := s.Now()
	lo, hi := storage.ExpirySpan(now + 1)
	it, err := s.eng.NewIter(lo, hi)
	if err != nil {
		return 0, err
	}
	type due struct {
		at      int64
		dataKey []byte
		index   []byte
	}
	var work []due
	for ok := it.First(); ok && len(work) < s.cfg.ReapBatch; ok = it.Next() {
		at, dk, err := storage.ParseExpiryKey(it.Key())
		if err != nil {
			it.Close()
			return 0, err
		}
		work = append(work, due{at: at, dataKey: append([]byte(nil), dk...), index: append([]byte(nil), it.Key()...)})
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	reaped := 0
	for _, w := range work {
		_, h, _, err := storage.ParseDataKey(w.dataKey)
		if err != nil {
			return 0, err
		}
		s.purging.RLock()
		mu := s.lockFor(h)
		mu.Lock()
		unlock := func() { mu.Unlock(); s.purging.RUnlock() }
		if _, queued := mu.pending[string(w.dataKey)]; queued {
			unlock()
			continue // a write is on its way; a later pass looks again
		}
		rec, found, err := s.read(h, w.dataKey, false)
		if err != nil {
			unlock()
			return 0, err
		}
		b := s.eng.NewBatch()
		b.Delete(w.index)
		// The index entry outlives overwrites: reclaim the record only if its
		// last expiry is still this one and has passed.
		if found && rec.reclaimAt() == w.at && w.at <= now {
			if sabotage.Is("reap-whole") {
				b.Delete(w.dataKey)
				if s.cache != nil {
					b.OnCommit(func(error) { s.cache.invalidate(h, w.dataKey) })
				}
			} else {
				tomb := rec.tombstoneExpired(now)
				s.write(b, h, w.dataKey, &tomb)
			}
			reaped++
		}
		// Unsynced: a reclaim lost in a crash is redone from the index. The
		// stripe lock orders it against every other write of the key.
		err = s.eng.Commit(b, false)
		unlock()
		if err != nil {
			return 0, err
		}
	}
	s.reaped.Add(float64(reaped))
	return len(work), nil
}
