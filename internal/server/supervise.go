package server

import (
	"context"
	"errors"
	"time"

	"github.com/pandodb/pando/internal/api/httpapi"
	"github.com/pandodb/pando/internal/storage"
)

// Supervise runs a node from cfg until ctx ends. When the node stops
// because its storage failed a write (ErrStorageFailed: the log could not
// be written or synced, so what the page cache holds is not trusted), it
// opens the node again from its data directory, which replays the log as
// far as it was synced, and serves again: the failed write was never
// acknowledged, every acknowledged one is there. Until the disk takes
// writes again, each attempt waits longer (1 s, doubling to 30 s).
func Supervise(ctx context.Context, cfg Config) error {
	if cfg.DebugDiskFaults && cfg.diskFaults == nil {
		cfg.diskFaults = new(storage.Faults) // one for every reopen
	}
	wait := time.Second
	for reopening := false; ; reopening = true {
		srv, err := New(cfg)
		if err == nil {
			// A reopen binds the addresses bound now, ports picked by
			// the system (":0") included: clients and peers find it again.
			cfg.RESPAddr, cfg.HTTPAddr = srv.RESPAddr().String(), srv.HTTPAddr().String()
			cfg.ClusterAddr, cfg.GossipAddr = srv.ClusterAddr().String(), srv.GossipAddr()
			started := time.Now()
			err = srv.Run(ctx)
			if !errors.Is(err, ErrStorageFailed) {
				return err
			}
			if time.Since(started) > time.Minute {
				wait = time.Second
			}
		} else if !reopening {
			return err // a configuration or data directory error
		}
		if cfg.Logger != nil {
			cfg.Logger.Error("reopening the node from its data directory", "in", wait, "after", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// debugDisk is faults for the HTTP API: nil (no route) when there are none.
func debugDisk(faults *storage.Faults) httpapi.DiskFaults {
	if faults == nil {
		return nil
	}
	return faults
}
