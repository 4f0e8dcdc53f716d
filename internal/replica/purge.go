package replica

import (
	"github.com/pandodb/pando/internal/storage"
)

// Tombstones reports whether a record is only tombstones, and the stamp
// of the youngest (Unix µs; 0 for tombstones from before stamps).
func (r *Record) Tombstones() (youngest int64, only bool) {
	sibs := r.Siblings()
	for _, s := range sibs {
		if !s.Tombstone {
			return 0, false
		}
		youngest = max(youngest, s.Stamp)
	}
	return youngest, len(sibs) > 0
}

// Purgeable reports whether a record is only tombstones, each stamped at or
// before cutoff (Unix µs): what PurgeTombstone may remove.
func (r *Record) Purgeable(cutoff int64) bool {
	youngest, only := r.Tombstones()
	return only && youngest <= cutoff
}

// Tombstone reports whether key's record, if same accepts its encoding,
// holds only tombstones, and the stamp of the youngest.
func (s *Store) Tombstone(ns string, key []byte, same func(record []byte) bool) (youngest int64, only bool, err error) {
	rec, found, err := s.Read(ns, key)
	if err != nil || !found || !same(AppendRecord(nil, &rec)) {
		return 0, false, err
	}
	youngest, only = rec.Tombstones()
	return youngest, only, nil
}

// PurgeTombstone removes key's record from disk, causal history and all,
// if it holds only tombstones stamped at or before cutoff (Unix µs) and
// same accepts its encoding (the record the caller knows about). It
// reports whether it did and, for a record of tombstones too young, the
// stamp of the youngest. The caller must know that every replica of the
// key holds this record, or one that supersedes it: otherwise a replica
// that missed the delete brings the value back. Unsynced, like the
// reaper: a purge lost in a crash is done again.
func (s *Store) PurgeTombstone(ns string, key []byte, same func(record []byte) bool, cutoff int64) (purged bool, youngest int64, err error) {
	h := storage.Hash(ns, key)
	dataKey := storage.DataKeyHashed(nil, ns, h, key)
	st := s.lockFor(h)
	st.Lock()
	defer st.Unlock()
	cur, found, err := s.current(st, h, dataKey)
	if err != nil || !found {
		return false, 0, err
	}
	youngest, only := cur.Tombstones()
	if !only || !same(AppendRecord(nil, &cur)) {
		return false, 0, nil
	}
	if youngest > cutoff {
		return false, youngest, nil
	}
	b := s.eng.NewBatch()
	b.Delete(dataKey)
	b.OnCommit(func(error) {
		if s.cache != nil {
			s.cache.invalidate(h, dataKey)
		}
		if s.cfg.Watch != nil {
			s.cfg.Watch(dataKey)
		}
	})
	if err := s.eng.Commit(b, false); err != nil {
		return false, 0, err
	}
	s.purged.Inc()
	return true, 0, nil
}
