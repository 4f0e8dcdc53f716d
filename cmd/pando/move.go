package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pandodb/pando/internal/api/httpapi"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/spf13/cobra"
)

// Ownership changes: stage (join, leave, replace), plan, commit, wait.

func postJSON(method, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	_, _, err = call(method, path, http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(b), out)
	return err
}

// stage stages one change.
func stage(w io.Writer, c metadata.Change) error {
	if err := postJSON("POST", "/v1/cluster/staged", c, nil); err != nil {
		return err
	}
	fmt.Fprintf(w, "staged: %s\n", c)
	fmt.Fprintln(w, `"pando cluster plan" shows what moves; "pando cluster commit" applies the staged changes`)
	return nil
}

func newLeaveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "leave NODE",
		Short: "Stage a decommission: NODE hands all of its partitions to the others",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return stage(cmd.OutOrStdout(), metadata.Change{Kind: metadata.ChangeLeave, Node: args[0]})
		},
	}
}

func newReplaceCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "replace DEAD NEW",
		Short: "Stage a replacement: NEW (admitted if a candidate) takes exactly DEAD's partitions",
		Long: `Stage a replacement: NEW takes exactly the partitions DEAD owns, copied from
their other replicas, and nothing else moves. NEW must be up (a candidate
started with --join is admitted first) and own nothing. Once the move is
done, DEAD owns nothing and "pando cluster remove DEAD" removes it for good.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := admit(cmd.OutOrStdout(), args[1]); err != nil {
				return err
			}
			return stage(cmd.OutOrStdout(), metadata.Change{Kind: metadata.ChangeReplace, Node: args[0], With: args[1]})
		},
	}
}

// admit makes a candidate a member; a member already is fine.
func admit(w io.Writer, node string) error {
	body, _ := json.Marshal(map[string]string{"node": node})
	resp, _, err := call("POST", "/v1/cluster/members", http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(body), nil)
	switch {
	case err == nil:
		fmt.Fprintf(w, "admitted %s as a member\n", node)
		return nil
	case resp != nil && resp.StatusCode == http.StatusConflict:
		return nil // a member already
	}
	return err
}

func newClearCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "clear",
		Short: "Drop the staged changes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := call("DELETE", "/v1/cluster/staged", nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "no change is staged")
			return nil
		},
	}
}

func newPlanCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what committing the staged changes would move, before anything does",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var p httpapi.Plan
			_, raw, err := call("GET", "/v1/cluster/plan", nil, nil, &p)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				_, err := w.Write(append(raw, '\n'))
				return err
			}
			printPlan(w, p)
			if p.Error != "" {
				return errors.New(p.Error)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

func printPlan(w io.Writer, p httpapi.Plan) {
	if len(p.Staged) == 0 {
		fmt.Fprintln(w, "no change is staged")
		return
	}
	fmt.Fprintln(w, "staged:")
	for _, c := range p.Staged {
		fmt.Fprintf(w, "  %s\n", c)
	}
	if p.Next == nil {
		return
	}
	nodes := make([]string, 0, len(p.Next))
	for n := range p.Owners {
		nodes = append(nodes, n)
	}
	for n := range p.Next {
		if !slices.Contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	fmt.Fprintf(w, "%-16s %6s %6s %9s\n", "NODE", "NOW", "AFTER", "RECEIVES")
	for _, n := range nodes {
		gets := 0
		for _, t := range p.Transfers {
			if t.To == n {
				gets++
			}
		}
		fmt.Fprintf(w, "%-16s %6d %6d %9d\n", n, p.Owners[n], p.Next[n], gets)
	}
	eta := "unthrottled"
	if p.Throttle > 0 {
		eta = fmt.Sprintf("about %s at %s/s per node", (time.Duration(p.Seconds) * time.Second).String(), formatBytes(p.Throttle))
	}
	fmt.Fprintf(w, "%d partition copies move, about %s (%s)\n", len(p.Transfers), formatBytes(p.Bytes), eta)
	if p.Groups > 0 {
		fmt.Fprintf(w, "%d raft groups of strong partitions change members (new replicas join as learners, catch up and are promoted; leavers are removed)\n", p.Groups)
	}
}

func newCommitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "commit",
		Short: "Apply the staged changes: data starts moving to the new owners",
		Long: `Commit the staged changes through the metadata log. From then on writes reach
the replicas of both the current and the next ring; each node that gains a
partition copies it from its current replicas, and each strong partition's
Raft group takes in its new replicas and lets go of the old; the ring
switches when every copy and every group is done. "pando cluster wait"
follows the move to its end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var st httpapi.MoveStatus
			if _, _, err := call("POST", "/v1/cluster/commit", nil, nil, &st); err != nil {
				return err
			}
			if st.Move == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "committed: move %d had nothing to copy and is done\n", st.LastMove)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "committed move %d: %d partition copies to make (pando cluster wait follows it)\n", st.Move, st.Transfers)
			return nil
		},
	}
}

func newWaitCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait",
		Short: "Wait until the committed move has finished, printing its progress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			start := time.Now()
			deadline := start.Add(timeout)
			var last string
			firstDone := -1 // copies done when this command first looked
			for {
				var st httpapi.MoveStatus
				if _, _, err := call("GET", "/v1/cluster/move", nil, nil, &st); err != nil {
					return err
				}
				if st.Move == 0 {
					fmt.Fprintf(w, "no move under way; the last one (%d) has finished\n", st.LastMove)
					return nil
				}
				if firstDone < 0 {
					firstDone = st.Transfers - st.Remaining
				}
				// A line each time a copy finishes or what it waits for changes.
				if key := progressLine(st, ""); key != last {
					fmt.Fprintln(w, progressLine(st, eta(st, firstDone, time.Since(start))))
					last = key
				}
				if timeout > 0 && time.Now().After(deadline) {
					return fmt.Errorf("move %d still under way after %v: %d of %d copies left", st.Move, timeout, st.Remaining, st.Transfers)
				}
				time.Sleep(500 * time.Millisecond)
			}
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait as long as it takes)")
	return cmd
}

// eta estimates the time left from the rate of copies done since the
// command started ("" until one is).
func eta(st httpapi.MoveStatus, firstDone int, elapsed time.Duration) string {
	done := st.Transfers - st.Remaining - firstDone
	if done <= 0 || st.Remaining == 0 {
		return ""
	}
	left := time.Duration(float64(elapsed) / float64(done) * float64(st.Remaining))
	return "about " + left.Round(time.Second).String() + " left"
}

func progressLine(st httpapi.MoveStatus, eta string) string {
	done := st.Transfers - st.Remaining
	const width = 30
	filled := 0
	if st.Transfers > 0 {
		filled = done * width / st.Transfers
	}
	bar := "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
	line := fmt.Sprintf("move %d %s %d/%d copies", st.Move, bar, done, st.Transfers)
	if eta != "" {
		line += ", " + eta
	}
	if st.Node.Waiting != "" {
		line += "; waiting for " + st.Node.Waiting
	}
	if st.Node.Err != "" {
		line += "; retrying after: " + st.Node.Err
	}
	return line
}

func newThrottleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "throttle RATE",
		Short: "Bound the bytes per second each node copies in moves (0: no bound), also while one runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rate, err := parseSize(args[0])
			if err != nil {
				return err
			}
			if err := postJSON("PUT", "/v1/cluster/throttle", httpapi.ThrottleChange{BytesPerSecond: &rate}, nil); err != nil {
				return err
			}
			if rate == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "moves copy without a bound")
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "each node copies at most %s/s in moves\n", formatBytes(rate))
			}
			return nil
		},
	}
}
