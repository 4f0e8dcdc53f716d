package main

import (
	"os"

	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "pando",
		Short: "Pando: a distributed key-value database that speaks Redis and HTTP",
		Long: `Pando is a distributed key-value database. Clients connect to any node over
the Redis protocol or HTTP/JSON.

Start a local cluster with "pando dev", a production node with "pando server";
the other commands talk to a node's HTTP API (--http).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	def := "127.0.0.1:8080"
	if v := os.Getenv("PANDO_HTTP"); v != "" {
		def = v
	}
	root.PersistentFlags().StringVar(&httpFlag, "http", def, "HTTP address of the node that client and admin commands talk to, HOST:PORT or https://HOST:PORT (env PANDO_HTTP)")
	root.PersistentFlags().StringVar(&tlsFlags.ca, "tls-ca", os.Getenv("PANDO_TLS_CA"), "CA certificate to trust for a node's HTTPS API; given, the API is reached over HTTPS (env PANDO_TLS_CA)")
	root.PersistentFlags().StringVar(&tlsFlags.cert, "tls-cert", os.Getenv("PANDO_TLS_CERT"), "client certificate to present over HTTPS (env PANDO_TLS_CERT)")
	root.PersistentFlags().StringVar(&tlsFlags.key, "tls-key", os.Getenv("PANDO_TLS_KEY"), "its key (env PANDO_TLS_KEY)")
	root.PersistentFlags().StringVar(&clientConfigFlag, "client-config", os.Getenv("PANDO_CLIENT_CONFIG"), "YAML file of the client commands' settings (http, tls-ca, tls-cert, tls-key, user, password, token), under their flags and environment (env PANDO_CLIENT_CONFIG; default: pando/client.yaml in the user's config directory, if there)")
	rootFlags = root.PersistentFlags()
	root.AddCommand(newServerCmd(), newDevCmd(), newVersionCmd(),
		newStatusCmd(), newRingCmd(), newNSCmd(), newGetCmd(), newPutCmd(), newDelCmd(), newBenchCmd(), newVerifyCmd(),
		newAntiEntropyCmd(), newClusterCmd(), newCertCmd(), newUserCmd(), newTokenCmd())
	return root
}
