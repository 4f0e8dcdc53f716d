package coordinator

import (
	"context"
	"time"
)

// PurgeRetired deletes, from this replica, the records of namespace
// generations that a truncation (FLUSHDB) or a drop retired, and returns
// the storage names it purged. Reads and writes moved to the new
// generation the moment this node applied the change; this reclaims the
// space.
func (c *Coordinator) PurgeRetired() ([]string, error) {
	names, err := c.store.Engine().DataNamespaces()
	if err != nil {
		return nil, err
	}
	st := c.cfg.Meta.State()
	var purged []string
	for _, ns := range names {
		if !st.Garbage(ns) {
			continue
		}
		if err := c.store.Purge(ns); err != nil {
			return purged, err
		}
		purged = append(purged, ns)
	}
	return purged, nil
}

// RunPurge purges retired namespace generations every interval until ctx
// ends.
func (c *Coordinator) RunPurge(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		purged, err := c.PurgeRetired()
		if err != nil {
			c.log.Warn("purging retired namespace data", "err", err)
		}
		for _, ns := range purged {
			c.log.Info("purged the records of a truncated or dropped namespace", "storage", ns)
		}
	}
}
