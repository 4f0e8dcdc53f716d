package strong

import (
	"context"
	"errors"
	"fmt"

	"github.com/pandodb/pando/internal/raftgroup"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// Serve runs a request that a node holding no member of the group
// forwarded here (nodepb Strong): a command through Do, or a read through
// Get. Every outcome, refusals included, is in the response's status.
func (h *Host) Serve(ctx context.Context, req *nodepb.StrongRequest) *nodepb.StrongResponse {
	if len(req.GetCommand()) == 0 {
		v, version, found, err := h.Get(ctx, req.GetGroup(), req.GetKey())
		if err != nil {
			return failure(err, nodepb.StrongStatus_STRONG_NO_QUORUM)
		}
		return &nodepb.StrongResponse{Found: found, Value: v, Version: version}
	}
	cmd, err := DecodeCommand(req.GetCommand())
	if err != nil {
		return failure(err, nodepb.StrongStatus_STRONG_NOT_MEMBER)
	}
	res, err := h.Do(ctx, req.GetGroup(), cmd)
	if err != nil {
		return failure(err, nodepb.StrongStatus_STRONG_UNKNOWN)
	}
	return &nodepb.StrongResponse{Result: res.Encode(nil)}
}

// statuses pairs the host's errors with their statuses on the wire; an
// error is sent as the first it matches.
var statuses = []struct {
	err    error
	status nodepb.StrongStatus
}{
	{ErrNotMember, nodepb.StrongStatus_STRONG_NOT_MEMBER},
	{raftgroup.ErrStopped, nodepb.StrongStatus_STRONG_NOT_MEMBER},
	{ErrBadCommand, nodepb.StrongStatus_STRONG_NOT_MEMBER},
	{ErrNoQuorum, nodepb.StrongStatus_STRONG_NO_QUORUM},
	{ErrUnknown, nodepb.StrongStatus_STRONG_UNKNOWN},
	{ErrNotInteger, nodepb.StrongStatus_STRONG_NOT_INTEGER},
	{ErrOverflow, nodepb.StrongStatus_STRONG_OVERFLOW},
	{ErrBelowFloor, nodepb.StrongStatus_STRONG_BELOW_FLOOR},
	{storage.ErrNoSpace, nodepb.StrongStatus_STRONG_NO_SPACE},
	{storage.ErrDiskFailed, nodepb.StrongStatus_STRONG_DISK_FAILED},
}

// failure is the response for err; an error the host does not name is
// sent with otherwise, the status that claims nothing it cannot know.
func failure(err error, otherwise nodepb.StrongStatus) *nodepb.StrongResponse {
	status := otherwise
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			status = s.status
			break
		}
	}
	return &nodepb.StrongResponse{Status: status, Error: err.Error()}
}

// ResponseError is the error a forwarded request's response stands for:
// nil, or one of the host's errors, wrapped with the serving node's words.
func ResponseError(resp *nodepb.StrongResponse) error {
	var sentinel error
	switch resp.GetStatus() {
	case nodepb.StrongStatus_STRONG_OK:
		return nil
	case nodepb.StrongStatus_STRONG_NOT_MEMBER:
		sentinel = ErrNotMember
	case nodepb.StrongStatus_STRONG_NO_QUORUM:
		sentinel = ErrNoQuorum
	case nodepb.StrongStatus_STRONG_NOT_INTEGER:
		return ErrNotInteger
	case nodepb.StrongStatus_STRONG_OVERFLOW:
		return ErrOverflow
	case nodepb.StrongStatus_STRONG_BELOW_FLOOR:
		return ErrBelowFloor
	case nodepb.StrongStatus_STRONG_NO_SPACE:
		sentinel = storage.ErrNoSpace
	case nodepb.StrongStatus_STRONG_DISK_FAILED:
		sentinel = storage.ErrDiskFailed
	default: // STRONG_UNKNOWN, or a status this version does not know
		sentinel = ErrUnknown
	}
	return fmt.Errorf("%w: %s", sentinel, resp.GetError())
}
