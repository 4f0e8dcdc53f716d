package antientropy

import (
	"context"
	"fmt"
	"time"

	"github.com/pandodb/pando/internal/sabotage"
)

// Purge removes from disk, on every replica at once, the tombstones of
// tree id that every replica is known to hold, once their grace has
// passed: the tombstones of each bucket whose hash is still the one an
// exchange last found equal to every replica in peers, and has been since
// cutoff (Unix µs) or before, stamped at or before cutoff. peers must be all the tree's other replicas,
// reached through peer: with one missing, nothing is known and nothing is
// purged.
//
// The peers purge first, each only the records that are still exactly the
// ones agreed on; this replica then purges what all of them did. Purging
// on one replica alone would not last: the next exchange with a replica
// that still holds the tombstone would bring it back.
//
// A bucket is looked at again only when its hash changed since, or when a
// tombstone it kept back for its grace becomes old enough: a partition at
// rest costs a comparison of hashes.
//
// Why this is safe: the value a tombstone deletes can come back only from
// a replica that lacks the tombstone, or from a hint or a message sent
// before the delete, or from a read of a replica made before the
// tombstone reached it and merged elsewhere after the purge (an exchange's
// answer, a read repair). The first is excluded by the agreement (every
// replica held this very record); the second by the grace since the
// tombstone's stamp, which is at least the age at which hints are dropped
// and which replicas refuse records older than; the third by the grace
// since the agreement, which is longer than a request, and after which
// replicas refuse a read repair too.
func Purge(ctx context.Context, trees *Trees, local Local, peer func(string) Peer, id ID, peers []string, cutoff int64) (int, error) {
	if len(peers) == 0 {
		return 0, nil
	}
	hashes, err := trees.Hashes(id)
	if err != nil {
		return 0, err
	}
	t := trees.get(id)
	var todo []int
	t.mu.Lock()
	for b, h := range hashes {
		since, agreed := t.agreedAll(peers, b, h)
		if h == 0 || (!agreed || since > cutoff) && !sabotage.Is("purge-unagreed") {
			continue // not agreed with every replica, or not for the grace
		}
		if t.swept[b] == h && (t.sweepAt[b] == 0 || t.sweepAt[b] > cutoff) {
			continue // nothing has changed, no grace has ended
		}
		todo = append(todo, b)
	}
	t.mu.Unlock()
	purged := 0
	for _, b := range todo {
		if ctx.Err() != nil {
			return purged, ctx.Err()
		}
		n, next, err := purgeBucket(ctx, trees, local, peer, id, peers, b, hashes[b], cutoff)
		if err != nil {
			return purged, err
		}
		purged += n
		t.mu.Lock()
		if n > 0 {
			// The bucket changed; it is agreed with no one at its new
			// hash, so it is not looked at again before the next agreement.
			t.swept[b], t.sweepAt[b] = 0, 0
		} else {
			t.swept[b], t.sweepAt[b] = hashes[b], next
		}
		t.mu.Unlock()
	}
	return purged, nil
}

// purgeBucket purges the old enough tombstones of bucket b, agreed at hash
// h, from every replica. It returns how many it purged here and the stamp
// of the youngest tombstone it kept for its grace.
func purgeBucket(ctx context.Context, trees *Trees, local Local, peer func(string) Peer, id ID, peers []string, b int, h uint64, cutoff int64) (int, int64, error) {
	list, err := trees.Bucket(id, b)
	if err != nil {
		return 0, 0, err
	}
	var sum uint64
	for _, kh := range list {
		sum ^= kh.Hash
	}
	if sum != h {
		return 0, 0, nil // written since: the next round agrees again first
	}
	var keys [][]byte
	var hs []uint64
	var next int64
	for _, kh := range list {
		youngest, act, err := local.Settleable(id.NS, kh.Key, kh.Hash)
		switch {
		case err != nil:
			return 0, 0, err
		case !act:
		case youngest > cutoff:
			if next == 0 || youngest < next {
				next = youngest
			}
		default:
			keys, hs = append(keys, kh.Key), append(hs, kh.Hash)
		}
	}
	if len(keys) == 0 {
		return 0, next, nil
	}
	everywhere := make([]bool, len(keys))
	for i := range everywhere {
		everywhere[i] = true
	}
	for _, node := range peers {
		done, err := peer(node).SettleRecords(ctx, id.NS, keys, hs, cutoff)
		if err != nil {
			return 0, 0, fmt.Errorf("settling records of %s on %s: %w", id, node, err)
		}
		for i, ok := range done {
			everywhere[i] = everywhere[i] && ok
		}
	}
	n := 0
	for i, k := range keys {
		if !everywhere[i] {
			continue // changed on a replica: kept here, agreed on again later
		}
		ok, _, err := local.Settle(id.NS, k, hs[i], cutoff)
		if err != nil {
			return n, 0, err
		}
		if ok {
			n++
		}
	}
	return n, next, nil
}

// Cutoff is the stamp (Unix µs) at or before which a tombstone's grace has
// passed at now.
func Cutoff(now time.Time, grace time.Duration) int64 { return now.Add(-grace).UnixMicro() }
