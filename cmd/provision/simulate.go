package main

import (
	"github.com/spf13/cobra"
)

// simulateServeOptions are the flags of `provision simulate serve`.
type simulateServeOptions struct {
	addr  string
	state string
}

func newSimulateCmd(f *factory, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Run the built-in simulated tenant",
	}
	o := &simulateServeOptions{}
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the simulated tenant on a loopback TLS address and print the environment that points other shells and tools at it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return notYet("simulate serve")
		},
	}
	serve.Flags().StringVar(&o.addr, "addr", "127.0.0.1:0", "loopback address to listen on (port 0 picks a free one)")
	serve.Flags().StringVar(&o.state, "state", "", "state file of the simulated tenant (default: a file in the user cache directory)")
	cmd.AddCommand(serve)
	return cmd
}
