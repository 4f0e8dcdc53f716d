package replica

import (
	"context"
	"time"

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

// ReapOnce examines up to ReapBatch expiry-index entries that are due and
// deletes the records they point at if those are still expired. It returns
// the number of entries examined.
func (s *Store) ReapOnce() (int, error) {
	now := s.now()
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
		mu := s.lockFor(h)
		mu.Lock()
		rec, found, err := s.read(h, w.dataKey)
		if err != nil {
			mu.Unlock()
			return 0, err
		}
		b := s.eng.NewBatch()
		b.Delete(w.index)
		s.cached(b, h, w.dataKey, nil)
		// The index entry outlives overwrites: delete the record only if it
		// still carries this expiry and it has passed.
		if found && rec.ExpireAt == w.at && rec.Expired(now) {
			b.Delete(w.dataKey)
			reaped++
		}
		// Unsynced: a reclaim lost in a crash is redone from the index.
		err = s.eng.Commit(b, false)
		mu.Unlock()
		if err != nil {
			return 0, err
		}
	}
	s.reaped.Add(float64(reaped))
	return len(work), nil
}
