package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

type readResult struct {
	node  string
	rec   replica.Record
	found bool
	err   error
}

// read gathers the key's record from R replicas and merges them. found is
// false when no replica that answered holds the key.
func (c *Coordinator) read(ctx context.Context, ns string, key []byte, ro api.ReadOptions) (replica.Record, bool, error) {
	_, pl, err := c.placeSynced(ctx, ns, key)
	if err != nil {
		return replica.Record{}, false, err
	}
	r, err := required(ro.R, c.cfg.DefaultR, pl.n)
	if err != nil {
		return replica.Record{}, false, err
	}
	// One replica is enough and this node is one: read it directly.
	if r == 1 && slices.Contains(pl.pref, c.self) {
		return c.store.ReadHashed(ns, pl.hash, key)
	}
	targets := c.candidates(pl.pref)
	if len(targets) < r {
		return replica.Record{}, false, fmt.Errorf("%w: 0 of %d required replicas answered (%d of %d replicas up)", api.ErrUnavailable, r, len(targets), len(pl.pref))
	}
	// Stragglers and read repair outlive this request: they must not share
	// the caller's key, which a front end reuses for its next command.
	key = bytes.Clone(key)
	ctx, cancel := c.deadline(ctx)
	// Ask R replicas (this node first), and one more each time one fails,
	// as Cassandra does: a healthy read costs R calls, not N.
	results := make(chan readResult, len(targets))
	asked := 0
	ask := func() {
		t := targets[asked]
		asked++
		go func() { results <- c.readOne(ctx, t, ns, key) }()
	}
	for asked < r {
		ask()
	}
	var got []readResult
	ok := 0
	for ok < r && len(got) < asked {
		res := <-results
		got = append(got, res)
		if res.err == nil {
			ok++
		} else if asked < len(targets) {
			ask()
		}
	}
	targets = targets[:asked]
	if ok < r {
		cancel()
		return replica.Record{}, false, fmt.Errorf("%w: %d of %d required replicas answered", api.ErrUnavailable, ok, r)
	}
	merged, found := merge(got)
	// The stragglers answer in the background; then replicas that were
	// missing the key or behind are repaired.
	go func() {
		defer cancel()
		for len(got) < len(targets) {
			got = append(got, <-results)
		}
		c.readRepair(ns, key, got)
	}()
	return merged, found, nil
}

func (c *Coordinator) readOne(ctx context.Context, node, ns string, key []byte) readResult {
	if node == c.self {
		rec, found, err := c.store.Read(ns, key)
		return readResult{node: node, rec: rec, found: found, err: err}
	}
	resp, err := c.cfg.Transport.Peer(node).Read(ctx, &nodepb.ReadRequest{Namespace: ns, Key: key})
	if err != nil {
		return readResult{node: node, err: err}
	}
	res := readResult{node: node, found: resp.Found}
	if resp.Found {
		res.err = replica.DecodeRecord(resp.Record, &res.rec)
	}
	return res
}

func merge(results []readResult) (replica.Record, bool) {
	var merged dvv.Set
	found := false
	for _, res := range results {
		if res.err == nil && res.found {
			merged = dvv.Sync(merged, res.rec.Set)
			found = true
		}
	}
	return replica.Record{Set: merged}, found
}

// readRepair sends the merge of every answer to the replicas whose copy
// differs from it.
func (c *Coordinator) readRepair(ns string, key []byte, results []readResult) {
	merged, found := merge(results)
	if !found {
		return
	}
	enc := replica.AppendRecord(nil, &merged)
	for _, res := range results {
		if res.err != nil {
			continue
		}
		if res.found && bytes.Equal(replica.AppendRecord(nil, &res.rec), enc) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		var err error
		if res.node == c.self {
			_, err = c.store.Merge(ns, key, merged.Set)
		} else {
			_, err = c.cfg.Transport.Peer(res.node).Replicate(ctx, &nodepb.ReplicateRequest{Namespace: ns, Key: key, Record: enc})
		}
		cancel()
		if err != nil {
			c.log.Debug("read repair", "node", res.node, "err", err)
		}
	}
}

// Read serves another node's read of this replica's record.
func (h Handler) Read(ctx context.Context, req *nodepb.ReadRequest) (*nodepb.ReadResponse, error) {
	rec, found, err := h.c.store.Read(req.Namespace, req.Key)
	if err != nil || !found {
		return &nodepb.ReadResponse{}, err
	}
	return &nodepb.ReadResponse{Found: true, Record: replica.AppendRecord(nil, &rec)}, nil
}

// Get implements api.KV.
func (c *Coordinator) Get(ctx context.Context, ns string, key []byte, ro api.ReadOptions) (api.Entry, error) {
	rec, found, err := c.read(ctx, ns, key, ro)
	if err != nil {
		return api.Entry{}, err
	}
	if !found {
		return api.Entry{}, api.ErrNotFound
	}
	p, ok := replica.Pick(rec.Live(c.store.Now()))
	if !ok {
		return api.Entry{}, api.ErrNotFound
	}
	return api.Entry{Value: p.Value, ExpireAt: p.ExpireAt}, nil
}

// GetVersions implements api.KV.
func (c *Coordinator) GetVersions(ctx context.Context, ns string, key []byte, ro api.ReadOptions) (api.Versions, error) {
	rec, _, err := c.read(ctx, ns, key, ro)
	if err != nil {
		return api.Versions{}, err
	}
	v := api.Versions{Context: rec.Set.Context().Encode()}
	live := rec.Live(c.store.Now())
	p, _ := replica.Pick(live)
	for i, s := range live {
		v.Values = append(v.Values, api.Entry{Value: s.Value, ExpireAt: s.ExpireAt})
		if s.Dot == p.Dot {
			v.Picked = i
		}
	}
	return v, nil
}
