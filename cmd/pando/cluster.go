package main

import (
	"fmt"
	"net/url"

	"github.com/pandodb/pando/internal/metadata"

	"github.com/spf13/cobra"
)

// newClusterCmd is `pando cluster`: deciding who is a member.
func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Decide who is a member and who owns what: join, leave, replace, plan, commit, wait",
		Long: `A node started with --join against a running cluster is a candidate: it
gossips with the cluster, but it is not a member, holds nothing and serves
nothing until an operator admits it with "pando cluster join". "pando status"
lists candidates.

Ownership changes are staged (join, leave, replace), shown before anything
moves (plan), applied through the metadata log (commit), and followed to
their end (wait). During a move every write reaches both the current and
the next owners, and the ring switches only once the new owners hold the
data.`,
	}
	join := &cobra.Command{
		Use:   "join NODE",
		Short: "Admit a candidate node (up in gossip, started with --join) and stage its share of the partitions",
		Long: `Admit a candidate node as a member of the cluster, and stage its share of
the partitions. Admitted, it joins the metadata group as a learner and votes
when the group needs a voter (the group keeps three voters from three
members, five from five), and serves requests. It owns partitions once the
staged changes are committed ("pando cluster plan", "pando cluster commit")
and the move is done ("pando cluster wait").`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := admit(cmd.OutOrStdout(), args[0]); err != nil {
				return err
			}
			return stage(cmd.OutOrStdout(), metadata.Change{Kind: metadata.ChangeJoin, Node: args[0]})
		},
	}
	remove := &cobra.Command{
		Use:   "remove NODE",
		Short: "Remove a member that is down and owns no partitions, for good",
		Long: `Remove a member for good: it must be down and own no partitions. It leaves
the metadata group (a voter is first replaced by a learner that is up, when
there is one), and neither its node id nor its Raft id is admitted again; a
machine that comes back joins afresh, with an empty data directory.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := call("DELETE", "/v1/cluster/members/"+url.PathEscape(args[0]), nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s from the cluster for good\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(join, remove, newLeaveCmd(), newReplaceCmd(), newClearCmd(), newPlanCmd(), newCommitCmd(), newWaitCmd(), newThrottleCmd())
	return cmd
}
