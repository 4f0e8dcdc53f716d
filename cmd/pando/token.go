package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pandodb/pando/internal/api/httpapi"
	"github.com/pandodb/pando/internal/auth"
)

// newTokenCmd is `pando token`: bearer tokens for programs.
func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make, list and revoke bearer tokens (a user's credentials for programs)",
		Long: `A bearer token stands for its user: HTTP clients send it as
"Authorization: Bearer TOKEN" (the CLI sends PANDO_TOKEN), and Redis clients
as the user's password (AUTH ann TOKEN). It is shown once, when made; the
cluster keeps only its SHA-256. It may expire (--ttl), and is revoked with
"pando token revoke ID" or with its user.`,
	}
	var user, ttl string
	create := &cobra.Command{
		Use:   "create",
		Short: "Make a token of the logged-in user (or, as an admin, of --user)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			body, _ := json.Marshal(httpapi.TokenRequest{User: user, TTL: ttl})
			var out httpapi.NewToken
			if _, _, err := call("POST", "/v1/tokens", http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(body), &out); err != nil {
				return err
			}
			expires := "never expires"
			if !out.Record.Expires.IsZero() {
				expires = "expires " + out.Record.Expires.Format("2006-01-02 15:04 MST")
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s of %s, %s; shown this once:\n", out.Record.ID, out.Record.User, expires)
			fmt.Fprintln(cmd.OutOrStdout(), out.Token)
			return nil
		},
	}
	create.Flags().StringVar(&user, "user", "", "whose token (default: the logged-in user; another's needs admin)")
	create.Flags().StringVar(&ttl, "ttl", "", "how long it lasts, as 720h (default: until revoked)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List your tokens (an admin's: every user's), never their secrets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var tokens []auth.Token
			if _, _, err := call("GET", "/v1/tokens", nil, nil, &tokens); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSER\tCREATED\tEXPIRES")
			for _, t := range tokens {
				exp := "never"
				if !t.Expires.IsZero() {
					exp = t.Expires.Format("2006-01-02 15:04 MST")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.User, t.Created.Format("2006-01-02 15:04 MST"), exp)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token: it is refused from the next request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := call("DELETE", "/v1/tokens/"+url.PathEscape(args[0]), nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
