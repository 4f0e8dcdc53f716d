package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pandodb/pando/internal/api/httpapi"
	"github.com/pandodb/pando/internal/certs"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/spf13/cobra"
)

// httpFlag is the global --http flag: the node client and admin commands talk
// to.
var httpFlag string

// tlsFlags are the global --tls-ca, --tls-cert and --tls-key flags.
var tlsFlags struct{ ca, cert, key string }

// apiClient is the HTTP client of the API calls: with TLS when --http says
// https:// or --tls-ca is set.
func apiClient() (*http.Client, error) {
	c := &http.Client{Timeout: 30 * time.Second}
	if tlsFlags.ca == "" && tlsFlags.cert == "" {
		return c, nil
	}
	cfg, err := certs.ClientConfig(tlsFlags.ca, tlsFlags.cert, tlsFlags.key)
	if err != nil {
		return nil, err
	}
	c.Transport = &http.Transport{TLSClientConfig: cfg}
	return c, nil
}

// apiURL is the URL of path on the node at addr (HOST:PORT, or a URL).
func apiURL(addr, path string) string {
	switch {
	case strings.HasPrefix(addr, "http://"), strings.HasPrefix(addr, "https://"):
		return strings.TrimSuffix(addr, "/") + path
	case tlsFlags.ca != "":
		return "https://" + addr + path
	}
	return "http://" + addr + path
}

// apiError is the HTTP API's error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// call performs a request against --http and decodes a JSON answer into out
// (when not nil). A JSON error body becomes the returned error.
func call(method, path string, header http.Header, body io.Reader, out any) (*http.Response, []byte, error) {
	return callAt("", method, path, header, body, out)
}

// callAt is call against the node at addr.
func callAt(addr, method, path string, header http.Header, body io.Reader, out any) (*http.Response, []byte, error) {
	if err := loadClientConfig(); err != nil {
		return nil, nil, err
	}
	if addr == "" {
		addr = httpFlag // the file may have set it
	}
	u := apiURL(addr, path)
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	// Never flags: a secret on a command line is seen by every user of
	// the machine.
	switch user, password, token := credentials(); {
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	case user != "":
		req.SetBasicAuth(user, password)
	}
	client, err := apiClient()
	if err != nil {
		return nil, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach a node at %s (set --http or PANDO_HTTP): %w", addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode >= 400 {
		var e apiError
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return resp, data, fmt.Errorf("%s (%s)", e.Error.Message, e.Error.Code)
		}
		return resp, data, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, data, fmt.Errorf("unexpected answer from %s: %w", u, err)
		}
	}
	return resp, data, nil
}

type namespaceView struct {
	Name         string `json:"name"`
	N            int    `json:"n"`
	Model        string `json:"model"`
	Type         string `json:"type"`
	MaxSiblings  int    `json:"max_siblings"`
	DB           int    `json:"db"`
	SloppyQuorum bool   `json:"sloppy_quorum,omitempty"`
}

type statusView struct {
	ClusterID  string `json:"cluster_id"`
	Node       string `json:"node"`
	Leader     string `json:"leader"`
	Partitions int    `json:"partitions"`
	Nodes      []struct {
		ID          string `json:"id"`
		State       string `json:"state"`
		Member      bool   `json:"member"`
		Removed     bool   `json:"removed"`
		Voter       bool   `json:"voter"`
		Partitions  int    `json:"partitions"`
		ClusterAddr string `json:"cluster_addr"`
		RESPAddr    string `json:"resp_addr"`
		HTTPAddr    string `json:"http_addr"`
	} `json:"nodes"`
	Namespaces   []namespaceView  `json:"namespaces"`
	HintsPending map[string]int   `json:"hints_pending"`
	AntiEntropy  *antiEntropyView `json:"anti_entropy"`
	Disk         *struct {
		Refused   string `json:"writes_refused"`
		FreeBytes uint64 `json:"free_bytes"`
	} `json:"disk"`
	Staged []metadata.Change   `json:"staged"`
	Move   *httpapi.MoveStatus `json:"move"`
}

func newStatusCmd() *cobra.Command {
	var asJSON, partitions bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster: nodes (up or down, voter or not, partitions owned) and namespaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var st statusView
			_, raw, err := call("GET", "/v1/status", nil, nil, &st)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := out.Write(raw)
				return err
			}
			fmt.Fprintf(out, "cluster %s, %d partitions, metadata leader %s (asked %s)\n\n", orDash(st.ClusterID), st.Partitions, orDash(st.Leader), st.Node)
			fmt.Fprintf(out, "%-16s %-8s %-9s %-10s %-22s %-22s\n", "NODE", "STATE", "ROLE", "PARTITIONS", "REDIS", "HTTP")
			for _, n := range st.Nodes {
				role := "voter"
				switch {
				case n.Removed:
					role = "removed"
				case !n.Member:
					role = "candidate" // until pando cluster join admits it
				case !n.Voter:
					role = "learner"
				}
				fmt.Fprintf(out, "%-16s %-8s %-9s %-10d %-22s %-22s\n", n.ID, n.State, role, n.Partitions, orDash(n.RESPAddr), orDash(n.HTTPAddr))
			}
			fmt.Fprintln(out)
			if len(st.HintsPending) > 0 {
				fmt.Fprintf(out, "hints kept by %s for replicas that missed writes:", st.Node)
				for _, id := range slices.Sorted(maps.Keys(st.HintsPending)) {
					fmt.Fprintf(out, " %s %d", id, st.HintsPending[id])
				}
				fmt.Fprint(out, "\n\n")
			}
			if m := st.Move; m != nil {
				fmt.Fprintf(out, "%s (pando cluster wait follows it)\n\n", progressLine(*m, ""))
			}
			if len(st.Staged) > 0 {
				fmt.Fprintf(out, "staged, not committed: %d change(s) (pando cluster plan shows them)\n\n", len(st.Staged))
			}
			if d := st.Disk; d != nil && d.Refused != "" {
				fmt.Fprintf(out, "DISK on %s: data writes refused, reads served: %s\n\n", st.Node, d.Refused)
			}
			printAntiEntropy(out, st.Node, st.AntiEntropy, partitions)
			printNamespaces(out, st.Namespaces)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	cmd.Flags().BoolVar(&partitions, "partitions", false, "also show anti-entropy's figures for each partition of the asked node")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printNamespaces(out io.Writer, nss []namespaceView) {
	fmt.Fprintf(out, "%-20s %-4s %-3s %-9s %-8s %-12s %s\n", "NAMESPACE", "DB", "N", "MODEL", "TYPE", "MAX-SIBLINGS", "QUORUM")
	for _, ns := range nss {
		q := "strict"
		if ns.SloppyQuorum {
			q = "sloppy"
		}
		fmt.Fprintf(out, "%-20s %-4d %-3d %-9s %-8s %-12d %s\n", ns.Name, ns.DB, ns.N, ns.Model, ns.Type, ns.MaxSiblings, q)
	}
}

func newRingCmd() *cobra.Command {
	var ns string
	cmd := &cobra.Command{
		Use:   "ring",
		Short: "Show which nodes replicate each partition",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ring struct {
				Partitions []struct {
					Partition int      `json:"partition"`
					From      string   `json:"from"`
					To        string   `json:"to"`
					Replicas  []string `json:"replicas"`
				} `json:"partitions"`
			}
			if _, _, err := call("GET", "/v1/ring?ns="+url.QueryEscape(ns), nil, nil, &ring); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			owned := map[string]int{}
			fmt.Fprintf(out, "%-9s %-35s %s\n", "PARTITION", "HASH RANGE", "REPLICAS (first is the owner)")
			for _, p := range ring.Partitions {
				fmt.Fprintf(out, "%-9d %s-%-18s %s\n", p.Partition, p.From, p.To, strings.Join(p.Replicas, " "))
				if len(p.Replicas) > 0 {
					owned[p.Replicas[0]]++
				}
			}
			fmt.Fprintln(out)
			for _, id := range slices.Sorted(maps.Keys(owned)) {
				fmt.Fprintf(out, "%s owns %d partitions\n", id, owned[id])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&ns, "ns", "default", "namespace whose replication factor sets the replica lists")
	return cmd
}

func newNSCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ns", Short: "Create and list namespaces"}
	var def namespaceView
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a namespace",
		Long: `Create a namespace: a keyspace with its own replication factor (--n),
consistency model and value type. Redis clients reach it with NAMESPACE NAME,
or SELECT with the number it gets (shown by "pando ns list").`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			def.Name = args[0]
			body, _ := json.Marshal(def)
			var created namespaceView
			if _, _, err := call("POST", "/v1/ns", http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(body), &created); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created namespace %s (db %d, n=%d, %s, %s, max %d siblings)\n", created.Name, created.DB, created.N, created.Model, created.Type, created.MaxSiblings)
			return nil
		},
	}
	create.Flags().IntVar(&def.N, "n", 3, "replication factor")
	create.Flags().StringVar(&def.Model, "model", "eventual", "eventual or strong")
	create.Flags().StringVar(&def.Type, "type", "bytes", "bytes, counter, set, map, register or flag")
	create.Flags().IntVar(&def.MaxSiblings, "max-siblings", 16, "concurrent values a key may hold before writes that add one are refused")
	create.Flags().BoolVar(&def.SloppyQuorum, "sloppy-quorum", false, "count hints kept by fallback nodes toward W: writes stay available with fewer than W replicas up, but a read may miss them until the hints are delivered")
	list := &cobra.Command{
		Use:   "list",
		Short: "List namespaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var l struct {
				Namespaces []namespaceView `json:"namespaces"`
			}
			if _, _, err := call("GET", "/v1/ns", nil, nil, &l); err != nil {
				return err
			}
			printNamespaces(cmd.OutOrStdout(), l.Namespaces)
			return nil
		},
	}
	cmd.AddCommand(create, list,
		retireCmd("drop", "Drop a namespace and all its data",
			`Drop a namespace: it is gone at once on every node, and its data is
purged from disk in the background. A namespace created later under the
same name starts empty. The default namespace cannot be dropped.`,
			"DELETE", "", "dropped"),
		retireCmd("truncate", "Empty a namespace (FLUSHDB)",
			`Empty a namespace, as FLUSHDB does: every key is gone at once on every
node (one change in the metadata log, not a tombstone per key), and the
space is reclaimed in the background.`,
			"POST", "/truncate", "emptied"))
	return cmd
}

// keyPath is the HTTP path of a key in a namespace.
func keyPath(ns, key string, q url.Values) string {
	p := "/v1/ns/" + url.PathEscape(ns) + "/kv/" + url.PathEscape(key)
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

func newGetCmd() *cobra.Command {
	var ns, r string
	var all bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value (or all its concurrent values with --all)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if r != "" {
				q.Set("r", r)
			}
			if all {
				q.Set("siblings", "all")
			}
			_, data, err := call("GET", keyPath(ns, args[0], q), nil, nil, nil)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(data)
			if err == nil && !all && len(data) > 0 && data[len(data)-1] != '\n' && isTerminal(cmd.OutOrStdout()) {
				fmt.Fprintln(cmd.OutOrStdout())
			}
			return err
		},
	}
	cmd.Flags().StringVar(&ns, "ns", "default", "namespace")
	cmd.Flags().StringVar(&r, "r", "", "read level: one, quorum, all or a number")
	cmd.Flags().BoolVar(&all, "all", false, "print every concurrent value and the context, as JSON")
	return cmd
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newPutCmd() *cobra.Command {
	var ns, w, ctx, ttl string
	cmd := &cobra.Command{
		Use:   "put KEY [VALUE]",
		Short: "Write a key (the value from the argument, or from stdin)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body io.Reader = os.Stdin
			if len(args) == 2 {
				body = strings.NewReader(args[1])
			}
			q := url.Values{}
			if w != "" {
				q.Set("w", w)
			}
			if ttl != "" {
				q.Set("ttl", ttl)
			}
			h := http.Header{}
			if cmd.Flags().Changed("context") {
				h.Set("X-Pando-Context", ctx)
			}
			_, _, err := call("PUT", keyPath(ns, args[0], q), h, body, nil)
			return err
		},
	}
	cmd.Flags().StringVar(&ns, "ns", "default", "namespace")
	cmd.Flags().StringVar(&w, "w", "", "write level: one, quorum, all or a number")
	cmd.Flags().StringVar(&ctx, "context", "", "causal context from get --all: supersede exactly what it covers")
	cmd.Flags().StringVar(&ttl, "ttl", "", "expire after this long (30s, 1h)")
	return cmd
}

func newDelCmd() *cobra.Command {
	var ns, w, ctx string
	cmd := &cobra.Command{
		Use:   "del KEY",
		Short: "Delete a key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if w != "" {
				q.Set("w", w)
			}
			h := http.Header{}
			if cmd.Flags().Changed("context") {
				h.Set("X-Pando-Context", ctx)
			}
			_, _, err := call("DELETE", keyPath(ns, args[0], q), h, nil, nil)
			return err
		},
	}
	cmd.Flags().StringVar(&ns, "ns", "default", "namespace")
	cmd.Flags().StringVar(&w, "w", "", "write level: one, quorum, all or a number")
	cmd.Flags().StringVar(&ctx, "context", "", "causal context from get --all: delete exactly what it covers")
	return cmd
}

// retireCmd builds "ns drop" and "ns truncate", which destroy data and so
// ask for --yes.
func retireCmd(name, short, long, method, suffix, done string) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   name + " NAME --yes",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return fmt.Errorf("this destroys every key of namespace %s: run again with --yes to go ahead", args[0])
			}
			if _, _, err := call(method, "/v1/ns/"+url.PathEscape(args[0])+suffix, nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "namespace %s %s; its data is purged from disk in the background\n", args[0], done)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm that every key of the namespace is to be destroyed")
	return cmd
}
