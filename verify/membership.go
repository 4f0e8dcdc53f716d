package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The membership nemesis changes who owns what while the workload runs.
// Two spare nodes, members owning nothing, join together whenever both
// are idle (some partitions then get two new replicas of three, which only
// the move's copies fill); with one idle, it joins or replaces an owner
// (which becomes idle); with none, one or two owners leave. Each change is
// committed as a move, and the fault heals when the move has finished.
// Every write acknowledged before or during a move must survive the switch
// of ring.

// ownerInfo is who owns partitions now, from a node's status.
func (c *cluster) owners(ctx context.Context) (owning, idle []string, err error) {
	resp, err := c.call(ctx, c.nodes[0], "GET", "/v1/status", nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var st struct {
		Nodes []struct {
			ID         string `json:"id"`
			Member     bool   `json:"member"`
			Removed    bool   `json:"removed"`
			Partitions int    `json:"partitions"`
		} `json:"nodes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, nil, err
	}
	for _, n := range st.Nodes {
		switch {
		case !n.Member || n.Removed:
		case n.Partitions > 0:
			owning = append(owning, n.ID)
		default:
			idle = append(idle, n.ID)
		}
	}
	return owning, idle, nil
}

// adminCall sends an admin request to node 1 and fails on any status but
// 200.
func (c *cluster) adminCall(ctx context.Context, method, path, body string) ([]byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	resp, err := c.call(ctx, c.nodes[0], method, path, rd)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("%s %s: %s %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// changeMembership stages and commits one ownership change chosen by pick,
// and describes it.
func (c *cluster) changeMembership(ctx context.Context, pick int) (string, error) {
	owning, idle, err := c.owners(ctx)
	if err != nil {
		return "", err
	}
	slices.Sort(owning)
	slices.Sort(idle)
	var changes []string
	join := func(n string) string { return fmt.Sprintf(`{"kind":"join","node":%q}`, n) }
	leave := func(n string) string { return fmt.Sprintf(`{"kind":"leave","node":%q}`, n) }
	switch {
	case len(idle) >= 2:
		// Both spares at once: some partitions get two new replicas of
		// three, which only the move's copies can fill.
		changes = append(changes, join(idle[0]), join(idle[1]))
	case len(idle) == 1 && pick%2 == 0:
		changes = append(changes, join(idle[0]))
	case len(idle) == 1:
		changes = append(changes, fmt.Sprintf(`{"kind":"replace","node":%q,"with":%q}`, owning[pick%len(owning)], idle[0]))
	case len(owning) >= 5 && pick%2 == 0:
		changes = append(changes, leave(owning[pick%len(owning)]), leave(owning[(pick+1)%len(owning)]))
	case len(owning) > 3:
		changes = append(changes, leave(owning[pick%len(owning)]))
	default:
		return "", fmt.Errorf("nothing to change: owners %v, idle %v", owning, idle)
	}
	change := strings.Join(changes, " ")
	if _, err := c.adminCall(ctx, "DELETE", "/v1/cluster/staged", ""); err != nil {
		return change, err
	}
	for _, ch := range changes {
		if _, err := c.adminCall(ctx, "POST", "/v1/cluster/staged", ch); err != nil {
			return change, err
		}
	}
	_, err = c.adminCall(ctx, "POST", "/v1/cluster/commit", "")
	return change, err
}

// waitMoved waits until no move is under way, at most within.
func (c *cluster) waitMoved(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		b, err := c.adminCall(ctx, "GET", "/v1/cluster/move", "")
		if err == nil {
			var st struct {
				Move      uint64 `json:"move"`
				Remaining int    `json:"remaining"`
			}
			if err = json.Unmarshal(b, &st); err == nil && st.Move == 0 {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("move %d: %d copies left", st.Move, st.Remaining)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the move did not finish within %s: %v", within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startSpares starts the spare nodes and admits them as members owning
// nothing.
func (c *cluster) startSpares(ctx context.Context, spares []*node) error {
	for _, spare := range spares {
		if err := c.start(spare); err != nil {
			return err
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, err := c.adminCall(ctx, "POST", "/v1/cluster/members", fmt.Sprintf(`{"node":%q}`, spare.id))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("admitting the spare %s: %v", spare.id, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return c.waitReady(ctx, spares, 60*time.Second)
}
