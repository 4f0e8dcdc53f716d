package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

// newClusterCmd is `pando cluster`: deciding who is a member.
func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Decide who is a member: admit candidate nodes, remove dead members",
		Long: `A node started with --join against a running cluster is a candidate: it
gossips with the cluster, but it is not a member, holds nothing and serves
nothing until an operator admits it with "pando cluster join". "pando status"
lists candidates.`,
	}
	join := &cobra.Command{
		Use:   "join NODE",
		Short: "Admit a candidate node (up in gossip, started with --join) as a member",
		Long: `Admit a candidate node as a member of the cluster. It joins the metadata
group as a learner and votes when the group needs a voter (the group keeps
three voters from three members, five from five). It owns no partitions
yet: partitions stay with the nodes that own them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, _ := json.Marshal(map[string]string{"node": args[0]})
			h := http.Header{"Content-Type": {"application/json"}}
			if _, _, err := call("POST", "/v1/cluster/members", h, bytes.NewReader(body), nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "admitted %s as a member\n", args[0])
			return nil
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
	cmd.AddCommand(join, remove)
	return cmd
}
