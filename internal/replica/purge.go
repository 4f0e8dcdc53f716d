package replica

import (
	"strconv"
	"strings"

	"github.com/pandodb/pando/internal/storage"
)

// Settling a record that every replica holds and nobody has written for a
// grace period: a record of tombstones only is purged from disk; any other
// loses the version vector entries of earlier lives (epochs) of a node
// whose later life the record also holds (RetireEpochs). The caller must
// know that every replica holds the record, or one that supersedes it, and
// that no hint or message older than the grace can still arrive: otherwise
// a replica, or a late message, that lacks the delete or the retired
// history brings an old value back.

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

// youngest is the stamp of the record's newest sibling.
func (r *Record) youngest() int64 {
	var y int64
	for _, s := range r.Siblings() {
		y = max(y, s.Stamp)
	}
	return y
}

// epochActor splits an actor of the form node.epoch.
func epochActor(actor string) (node string, epoch uint64, ok bool) {
	i := strings.LastIndexByte(actor, '.')
	if i <= 0 {
		return "", 0, false
	}
	e, err := strconv.ParseUint(actor[i+1:], 10, 64)
	return actor[:i], e, err == nil
}

// RetireEpochs returns r without the version vector entries of a node's
// earlier epochs that hold no live value, when the record holds a later
// epoch of the same node, and whether anything was dropped. Those events
// are all superseded, the node never writes under an earlier epoch again,
// and its next counter comes from its later epoch's entry: what KV-679's
// fix needs stays. A key written across many restarts keeps one entry per
// node.
func (r *Record) RetireEpochs() (Record, bool) {
	latest := map[string]uint64{}
	for _, e := range r.Set.Entries {
		if n, ep, ok := epochActor(e.Node); ok {
			latest[n] = max(latest[n], ep)
		}
	}
	set := r.Set.Retire(func(actor string) bool {
		n, ep, ok := epochActor(actor)
		return ok && ep < latest[n]
	})
	if len(set.Entries) == len(r.Set.Entries) {
		return *r, false
	}
	return Record{Set: set}, true
}

// settleable reports whether settling would change the record, and the
// stamp of its youngest sibling.
func (r *Record) settleable() (youngest int64, act bool) {
	if y, only := r.Tombstones(); only {
		return y, true
	}
	_, retire := r.RetireEpochs()
	return r.youngest(), retire
}

// Settleable reports, for key's record if same accepts its encoding,
// whether settling would change it, and the stamp of its youngest sibling.
func (s *Store) Settleable(ns string, key []byte, same func(record []byte) bool) (youngest int64, act bool, err error) {
	rec, found, err := s.Read(ns, key)
	if err != nil || !found || !same(AppendRecord(nil, &rec)) {
		return 0, false, err
	}
	youngest, act = rec.settleable()
	return youngest, act, nil
}

// Settle purges key's record if it is only tombstones, or else retires its
// superseded epochs, if same accepts its encoding (the record the caller
// knows every replica holds) and no sibling is stamped after cutoff (Unix
// µs). It reports whether it changed the record and, for a record too
// young, the stamp of its youngest sibling. Unsynced, like the reaper: a
// settlement lost in a crash is done again.
func (s *Store) Settle(ns string, key []byte, same func(record []byte) bool, cutoff int64) (done bool, youngest int64, err error) {
	h := storage.Hash(ns, key)
	dataKey := storage.DataKeyHashed(nil, ns, h, key)
	s.purging.RLock()
	defer s.purging.RUnlock()
	st := s.lockFor(h)
	st.Lock()
	defer st.Unlock()
	cur, found, err := s.current(st, h, dataKey)
	if err != nil || !found {
		return false, 0, err
	}
	youngest, act := cur.settleable()
	if !act || !same(AppendRecord(nil, &cur)) {
		return false, 0, nil
	}
	if youngest > cutoff {
		return false, youngest, nil
	}
	b := s.eng.NewBatch()
	if _, only := cur.Tombstones(); only {
		b.Delete(dataKey)
		b.OnCommit(func(error) {
			if s.cache != nil {
				s.cache.invalidate(h, dataKey)
			}
			if s.cfg.Watch != nil {
				s.cfg.Watch(dataKey)
			}
		})
		s.purged.Inc()
	} else {
		next, _ := cur.RetireEpochs()
		s.write(b, h, dataKey, &next)
		s.retired.Add(float64(len(cur.Set.Entries) - len(next.Set.Entries)))
	}
	if err := s.eng.Commit(b, false); err != nil {
		return false, 0, err
	}
	return true, 0, nil
}
