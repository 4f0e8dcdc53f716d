package strong

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pandodb/pando/internal/raftgroup"
	"github.com/pandodb/pando/internal/transport/nodepb"
)

// TestForwardedOutcomesKeepTheirMeaning: an outcome that crosses the node
// protocol is the same outcome on the other side; above all, nothing the
// serving node did not name comes back as "nothing was done" for a command.
func TestForwardedOutcomesKeepTheirMeaning(t *testing.T) {
	cases := []struct {
		err       error
		otherwise nodepb.StrongStatus
		want      error
	}{
		{fmt.Errorf("%w (group 7)", ErrNotMember), nodepb.StrongStatus_STRONG_UNKNOWN, ErrNotMember},
		{raftgroup.ErrStopped, nodepb.StrongStatus_STRONG_UNKNOWN, ErrNotMember},
		{fmt.Errorf("%w (group 7): no leader", ErrNoQuorum), nodepb.StrongStatus_STRONG_UNKNOWN, ErrNoQuorum},
		{fmt.Errorf("%w (group 7): timeout", ErrUnknown), nodepb.StrongStatus_STRONG_UNKNOWN, ErrUnknown},
		{fmt.Errorf("apply: %w", ErrNotInteger), nodepb.StrongStatus_STRONG_UNKNOWN, ErrNotInteger},
		{ErrOverflow, nodepb.StrongStatus_STRONG_UNKNOWN, ErrOverflow},
		{ErrBelowFloor, nodepb.StrongStatus_STRONG_UNKNOWN, ErrBelowFloor},
		{errors.New("disk on fire"), nodepb.StrongStatus_STRONG_UNKNOWN, ErrUnknown},
		{errors.New("disk on fire"), nodepb.StrongStatus_STRONG_NO_QUORUM, ErrNoQuorum},
	}
	for _, c := range cases {
		resp := failure(c.err, c.otherwise)
		got := ResponseError(resp)
		if !errors.Is(got, c.want) {
			t.Errorf("%v sent as %v came back as %v, want %v", c.err, resp.GetStatus(), got, c.want)
		}
	}
	if err := ResponseError(&nodepb.StrongResponse{}); err != nil {
		t.Errorf("STRONG_OK came back as %v", err)
	}
	if err := ResponseError(&nodepb.StrongResponse{Status: 99, Error: "news"}); !errors.Is(err, ErrUnknown) {
		t.Errorf("a status from a newer version came back as %v, want unknown", err)
	}
}
