package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pandodb/pando/internal/certs"
	"github.com/pandodb/pando/internal/membership"
	"github.com/spf13/cobra"
)

// newCertCmd is `pando cert`: the cluster's certificates, made locally.
func newCertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Make the cluster's CA, node and client certificates (nothing is downloaded)",
		Long: `Make the certificates of a cluster with TLS: a CA (ca.crt, ca.key), a
certificate for each node (NAME.crt, NAME.key), signed by it, and client
certificates. Keys are written readable by their owner only; an existing file
is never overwritten. Start a node with --tls-cert NAME.crt --tls-key NAME.key
--tls-ca ca.crt, and point clients at ca.crt.`,
	}
	var out string
	ca := &cobra.Command{
		Use:   "create-ca",
		Short: "Make a cluster CA: DIR/ca.crt and DIR/ca.key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := certs.CreateCA(out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s (keep the key safe: it signs every node)\n", filepath.Join(out, "ca.crt"), filepath.Join(out, "ca.key"))
			return nil
		},
	}
	ca.Flags().StringVar(&out, "out", "certs", "directory to write to")
	var caDir string
	var hosts []string
	node := &cobra.Command{
		Use:   "create-node NAME",
		Short: "Make a node certificate signed by the CA: DIR/NAME.crt and DIR/NAME.key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := certs.CreateNode(args[0], hosts, caDir, out); err != nil {
				return err
			}
			h := hosts
			if len(h) == 0 {
				h = certs.DefaultHosts
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s, valid for %v\n", filepath.Join(out, args[0]+".crt"), filepath.Join(out, args[0]+".key"), h)
			return nil
		},
	}
	node.Flags().StringVar(&caDir, "ca", "certs", "directory holding ca.crt and ca.key")
	node.Flags().StringVar(&out, "out", "certs", "directory to write to")
	node.Flags().StringSliceVar(&hosts, "host", nil, "DNS name or IP address the node is reached at (repeat; default localhost, 127.0.0.1, ::1)")
	client := &cobra.Command{
		Use:   "create-client NAME",
		Short: "Make a client certificate signed by the CA: DIR/NAME.crt and DIR/NAME.key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := certs.CreateClient(args[0], caDir, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", filepath.Join(out, args[0]+".crt"), filepath.Join(out, args[0]+".key"))
			return nil
		},
	}
	client.Flags().StringVar(&caDir, "ca", "certs", "directory holding ca.crt and ca.key")
	client.Flags().StringVar(&out, "out", "certs", "directory to write to")
	gossip := &cobra.Command{
		Use:   "create-gossip-key",
		Short: "Make a key that encrypts gossip: DIR/gossip.key (give it to every node with --gossip-key-file)",
		Long: `Make a random 32-byte key that encrypts and authenticates gossip (AES-GCM):
DIR/gossip.key, one base64 line, readable by its owner only. Every node of the
cluster is started with --gossip-key-file pointing at a copy; a node without
the key cannot gossip with the cluster and is never counted.

To rotate it without downtime, edit the file on every node (each node reads it
again within a second): add the new key as a second line; once every node has
it, move it to the first line (it encrypts from then on); once every node has
that, remove the old line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := createGossipKey(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (copy it to every node; keep it secret)\n", p)
			return nil
		},
	}
	gossip.Flags().StringVar(&out, "out", "certs", "directory to write to")
	cmd.AddCommand(ca, node, client, gossip)
	return cmd
}

// createGossipKey writes a new gossip key to dir/gossip.key, never over an
// existing file, and returns its path.
func createGossipKey(dir string) (string, error) {
	key, err := membership.NewKey()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, "gossip.key")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("gossip key: %w (an existing key is never overwritten)", err)
	}
	if _, err := fmt.Fprintln(f, key); err != nil {
		f.Close()
		return "", err
	}
	return p, f.Close()
}
