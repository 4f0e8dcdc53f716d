package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// readResult is one replica's answer to a read.
type readResult struct {
	node  string
	rec   replica.Record
	found bool
	// raw is rec as the replica encoded it (empty for a context-only read).
	raw []byte
	// ctx is the record's context, for a context-only read (rec is empty).
	ctx dvv.Context
	err error
}

// gathering is a read of one key from several replicas in progress.
type gathering struct {
	got     []readResult
	ok      int
	asked   int
	results chan readResult
}

// gather asks need of targets, in order, and one more each time one fails,
// as Cassandra does: a healthy read costs need calls, not one per replica.
// It returns once need have answered, or once every target asked has
// answered and none is left to ask. one must return by itself (its own
// deadline).
func gather(targets []string, need int, one func(node string) readResult) *gathering {
	g := &gathering{results: make(chan readResult, len(targets))}
	ask := func() {
		t := targets[g.asked]
		g.asked++
		go func() { g.results <- one(t) }()
	}
	for g.asked < need && g.asked < len(targets) {
		ask()
	}
	for g.ok < need && len(g.got) < g.asked {
		res := <-g.results
		g.got = append(g.got, res)
		if res.err == nil {
			g.ok++
		} else if g.asked < len(targets) {
			ask()
		}
	}
	return g
}

// rest waits for the answers still outstanding and returns every answer.
func (g *gathering) rest() []readResult {
	for len(g.got) < g.asked {
		g.got = append(g.got, <-g.results)
	}
	return g.got
}

// read gathers the key's record from R replicas and merges them. found is
// false when no replica that answered holds the key.
func (c *Coordinator) read(ctx context.Context, pl placement, key []byte, ro api.ReadOptions) (replica.Record, bool, error) {
	r, err := required(ro.R, c.cfg.DefaultR, pl.n)
	if err != nil {
		return replica.Record{}, false, err
	}
	ns := pl.store // the name its records are stored under
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
	start := c.store.NowMicro()
	g := gather(targets, r, func(node string) readResult { return c.readOne(ctx, node, ns, key) })
	if g.ok < r {
		cancel()
		return replica.Record{}, false, fmt.Errorf("%w: %d of %d required replicas answered", api.ErrUnavailable, g.ok, r)
	}
	merged, found := merge(g.got)
	// The stragglers answer in the background; then replicas that were
	// missing the key or behind are repaired, and now and then the replicas
	// that were not asked are read and repaired too.
	go func() {
		defer cancel()
		got := g.rest()
		if c.cfg.DisableReadRepair {
			return
		}
		got = append(got, c.readUnasked(ctx, ns, key, targets[g.asked:])...)
		c.readRepair(ns, key, got, start)
	}()
	return merged, found, nil
}

// readUnasked reads the replicas a read did not ask, for read repair: for
// a fraction of reads (ReadRepairChance), and only while fewer than
// maxBackgroundRepairs such reads run, so that it stays a bounded cost.
func (c *Coordinator) readUnasked(ctx context.Context, ns string, key []byte, unasked []string) []readResult {
	if len(unasked) == 0 || rand.Float64() >= c.cfg.ReadRepairChance {
		return nil
	}
	select {
	case c.bgRepairs <- struct{}{}:
		defer func() { <-c.bgRepairs }()
	default:
		c.repairsSkipped.Inc()
		return nil
	}
	out := make([]readResult, len(unasked))
	done := make(chan struct{})
	for i, node := range unasked {
		go func() {
			out[i] = c.readOne(ctx, node, ns, key)
			done <- struct{}{}
		}()
	}
	for range unasked {
		<-done
	}
	return out
}

// readOne reads one replica's whole record.
func (c *Coordinator) readOne(ctx context.Context, node, ns string, key []byte) readResult {
	if node == c.self {
		rec, found, err := c.store.Read(ns, key)
		res := readResult{node: node, rec: rec, found: found, err: err}
		if found {
			res.raw = replica.AppendRecord(nil, &rec)
		}
		return res
	}
	return c.readRemote(ctx, node, ns, key)
}

// readItem is one read queued for a peer.
type readItem struct {
	req  *nodepb.ReadRequest
	done chan<- readResult
}

// readerFor returns the batcher of reads to peer.
func (c *Coordinator) readerFor(peer string) *batcher[readItem] {
	c.repMu.Lock()
	defer c.repMu.Unlock()
	b, ok := c.readers[peer]
	if !ok {
		b = &batcher[readItem]{
			maxItems: maxBatchItems, maxBytes: maxBatchBytes,
			size:  func(it readItem) int { return len(it.req.Key) + len(it.req.Namespace) },
			flush: func(batch []readItem) { c.flushReads(peer, batch) },
		}
		c.readers[peer] = b
	}
	return b
}

// readRemote reads another replica's record of key, batched with the other
// reads of that peer, so that under load one call carries many. key must
// not be reused by the caller.
func (c *Coordinator) readRemote(ctx context.Context, node, ns string, key []byte) readResult {
	return c.readRemoteAs(ctx, node, &nodepb.ReadRequest{Namespace: ns, Key: key})
}

// readContext reads another replica's causal context of key (readResult's
// ctx), not its record.
func (c *Coordinator) readContext(ctx context.Context, node, ns string, key []byte) readResult {
	return c.readRemoteAs(ctx, node, &nodepb.ReadRequest{Namespace: ns, Key: key, ContextOnly: true})
}

func (c *Coordinator) readRemoteAs(ctx context.Context, node string, req *nodepb.ReadRequest) readResult {
	done := make(chan readResult, 1)
	c.readerFor(node).add(readItem{req: req, done: done})
	select {
	case res := <-done:
		return res
	case <-ctx.Done():
		return readResult{node: node, err: ctx.Err()}
	}
}

// flushReads sends one batch of reads to peer and answers each.
func (c *Coordinator) flushReads(peer string, batch []readItem) {
	req := &nodepb.ReadBatchRequest{Items: make([]*nodepb.ReadRequest, len(batch))}
	for i, it := range batch {
		req.Items[i] = it.req
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	resp, err := c.cfg.Transport.Peer(peer).ReadBatch(ctx, req)
	for i, it := range batch {
		res := readResult{node: peer, err: err}
		switch {
		case err != nil:
		case i >= len(resp.Items) || i >= len(resp.Errors):
			res.err = errors.New("coordinator: short answer to a batch of reads")
		case resp.Errors[i] != "":
			res.err = errors.New(resp.Errors[i])
		default:
			res = decodeRead(peer, resp.Items[i])
		}
		it.done <- res
	}
}

func decodeRead(peer string, r *nodepb.ReadResponse) readResult {
	res := readResult{node: peer, found: r.Found}
	if !r.Found {
		return res
	}
	if r.Context != nil {
		res.ctx, res.err = dvv.DecodeContext(r.Context)
		return res
	}
	res.raw = r.Record
	res.err = replica.DecodeRecord(r.Record, &res.rec)
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
// differs from it. The answers are what the replicas held after start (Unix
// µs); a repair is a record that set out then, refused as stale when that
// is longer ago than the tombstone grace.
func (c *Coordinator) readRepair(ns string, key []byte, results []readResult, start int64) {
	merged, found := merge(results)
	if !found {
		return
	}
	probe := &nodepb.ReplicateRequest{SentMicros: start}
	if c.stale(probe) != nil {
		return
	}
	enc := replica.AppendRecord(nil, &merged)
	for _, res := range results {
		if res.err != nil || (res.found && bytes.Equal(res.raw, enc)) {
			continue
		}
		c.readRepairs.Inc()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		var err error
		if res.node == c.self {
			_, err = c.store.Merge(ns, key, merged.Set)
		} else {
			_, err = c.cfg.Transport.Peer(res.node).Replicate(ctx, &nodepb.ReplicateRequest{Namespace: ns, Key: key, Record: enc, SentMicros: start})
		}
		cancel()
		if err != nil {
			c.log.Debug("read repair", "node", res.node, "err", err)
		}
	}
}

// serveRead answers one read of this replica's copy.
func (c *Coordinator) serveRead(req *nodepb.ReadRequest) (*nodepb.ReadResponse, error) {
	rec, found, err := c.store.Read(req.Namespace, req.Key)
	if err != nil || !found {
		return &nodepb.ReadResponse{}, err
	}
	if req.ContextOnly {
		return &nodepb.ReadResponse{Found: true, Context: rec.Set.Context().Encode()}, nil
	}
	return &nodepb.ReadResponse{Found: true, Record: replica.AppendRecord(nil, &rec)}, nil
}

// Read serves another node's read of this replica's record.
func (h Handler) Read(ctx context.Context, req *nodepb.ReadRequest) (*nodepb.ReadResponse, error) {
	return h.c.serveRead(req)
}

// ReadBatch serves another node's batch of reads.
func (h Handler) ReadBatch(ctx context.Context, req *nodepb.ReadBatchRequest) (*nodepb.ReadBatchResponse, error) {
	resp := &nodepb.ReadBatchResponse{Items: make([]*nodepb.ReadResponse, len(req.Items)), Errors: make([]string, len(req.Items))}
	for i, it := range req.Items {
		r, err := h.c.serveRead(it)
		if err != nil {
			resp.Errors[i] = err.Error()
		}
		resp.Items[i] = r
	}
	return resp, nil
}

// Get implements api.KV.
func (c *Coordinator) Get(ctx context.Context, ns string, key []byte, ro api.ReadOptions) (api.Entry, error) {
	_, pl, err := c.placeSynced(ctx, ns, key)
	if err != nil {
		return api.Entry{}, err
	}
	if pl.ns.Model == metadata.Strong {
		e, found, err := c.strongRead(ctx, pl, key)
		if err == nil && !found {
			err = api.ErrNotFound
		}
		return e, err
	}
	if typed(pl.ns) {
		return api.Entry{}, wrongType(pl.ns)
	}
	rec, found, err := c.read(ctx, pl, key, ro)
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
	_, pl, err := c.placeSynced(ctx, ns, key)
	if err != nil {
		return api.Versions{}, err
	}
	if pl.ns.Model == metadata.Strong { // one value, and no context: writes are ordered
		e, found, err := c.strongRead(ctx, pl, key)
		if err != nil || !found {
			return api.Versions{}, err
		}
		return api.Versions{Values: []api.Entry{e}}, nil
	}
	if typed(pl.ns) {
		return api.Versions{}, wrongType(pl.ns)
	}
	rec, _, err := c.read(ctx, pl, key, ro)
	if err != nil {
		return api.Versions{}, err
	}
	v := api.Versions{Context: rec.Set.Context().String()}
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
