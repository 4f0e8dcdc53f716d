package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "pando",
		Short: "Pando: a distributed key-value database that speaks Redis and HTTP",
		Long: `Pando is a distributed key-value database. Clients connect to any node over
the Redis protocol or HTTP/JSON.

Start a local node with "pando dev", a production node with "pando server".`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCmd(), newDevCmd(), newVersionCmd())
	return root
}
