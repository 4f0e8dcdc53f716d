package antientropy

import (
	"context"
	"fmt"

	"github.com/pandodb/pando/internal/sabotage"
)

// Peer is another replica, as an exchange reaches it.
type Peer interface {
	// Compare sends the caller's root; the peer answers whether its root
	// is the same, and if not its segment hashes.
	Compare(ctx context.Context, id ID, root uint64) (equal bool, segments *[Segments]uint64, err error)
	// Hashes returns the bucket hashes of some segments, SegmentBuckets
	// per segment, in order.
	Hashes(ctx context.Context, id ID, segments []int) ([]uint64, error)
	// Buckets lists the keys and record hashes of some buckets, or for a
	// bucket asked whole its keys and records.
	Buckets(ctx context.Context, id ID, asks []Ask) ([]Listing, error)
	// Read returns the peer's records of keys (nil for a key it lacks).
	Read(ctx context.Context, ns string, keys [][]byte) ([][]byte, error)
	// SettleRecords makes the peer settle the records of keys that still hash to
	// hashes (Local.Settle); it reports, per key, whether it changed one.
	SettleRecords(ctx context.Context, ns string, keys [][]byte, hashes []uint64, cutoff int64) ([]bool, error)
}

// Local is this replica's side of an exchange.
type Local interface {
	// Record returns this replica's encoded record of key, nil if none.
	Record(ns string, key []byte) ([]byte, error)
	// Merge folds a peer's encoded records of keys into this replica's,
	// durably, as one commit.
	Merge(ns string, keys, records [][]byte) error
	// Settle settles key's record if its RecordHash is still hash and no
	// sibling is stamped after cutoff (Unix µs): a record of tombstones is
	// purged from disk, any other loses the version vector entries of its
	// nodes' earlier epochs. It reports whether it changed the record and,
	// for one too young, the stamp of its youngest sibling.
	Settle(ns string, key []byte, hash uint64, cutoff int64) (done bool, youngest int64, err error)
	// Settleable reports whether settling key's record, if its RecordHash
	// is still hash, would change it, and the stamp of its youngest
	// sibling.
	Settleable(ns string, key []byte, hash uint64) (youngest int64, act bool, err error)
}

// Ask names a bucket to list; Whole asks for its records rather than
// their hashes, when the caller holds nothing in it.
type Ask struct {
	Bucket int
	Whole  bool
}

// Listing is a peer's answer for one bucket: the keys and record hashes of
// a listed bucket, or the records of a bucket asked whole.
type Listing struct {
	Hashes  []KeyHash
	Records []Entry
}

// Entry is a key and its encoded record.
type Entry struct {
	Key, Record []byte
}

// Result is what one exchange did.
type Result struct {
	// Equal: the trees were the same; nothing else was sent.
	Equal bool
	// Buckets is how many buckets differed.
	Buckets int
	// Pulled counts the records fetched and merged here.
	Pulled int
	// Bytes is the size of the records pulled, keys included.
	Bytes int
	// Overhead is what finding them cost, both ways: the bucket hashes,
	// the listings of keys and record hashes, the keys asked for.
	Overhead int
	// Stale counts buckets whose hashes differed while their records did
	// not: a tree out of date with its storage (corruption, or a missed
	// mark). Such a bucket is recomputed from storage.
	Stale int
	// Settled counts records settled here: tombstones purged, version
	// vectors shortened (a round's settling, not an exchange).
	Settled int
}

// allBuckets yields every bucket.
func allBuckets(yield func(int) bool) {
	for b := range Buckets {
		if !yield(b) {
			return
		}
	}
}

// bucketsPerCall bounds the buckets listed in one call.
const bucketsPerCall = 64

// Exchange compares tree id with peer's and repairs this side: records the
// peer holds that this replica lacks, or holds differently, are pulled and
// merged here. What the peer lacks it pulls in its own exchanges: every
// replica runs them, so each record that differs moves once into each
// replica that needs it, never twice from two replicas at once. budget,
// if set, is waited on for every batch of records moved.
//
// Buckets found equal are remembered as agreed with node (the peer's
// name), for the purge of tombstones.
func Exchange(ctx context.Context, trees *Trees, local Local, node string, peer Peer, id ID, budget *Budget) (Result, error) {
	var res Result
	if sabotage.Is("ae-skip-range") && id.Partition%4 == 0 {
		res.Equal = true // a quarter of the ring never compared
		return res, nil
	}
	ours, err := trees.Hashes(id)
	if err != nil {
		return res, err
	}
	segs := SegmentHashes(&ours)
	equal, theirSegs, err := peer.Compare(ctx, id, Root(&segs))
	if err != nil {
		return res, fmt.Errorf("comparing %s: %w", id, err)
	}
	if equal {
		res.Equal = true
		trees.agree(id, node, &ours, allBuckets)
		return res, nil
	}
	res.Overhead += 8 * Segments
	var walk []int
	for s := range segs {
		if segs[s] != theirSegs[s] {
			walk = append(walk, s)
		}
	}
	trees.agree(id, node, &ours, func(yield func(int) bool) {
		for s := range segs {
			if segs[s] == theirSegs[s] {
				for b := s * SegmentBuckets; b < (s+1)*SegmentBuckets; b++ {
					if !yield(b) {
						return
					}
				}
			}
		}
	})
	res.Overhead += (4 + 8*SegmentBuckets) * len(walk)
	hashes, err := peer.Hashes(ctx, id, walk)
	if err != nil {
		return res, fmt.Errorf("comparing %s: %w", id, err)
	}
	if len(hashes) != SegmentBuckets*len(walk) {
		return res, fmt.Errorf("comparing %s: %d bucket hashes for %d segments", id, len(hashes), len(walk))
	}
	var theirs [Buckets]uint64
	var differ []int
	for i, s := range walk {
		for j := range SegmentBuckets {
			b := s*SegmentBuckets + j
			theirs[b] = hashes[i*SegmentBuckets+j]
			if ours[b] != theirs[b] {
				differ = append(differ, b)
			}
		}
	}
	res.Buckets = len(differ)
	trees.agree(id, node, &ours, func(yield func(int) bool) {
		for _, s := range walk {
			for b := s * SegmentBuckets; b < (s+1)*SegmentBuckets; b++ {
				if ours[b] == theirs[b] && !yield(b) {
					return
				}
			}
		}
	})
	for len(differ) > 0 {
		chunk := differ[:min(len(differ), bucketsPerCall)]
		differ = differ[len(chunk):]
		// A bucket empty on one side needs no listing: one that is empty
		// here is asked for whole, one empty there is the peer's to pull.
		var asks []Ask
		for _, b := range chunk {
			if theirs[b] == 0 {
				// The peer pulls this one in its own exchanges, unless our
				// hash is wrong: a bucket that is empty here too.
				mine, err := trees.Bucket(id, b)
				if err != nil {
					return res, err
				}
				if len(mine) == 0 {
					res.Stale++
					trees.Recompute(id, b)
				}
				continue
			}
			asks = append(asks, Ask{Bucket: b, Whole: ours[b] == 0})
		}
		if len(asks) == 0 {
			continue
		}
		res.Overhead += 5 * len(asks)
		lists, err := peer.Buckets(ctx, id, asks)
		if err != nil {
			return res, fmt.Errorf("listing buckets of %s: %w", id, err)
		}
		if len(lists) != len(asks) {
			return res, fmt.Errorf("listing buckets of %s: %d answers for %d buckets", id, len(lists), len(asks))
		}
		// The chunk's records are merged in one commit, and the keys it
		// pulls read in one call: a whole partition copied into an empty
		// replica (a move) costs a commit per chunk of buckets, not per
		// bucket.
		var whole []Entry
		var pulls [][]byte
		for i, a := range asks {
			if a.Whole {
				if len(lists[i].Records) == 0 {
					res.Stale++ // their hash said records, their storage none
					trees.Recompute(id, a.Bucket)
				}
				whole = append(whole, lists[i].Records...)
				continue
			}
			for _, kh := range lists[i].Hashes {
				res.Overhead += len(kh.Key) + 8
			}
			mine, err := trees.Bucket(id, a.Bucket)
			if err != nil {
				return res, err
			}
			pull, ahead := diff(mine, lists[i].Hashes)
			if len(pull) == 0 && !ahead {
				// The records agree, the hashes did not: one side's tree is
				// stale. Recompute ours; the peer does the same when it
				// starts an exchange.
				res.Stale++
				trees.Recompute(id, a.Bucket)
				continue
			}
			pulls = append(pulls, pull...)
		}
		if err := mergeWhole(ctx, local, id, whole, budget, &res); err != nil {
			return res, err
		}
		if err := repair(ctx, local, peer, id.NS, pulls, budget, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// mergeWhole merges records of buckets this replica held nothing of.
func mergeWhole(ctx context.Context, local Local, id ID, recs []Entry, budget *Budget, res *Result) error {
	if len(recs) == 0 {
		return nil
	}
	size := 0
	for _, e := range recs {
		size += len(e.Key) + len(e.Record)
	}
	if err := budget.Wait(ctx, len(recs), size); err != nil {
		return err
	}
	keys, records := make([][]byte, len(recs)), make([][]byte, len(recs))
	for i, e := range recs {
		keys[i], records[i] = e.Key, e.Record
	}
	if err := local.Merge(id.NS, keys, records); err != nil {
		return err
	}
	res.Pulled += len(recs)
	res.Bytes += size
	return nil
}

// diff returns the keys whose records the peer holds and this replica
// does not, or holds differently (pull), and whether this replica holds
// keys the peer lacks (ahead): the peer's to pull.
func diff(mine, theirs []KeyHash) (pull [][]byte, ahead bool) {
	my := make(map[string]uint64, len(mine))
	for _, kh := range mine {
		my[string(kh.Key)] = kh.Hash
	}
	for _, kh := range theirs {
		h, ok := my[string(kh.Key)]
		if !ok || h != kh.Hash {
			pull = append(pull, kh.Key)
		}
		delete(my, string(kh.Key))
	}
	return pull, len(my) > 0
}

// repair pulls the peer's records of keys and merges them here.
func repair(ctx context.Context, local Local, peer Peer, ns string, pull [][]byte, budget *Budget, res *Result) error {
	if len(pull) > 0 {
		for _, k := range pull {
			res.Overhead += len(k)
		}
		recs, err := peer.Read(ctx, ns, pull)
		if err != nil {
			return fmt.Errorf("reading %d records from the peer: %w", len(pull), err)
		}
		var keys, records [][]byte
		size := 0
		for i, rec := range recs {
			if rec != nil {
				keys, records = append(keys, pull[i]), append(records, rec)
				size += len(pull[i]) + len(rec)
			}
		}
		if len(keys) == 0 {
			return nil
		}
		if err := budget.Wait(ctx, len(keys), size); err != nil {
			return err
		}
		if err := local.Merge(ns, keys, records); err != nil {
			return err
		}
		res.Pulled += len(keys)
		res.Bytes += size
	}
	return nil
}
