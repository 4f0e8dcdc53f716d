package raftgroup

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pandodb/pando/internal/storage"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// logStore persists one group's Raft state in Pebble and rebuilds raft's
// MemoryStorage from it.
type logStore struct {
	eng   *storage.Engine
	group uint64
}

// load returns a MemoryStorage holding what was persisted, and whether
// anything was. The log may begin before the latest snapshot (the tail kept
// behind a snapshot this member took) or after it (a snapshot received
// from the leader replaces the log it covers).
func (l logStore) load() (*raft.MemoryStorage, bool, error) {
	snap, hasSnap, err := l.loadSnapshot()
	if err != nil {
		return nil, false, err
	}
	var hs pb.HardState
	err = l.eng.Get(storage.RaftKey(l.group, 'h'), func(v []byte) error { return proto.Unmarshal(v, &hs) })
	hasHS := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, false, err
	}
	ents, err := l.loadEntries()
	if err != nil {
		return nil, false, err
	}
	ms := raft.NewMemoryStorage()
	si := snap.GetMetadata().GetIndex()
	inLog := hasSnap && logCovers(ents, snap)
	switch {
	case hasSnap && !inLog:
		if err := ms.ApplySnapshot(snap); err != nil {
			return nil, false, fmt.Errorf("raftgroup: restoring snapshot: %w", err)
		}
		for len(ents) > 0 && ents[0].GetIndex() <= si {
			ents = ents[1:]
		}
		if len(ents) > 0 && ents[0].GetIndex() != si+1 {
			return nil, false, fmt.Errorf("raftgroup: corrupt log: entry %d follows snapshot %d", ents[0].GetIndex(), si)
		}
	case len(ents) > 0 && ents[0].GetIndex() > 1:
		// A compacted log: its first entry only marks where it starts.
		start := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(ents[0].GetIndex()), Term: proto.Uint64(ents[0].GetTerm())}}
		if err := ms.ApplySnapshot(start); err != nil {
			return nil, false, err
		}
		ents = ents[1:]
	}
	if err := ms.Append(ents); err != nil {
		return nil, false, err
	}
	if inLog {
		if _, err := ms.CreateSnapshot(si, snap.GetMetadata().GetConfState(), snap.GetData()); err != nil {
			return nil, false, fmt.Errorf("raftgroup: restoring snapshot: %w", err)
		}
	}
	if hasHS {
		if err := ms.SetHardState(&hs); err != nil {
			return nil, false, err
		}
	}
	return ms, hasSnap || hasHS || len(ents) > 0, nil
}

func (l logStore) loadSnapshot() (*pb.Snapshot, bool, error) {
	snap := &pb.Snapshot{}
	err := l.eng.Get(storage.RaftKey(l.group, 's'), func(v []byte) error { return proto.Unmarshal(v, snap) })
	if errors.Is(err, storage.ErrNotFound) {
		return snap, false, nil
	}
	return snap, err == nil, err
}

// loadEntries returns the whole persisted log, checking that it has no gap.
func (l logStore) loadEntries() ([]*pb.Entry, error) {
	it, err := l.eng.NewIter(storage.RaftEntryKey(l.group, 0), storage.RaftKey(l.group, 'e'+1))
	if err != nil {
		return nil, err
	}
	var ents []*pb.Entry
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err != nil {
			it.Close()
			return nil, err
		}
		e := &pb.Entry{}
		if err := proto.Unmarshal(v, e); err != nil {
			it.Close()
			return nil, fmt.Errorf("raftgroup: corrupt log entry %x: %w", it.Key(), err)
		}
		if n := len(ents); n > 0 && e.GetIndex() != ents[n-1].GetIndex()+1 {
			it.Close()
			return nil, fmt.Errorf("raftgroup: corrupt log: entry %d follows %d", e.GetIndex(), ents[n-1].GetIndex())
		}
		ents = append(ents, e)
	}
	return ents, it.Close()
}

// logCovers reports whether the log holds entries before the snapshot and
// the snapshot's own entry: the snapshot was taken here, and the log kept a
// tail behind it.
func logCovers(ents []*pb.Entry, snap *pb.Snapshot) bool {
	si := snap.GetMetadata().GetIndex()
	if len(ents) == 0 || ents[0].GetIndex() >= si || ents[len(ents)-1].GetIndex() < si {
		return false
	}
	return ents[si-ents[0].GetIndex()].GetTerm() == snap.GetMetadata().GetTerm()
}

// save persists a Ready's hard state, entries and snapshot in one batch.
//
// last is the index of the last entry stored before this call. Entries
// past it only extend the log, and need no deletion: a range deletion on
// every append would cost each later read of the memtable a rebuild of
// its range deletions, on the hot path of every write.
func (l logStore) save(hs *pb.HardState, ents []*pb.Entry, snap *pb.Snapshot, sync bool, last uint64) error {
	b := l.eng.NewBatch()
	if snap != nil && !raft.IsEmptySnap(snap) {
		data, err := proto.Marshal(snap)
		if err != nil {
			b.Close()
			return err
		}
		b.Set(storage.RaftKey(l.group, 's'), data)
		// A snapshot from the leader replaces the whole log, as it does in
		// raft's MemoryStorage; the Ready's entries follow it.
		b.DeleteRange(storage.RaftEntryKey(l.group, 0), storage.RaftKey(l.group, 'e'+1))
	}
	if len(ents) > 0 {
		if ents[0].GetIndex() <= last {
			// New entries replace a conflicting tail of the log.
			b.DeleteRange(storage.RaftEntryKey(l.group, ents[0].GetIndex()), storage.RaftKey(l.group, 'e'+1))
		}
		for _, e := range ents {
			data, err := proto.Marshal(e)
			if err != nil {
				b.Close()
				return err
			}
			b.Set(storage.RaftEntryKey(l.group, e.GetIndex()), data)
		}
	}
	if hs != nil && !raft.IsEmptyHardState(hs) {
		data, err := proto.Marshal(hs)
		if err != nil {
			b.Close()
			return err
		}
		b.Set(storage.RaftKey(l.group, 'h'), data)
	}
	if b.Len() == 0 {
		b.Close()
		return nil
	}
	return l.eng.Commit(b, sync)
}

// saveSnapshot stores a snapshot taken by the group and drops the entries
// before compactTo. Entry compactTo stays: it tells the term where the
// kept log starts.
func (l logStore) saveSnapshot(snap *pb.Snapshot, compactTo uint64) error {
	data, err := proto.Marshal(snap)
	if err != nil {
		return err
	}
	b := l.eng.NewBatch()
	b.Set(storage.RaftKey(l.group, 's'), data)
	if compactTo > 0 {
		b.DeleteRange(storage.RaftEntryKey(l.group, 0), storage.RaftEntryKey(l.group, compactTo))
	}
	return l.eng.Commit(b, true)
}

// proposal ids prefix every normal entry's data, so the proposer can be
// told when its command is applied.
func encodeProposal(id uint64, cmd []byte) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(cmd)), id), cmd...)
}

func decodeProposal(data []byte) (id uint64, cmd []byte, ok bool) {
	if len(data) < 8 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(data), data[8:], true
}
