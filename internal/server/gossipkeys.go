package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pandodb/pando/internal/certs"
	"github.com/pandodb/pando/internal/membership"
)

// gossipKeys holds the gossip keys read from --gossip-key-file.
type gossipKeys struct {
	file string
	data []byte // the file as last read
	keys [][]byte
}

// newGossipRefused counts what gossip refused: messages without a key of
// ours, and nodes that do not prove who they are.
func newGossipRefused(reg prometheus.Registerer) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pando_gossip_refused_total",
		Help: "Gossip refused: messages not encrypted with one of this node's gossip keys, and messages of nodes that present no node certificate of the cluster's CA.",
	})
	reg.MustRegister(c)
	return c
}

// loadGossipKeys reads file; nil, nil without one.
func loadGossipKeys(file string) (*gossipKeys, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("gossip key file: %w", err)
	}
	keys, err := membership.ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &gossipKeys{file: file, data: data, keys: keys}, nil
}

// reloads is closed and replaced at each Reload.
var reloads = struct {
	mu sync.Mutex
	c  chan struct{}
}{c: make(chan struct{})}

func reloadRequested() <-chan struct{} {
	reloads.mu.Lock()
	defer reloads.mu.Unlock()
	return reloads.c
}

// Reload reads the certificates and the gossip keys of every node of the
// process from their files now, as SIGHUP asks; both are also read again
// within a second of a change to their files. A certificate that does not
// load is returned as an error and the one in use kept; gossip keys that
// do not parse are logged, the keys in use kept.
func Reload() error {
	err := certs.Reload()
	reloads.mu.Lock()
	close(reloads.c)
	reloads.c = make(chan struct{})
	reloads.mu.Unlock()
	return err
}

// watch installs the keys of the file each time it changes (polled every
// interval, and at once on Reload), until ctx ends: the rotation steps of
// membership/keys.go are edits of the file on every node. A file that
// does not parse is logged and ignored, the keys in use kept.
func (g *gossipKeys) watch(ctx context.Context, m *membership.Membership, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var failed []byte // a content already reported as unusable
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-reloadRequested():
		}
		data, err := os.ReadFile(g.file)
		if err != nil || bytes.Equal(data, g.data) || bytes.Equal(data, failed) {
			continue
		}
		keys, err := membership.ParseKeys(data)
		if err == nil {
			err = m.SetKeys(keys)
		}
		if err != nil {
			failed = data
			log.Error("gossip key file changed but cannot be used; the keys in use are kept", "file", g.file, "err", err)
			continue
		}
		g.data, g.keys, failed = data, keys, nil
		log.Info("gossip keys reloaded", "file", g.file, "keys", m.KeyIDs())
	}
}
