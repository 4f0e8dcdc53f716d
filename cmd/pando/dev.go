package main

import (
	"fmt"
	"net"
	"path/filepath"

	"github.com/pandodb/pando/internal/server"
	"github.com/spf13/cobra"
)

func newDevCmd() *cobra.Command {
	var nf nodeFlags
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local node for development, with its data under the working directory",
		Long: `Run a local Pando node for development. Its data lives in ./pando-dev (or
--data-dir) and survives restarts; delete the directory to start afresh.
Ctrl-C stops it cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applySettings(cmd); err != nil {
				return err
			}
			cfg, err := nf.config()
			if err != nil {
				return err
			}
			srv, err := server.New(cfg)
			if err != nil {
				return err
			}
			dir, _ := filepath.Abs(cfg.DataDir)
			_, respPort, _ := net.SplitHostPort(srv.RESPAddr().String())
			respHost, _, _ := net.SplitHostPort(srv.RESPAddr().String())
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Pando %s: a development node is running, with its data in %s\n\n", pandoVersion(), dir)
			fmt.Fprintf(out, "  Redis protocol  %s\n", srv.RESPAddr())
			fmt.Fprintf(out, "  HTTP API        http://%s\n\n", srv.HTTPAddr())
			fmt.Fprintf(out, "Try:\n")
			fmt.Fprintf(out, "  redis-cli -h %s -p %s set hello world\n", respHost, respPort)
			fmt.Fprintf(out, "  redis-cli -h %s -p %s get hello\n", respHost, respPort)
			fmt.Fprintf(out, "  curl -X PUT --data-binary world http://%s/v1/kv/hello\n", srv.HTTPAddr())
			fmt.Fprintf(out, "  curl http://%s/v1/kv/hello\n\n", srv.HTTPAddr())
			fmt.Fprintf(out, "Press Ctrl-C to stop.\n")
			ctx, stop := signalContext()
			defer stop()
			err = srv.Run(ctx)
			if err == nil {
				fmt.Fprintln(out, "Stopped cleanly.")
			}
			return err
		},
	}
	nf.register(cmd.Flags(), "pando-dev")
	return cmd
}
