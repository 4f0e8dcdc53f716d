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
// anything was.
func (l logStore) load() (*raft.MemoryStorage, bool, error) {
	ms := raft.NewMemoryStorage()
	found := false
	var snap pb.Snapshot
	err := l.eng.Get(storage.RaftKey(l.group, 's'), func(v []byte) error { return proto.Unmarshal(v, &snap) })
	switch {
	case err == nil:
		if err := ms.ApplySnapshot(&snap); err != nil {
			return nil, false, fmt.Errorf("raftgroup: restoring snapshot: %w", err)
		}
		found = true
	case !errors.Is(err, storage.ErrNotFound):
		return nil, false, err
	}
	var hs pb.HardState
	err = l.eng.Get(storage.RaftKey(l.group, 'h'), func(v []byte) error { return proto.Unmarshal(v, &hs) })
	switch {
	case err == nil:
		if err := ms.SetHardState(&hs); err != nil {
			return nil, false, err
		}
		found = true
	case !errors.Is(err, storage.ErrNotFound):
		return nil, false, err
	}
	first := snap.GetMetadata().GetIndex() + 1
	it, err := l.eng.NewIter(storage.RaftEntryKey(l.group, first), storage.RaftKey(l.group, 'e'+1))
	if err != nil {
		return nil, false, err
	}
	var ents []*pb.Entry
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err != nil {
			it.Close()
			return nil, false, err
		}
		e := &pb.Entry{}
		if err := proto.Unmarshal(v, e); err != nil {
			it.Close()
			return nil, false, fmt.Errorf("raftgroup: corrupt log entry %x: %w", it.Key(), err)
		}
		ents = append(ents, e)
	}
	if err := it.Close(); err != nil {
		return nil, false, err
	}
	if len(ents) > 0 {
		found = true
		if err := ms.Append(ents); err != nil {
			return nil, false, err
		}
	}
	return ms, found, nil
}

// save persists a Ready's hard state, entries and snapshot in one batch.
func (l logStore) save(hs *pb.HardState, ents []*pb.Entry, snap *pb.Snapshot, sync bool) error {
	b := l.eng.NewBatch()
	if snap != nil && !raft.IsEmptySnap(snap) {
		data, err := proto.Marshal(snap)
		if err != nil {
			b.Close()
			return err
		}
		b.Set(storage.RaftKey(l.group, 's'), data)
		// Entries up to the snapshot are in it now.
		b.DeleteRange(storage.RaftEntryKey(l.group, 0), storage.RaftEntryKey(l.group, snap.GetMetadata().GetIndex()+1))
	}
	if len(ents) > 0 {
		// New entries replace any conflicting tail of the log.
		b.DeleteRange(storage.RaftEntryKey(l.group, ents[0].GetIndex()), storage.RaftKey(l.group, 'e'+1))
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

// compact stores a snapshot taken by the group and drops the entries it
// covers.
func (l logStore) compact(snap *pb.Snapshot) error {
	return l.save(nil, nil, snap, true)
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
