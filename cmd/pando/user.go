package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pandodb/pando/internal/api/httpapi"
	"github.com/pandodb/pando/internal/auth"
)

// newUserCmd is `pando user`: the cluster's users.
func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the cluster's users: add, list, passwd, remove",
		Long: `Users are kept in the cluster's metadata, on every node: a password only as
an argon2id hash. Roles: read reads, write reads and writes, admin also
manages the cluster. A role applies to the namespaces given with --ns, or to
every namespace. Nodes started with --require-auth refuse every command but
AUTH and HELLO until a client authenticates (Redis's AUTH user password, or
HTTP Basic auth; the CLI sends PANDO_USER and PANDO_PASSWORD).

Passwords are read from a file (--password-file; "-" is standard input),
never from the command line, where other users of the machine could see
them.`,
	}
	var pwFile, role string
	var namespaces []string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user with a role (and the namespaces it applies to)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(pwFile)
			if err != nil {
				return err
			}
			if _, err := auth.ParseRole(role); err != nil {
				return err
			}
			return putUser(cmd, "POST", "/v1/users", httpapi.UserChange{Name: args[0], Password: pw, Role: role, Namespaces: namespaces}, "added")
		},
	}
	add.Flags().StringVar(&pwFile, "password-file", "", "file holding the password (its first line; - for standard input)")
	add.Flags().StringVar(&role, "role", "read", "read, write or admin")
	add.Flags().StringSliceVar(&namespaces, "ns", nil, "namespaces the role applies to (repeat; default every namespace)")
	_ = add.MarkFlagRequired("password-file")
	passwd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Change a user's password (and, with --role, its role and namespaces)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(pwFile)
			if err != nil {
				return err
			}
			r := ""
			if cmd.Flags().Changed("role") {
				r = role
			}
			return putUser(cmd, "PUT", "/v1/users/"+url.PathEscape(args[0]), httpapi.UserChange{Password: pw, Role: r, Namespaces: namespaces}, "changed")
		},
	}
	passwd.Flags().StringVar(&pwFile, "password-file", "", "file holding the new password (its first line; - for standard input)")
	passwd.Flags().StringVar(&role, "role", "", "a new role: read, write or admin")
	passwd.Flags().StringSliceVar(&namespaces, "ns", nil, "with --role: the namespaces it applies to")
	_ = passwd.MarkFlagRequired("password-file")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the users, their roles and namespaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var users []auth.User
			if _, _, err := call("GET", "/v1/users", nil, nil, &users); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tROLE\tNAMESPACES")
			for _, u := range users {
				ns := "all"
				if len(u.Namespaces) > 0 {
					ns = strings.Join(u.Namespaces, ",")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Name, u.Role, ns)
			}
			return tw.Flush()
		},
	}
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a user (its authenticated connections are refused from the next command)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := call("DELETE", "/v1/users/"+url.PathEscape(args[0]), nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed user %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, passwd, list, remove)
	return cmd
}

func putUser(cmd *cobra.Command, method, path string, change httpapi.UserChange, did string) error {
	body, _ := json.Marshal(change)
	var u auth.User
	if _, _, err := call(method, path, http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(body), &u); err != nil {
		return err
	}
	ns := "every namespace"
	if len(u.Namespaces) > 0 {
		ns = strings.Join(u.Namespaces, ", ")
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s user %s: %s on %s\n", did, u.Name, u.Role, ns)
	return nil
}

// readPassword reads the first line of file (- is standard input).
func readPassword(file string) (string, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, auth.MaxPasswordBytes+2))
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	pw, _, _ := strings.Cut(string(data), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("password file %s: the first line is empty", file)
	}
	return pw, nil
}
