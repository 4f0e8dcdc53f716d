package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/pandodb/pando/internal/antientropy"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// Anti-entropy's view of the cluster through the coordinator: which trees
// to compare with whom (AntiEntropyPlan), how to reach another replica
// (AntiEntropyPeer), this replica's side (AntiEntropyLocal), and the
// handlers that answer a peer's comparisons.

var errNoTrees = errors.New("anti-entropy is off on this node")

// AntiEntropyPlan lists every (namespace, partition) this node replicates
// with the other replicas that gossip believes up, and those it does not.
func (c *Coordinator) AntiEntropyPlan() []antientropy.Task {
	st := c.cfg.Meta.State()
	if !st.Initialized() {
		return nil
	}
	var tasks []antientropy.Task
	for _, name := range st.NamespaceNames() {
		ns := st.Namespaces[name]
		if ns.Model == metadata.Strong {
			continue // kept by the partitions' Raft groups, never in the store
		}
		n := st.Replicas(ns)
		for p := range st.Ring.Partitions() {
			pref := st.Ring.Preference(p, n)
			if !slices.Contains(pref, c.self) {
				continue
			}
			t := antientropy.Task{ID: antientropy.ID{NS: ns.StorageName(), Partition: p}}
			for _, r := range pref {
				switch {
				case r == c.self:
				case c.up(r):
					t.Peers = append(t.Peers, r)
				default:
					t.Away = append(t.Away, r)
				}
			}
			// A node that gains the partition in a move under way pulls it
			// by itself (the move's transfers), and is not compared with;
			// while it may lack a tombstone, none is purged.
			t.Away = append(t.Away, st.Pending(ns, p)...)
			if len(t.Peers)+len(t.Away) > 0 {
				tasks = append(tasks, t)
			}
		}
	}
	return tasks
}

// AntiEntropyLocal is this replica's side of exchanges.
func (c *Coordinator) AntiEntropyLocal() antientropy.Local { return aeLocal{c} }

type aeLocal struct{ c *Coordinator }

func (l aeLocal) Record(ns string, key []byte) ([]byte, error) {
	rec, found, err := l.c.store.Read(ns, key)
	if err != nil || !found {
		return nil, err
	}
	return replica.AppendRecord(nil, &rec), nil
}

func (l aeLocal) Merge(ns string, keys, records [][]byte) error {
	return l.c.store.MergeEncoded(ns, keys, records)
}

func (l aeLocal) Settle(ns string, key []byte, hash uint64, cutoff int64) (bool, int64, error) {
	return l.c.store.Settle(ns, key, func(rec []byte) bool { return antientropy.RecordHash(key, rec) == hash }, cutoff)
}

func (l aeLocal) Settleable(ns string, key []byte, hash uint64) (int64, bool, error) {
	return l.c.store.Settleable(ns, key, func(rec []byte) bool { return antientropy.RecordHash(key, rec) == hash })
}

// AntiEntropyPeer reaches another replica for exchanges.
func (c *Coordinator) AntiEntropyPeer(node string) antientropy.Peer { return aePeer{c, node} }

type aePeer struct {
	c    *Coordinator
	node string
}

func (p aePeer) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.c.cfg.Timeout)
}

func (p aePeer) Compare(ctx context.Context, id antientropy.ID, root uint64) (bool, *[antientropy.Segments]uint64, error) {
	ctx, cancel := p.call(ctx)
	defer cancel()
	resp, err := p.c.cfg.Transport.Peer(p.node).TreeCompare(ctx, &nodepb.TreeRequest{Namespace: id.NS, Partition: uint32(id.Partition), Root: root})
	if err != nil || resp.Equal {
		return resp.GetEqual(), nil, err
	}
	if len(resp.Hashes) != antientropy.Segments {
		return false, nil, fmt.Errorf("%s sent %d segment hashes", p.node, len(resp.Hashes))
	}
	var h [antientropy.Segments]uint64
	copy(h[:], resp.Hashes)
	return false, &h, nil
}

func (p aePeer) Hashes(ctx context.Context, id antientropy.ID, segments []int) ([]uint64, error) {
	if len(segments) == 0 {
		return nil, nil
	}
	ctx, cancel := p.call(ctx)
	defer cancel()
	req := &nodepb.TreeRequest{Namespace: id.NS, Partition: uint32(id.Partition)}
	for _, s := range segments {
		req.Segments = append(req.Segments, uint32(s))
	}
	resp, err := p.c.cfg.Transport.Peer(p.node).TreeCompare(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.Hashes, nil
}

func (p aePeer) Buckets(ctx context.Context, id antientropy.ID, asks []antientropy.Ask) ([]antientropy.Listing, error) {
	ctx, cancel := p.call(ctx)
	defer cancel()
	req := &nodepb.BucketsRequest{Namespace: id.NS, Partition: uint32(id.Partition)}
	for _, a := range asks {
		req.Buckets = append(req.Buckets, uint32(a.Bucket))
		req.Whole = append(req.Whole, a.Whole)
	}
	resp, err := p.c.cfg.Transport.Peer(p.node).TreeBuckets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]antientropy.Listing, len(resp.Buckets))
	for i, b := range resp.Buckets {
		if len(b.Hashes) > 0 && len(b.Keys) != len(b.Hashes) || len(b.Records) > 0 && len(b.Keys) != len(b.Records) {
			return nil, fmt.Errorf("%s sent %d keys, %d hashes and %d records", p.node, len(b.Keys), len(b.Hashes), len(b.Records))
		}
		for j, k := range b.Keys {
			if len(b.Records) > 0 {
				out[i].Records = append(out[i].Records, antientropy.Entry{Key: k, Record: b.Records[j]})
			} else {
				out[i].Hashes = append(out[i].Hashes, antientropy.KeyHash{Key: k, Hash: b.Hashes[j]})
			}
		}
	}
	return out, nil
}

func (p aePeer) SettleRecords(ctx context.Context, ns string, keys [][]byte, hashes []uint64, cutoff int64) ([]bool, error) {
	ctx, cancel := p.call(ctx)
	defer cancel()
	resp, err := p.c.cfg.Transport.Peer(p.node).Settle(ctx, &nodepb.SettleRequest{Namespace: ns, Keys: keys, Hashes: hashes, Cutoff: cutoff})
	if err != nil {
		return nil, err
	}
	if len(resp.Settled) != len(keys) {
		return nil, fmt.Errorf("%s answered %d of %d settlements", p.node, len(resp.Settled), len(keys))
	}
	return resp.Settled, nil
}

func (p aePeer) Read(ctx context.Context, ns string, keys [][]byte) ([][]byte, error) {
	ctx, cancel := p.call(ctx)
	defer cancel()
	req := &nodepb.ReadBatchRequest{Items: make([]*nodepb.ReadRequest, len(keys))}
	for i, k := range keys {
		req.Items[i] = &nodepb.ReadRequest{Namespace: ns, Key: k}
	}
	resp, err := p.c.cfg.Transport.Peer(p.node).ReadBatch(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i := range keys {
		if i < len(resp.Errors) && resp.Errors[i] != "" {
			return nil, errors.New(resp.Errors[i])
		}
		if i < len(resp.Items) && resp.Items[i].Found {
			out[i] = resp.Items[i].Record
		}
	}
	return out, nil
}

// TreeCompare serves a peer's comparison of one tree.
func (h Handler) TreeCompare(ctx context.Context, req *nodepb.TreeRequest) (*nodepb.TreeResponse, error) {
	if h.c.cfg.Trees == nil {
		return nil, errNoTrees
	}
	hashes, err := h.c.cfg.Trees.Hashes(antientropy.ID{NS: req.Namespace, Partition: int(req.Partition)})
	if err != nil {
		return nil, err
	}
	if len(req.Segments) > 0 {
		resp := &nodepb.TreeResponse{Hashes: make([]uint64, 0, len(req.Segments)*antientropy.SegmentBuckets)}
		for _, s := range req.Segments {
			if s >= antientropy.Segments {
				return nil, fmt.Errorf("segment %d out of range", s)
			}
			resp.Hashes = append(resp.Hashes, hashes[s*antientropy.SegmentBuckets:(s+1)*antientropy.SegmentBuckets]...)
		}
		return resp, nil
	}
	segs := antientropy.SegmentHashes(&hashes)
	if antientropy.Root(&segs) == req.Root {
		return &nodepb.TreeResponse{Equal: true}, nil
	}
	return &nodepb.TreeResponse{Hashes: segs[:]}, nil
}

// Settle serves a peer's settling of records it found every replica
// holding.
func (h Handler) Settle(ctx context.Context, req *nodepb.SettleRequest) (*nodepb.SettleResponse, error) {
	if len(req.Hashes) != len(req.Keys) {
		return nil, fmt.Errorf("%d keys and %d hashes", len(req.Keys), len(req.Hashes))
	}
	resp := &nodepb.SettleResponse{Settled: make([]bool, len(req.Keys))}
	for i, k := range req.Keys {
		ok, _, err := aeLocal{h.c}.Settle(req.Namespace, k, req.Hashes[i], req.Cutoff)
		if err != nil {
			return nil, err
		}
		resp.Settled[i] = ok
	}
	return resp, nil
}

// TreeBuckets serves a peer's listing of buckets.
func (h Handler) TreeBuckets(ctx context.Context, req *nodepb.BucketsRequest) (*nodepb.BucketsResponse, error) {
	if h.c.cfg.Trees == nil {
		return nil, errNoTrees
	}
	id := antientropy.ID{NS: req.Namespace, Partition: int(req.Partition)}
	resp := &nodepb.BucketsResponse{Buckets: make([]*nodepb.BucketKeys, len(req.Buckets))}
	for i, b := range req.Buckets {
		if b >= antientropy.Buckets {
			return nil, fmt.Errorf("bucket %d out of range", b)
		}
		list, err := h.c.cfg.Trees.Bucket(id, int(b))
		if err != nil {
			return nil, err
		}
		bk := &nodepb.BucketKeys{Keys: make([][]byte, len(list))}
		whole := i < len(req.Whole) && req.Whole[i]
		for j, kh := range list {
			bk.Keys[j] = kh.Key
			if !whole {
				bk.Hashes = append(bk.Hashes, kh.Hash)
				continue
			}
			rec, err := aeLocal{h.c}.Record(req.Namespace, kh.Key)
			if err != nil {
				return nil, err
			}
			bk.Records = append(bk.Records, rec)
		}
		resp.Buckets[i] = bk
	}
	return resp, nil
}
