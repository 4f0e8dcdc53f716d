package coordinator

import (
	"context"
	"errors"
	"fmt"

	"github.com/pandodb/pando/internal/strong"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// strongTarget runs commands and linearizable reads on one strong
// partition's Raft group: through this node's member when the node is one
// of the partition's replicas, or else forwarded to a replica's member, so
// that a client may send any key to any node.
type strongTarget struct {
	c     *Coordinator
	pl    placement
	group uint64
	local bool
}

// Do applies cmd through the group's log (strong.Host.Do).
func (t strongTarget) Do(ctx context.Context, cmd strong.Command) (strong.Result, error) {
	var refused error
	if t.local {
		res, err := t.c.cfg.Strong.Do(ctx, t.group, cmd)
		if !isDiskErr(err) {
			return res, err
		}
		// This node's disk refuses writes and proposed nothing: the
		// group's other members may take it.
		refused = err
	}
	resp, err := t.forward(ctx, &nodepb.StrongRequest{Group: t.group, Command: cmd.Encode(nil)}, idempotent(cmd), refused)
	if err != nil {
		return nil, err
	}
	res, err := strong.DecodeResult(resp.GetResult())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", strong.ErrUnknown, err)
	}
	return res, nil
}

// Get reads key linearizably (strong.Host.Get).
func (t strongTarget) Get(ctx context.Context, key []byte) ([]byte, uint64, bool, error) {
	if t.local {
		return t.c.cfg.Strong.Get(ctx, t.group, key)
	}
	resp, err := t.forward(ctx, &nodepb.StrongRequest{Group: t.group, Key: key}, true, nil)
	if err != nil {
		return nil, 0, false, err
	}
	return resp.GetValue(), resp.GetVersion(), resp.GetFound(), nil
}

// idempotent reports whether cmd takes effect once however often it is
// sent: an IncrBy with a request id (the group answers a repeat with the
// first answer).
func idempotent(cmd strong.Command) bool {
	ib, ok := cmd.(strong.IncrBy)
	return ok && ib.ID != ""
}

// forward sends req to the partition's replicas that are up, the first
// (its preferred leader) first, until one answers for the group. One whose
// connection is known not to be up is skipped unsent (a definite "not
// done" from it). A replica
// that holds no member yet, or whose member reaches no leader, did nothing,
// so the next is tried. A command whose replica does not answer may have
// been proposed: its outcome is unknown, unless it may be sent again
// (retry: a read, or a command the group applies once however often it
// comes), which is then tried on the next replica; once one was unknown,
// the outcome stays unknown unless a replica answers. A replica whose disk
// refuses writes proposed nothing: the next is tried too; refused is this
// node's own such refusal, the answer if no other replica gives one.
func (t strongTarget) forward(ctx context.Context, req *nodepb.StrongRequest, retry bool, refused error) (*nodepb.StrongResponse, error) {
	last := fmt.Errorf("%w: no replica of the partition is reachable from this node", strong.ErrNoQuorum)
	if refused != nil {
		last = refused // this node's own disk refusal, unless another answers
	}
	var unknown error
	for i, node := range t.c.candidates(t.pl.pref) {
		if node == t.c.self {
			continue // a local member that refused for its disk
		}
		if i > 0 && ctx.Err() != nil {
			// The time is up (a replica waited it out for a leader): a
			// call now would fail unsent, and must not turn that definite
			// answer into an unknown one.
			break
		}
		if r, ok := t.c.cfg.Transport.(transport.Readiness); ok && r.Unready(node) {
			// Not sent: a definite "not done" from this replica, where a
			// call would have waited on the connection and timed out as
			// "unknown" (a replica restarting, say).
			last = fmt.Errorf("%w: replica %s is not connected; nothing was sent to it", strong.ErrNoQuorum, node)
			continue
		}
		resp, err := t.c.cfg.Transport.Peer(node).Strong(ctx, req)
		if err != nil {
			if req.GetCommand() != nil {
				unknown = fmt.Errorf("%w: forwarded to replica %s, which did not answer: %w", strong.ErrUnknown, node, err)
				if !retry {
					return nil, unknown
				}
			}
			last = fmt.Errorf("%w: replica %s did not answer: %w", strong.ErrNoQuorum, node, err)
			continue
		}
		err = strong.ResponseError(resp)
		if errors.Is(err, strong.ErrNotMember) || errors.Is(err, strong.ErrNoQuorum) || isDiskErr(err) {
			last = fmt.Errorf("%w (replica %s)", err, node)
			continue
		}
		return resp, err
	}
	if unknown != nil {
		return nil, unknown
	}
	if isDiskErr(last) {
		return nil, last // every replica that answered refused for its disk
	}
	if errors.Is(last, strong.ErrNotMember) {
		// No replica runs the group yet (the namespace was just made):
		// nothing was done, as when no leader is reachable.
		return nil, fmt.Errorf("%w: %w", strong.ErrNoQuorum, last)
	}
	return nil, last
}
