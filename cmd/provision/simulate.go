package main

import (
	"context"
	"fmt"
	"sort"

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
		Long: `Serve the simulated tenant (Graph v1.0, the identity platform and the Exchange admin API) on
a loopback TLS address with a CA of its own, until interrupted. Before serving it prints, on
stdout, one "export NAME=value" line per variable that points provision in another shell (or
any other tool using the Azure SDKs) at it, including the simulated operator's client secret:

  provision simulate serve --state ./tenant.json > simulate.env &
  . ./simulate.env
  provision plan examples/openfire.yaml`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSimulateServe(cmd.Context(), f, *o)
		},
	}
	serve.Flags().StringVar(&o.addr, "addr", "127.0.0.1:0", "loopback address to listen on (port 0 picks a free one)")
	serve.Flags().StringVar(&o.state, "state", "", "state file of the simulated tenant (default: a file in the user cache directory)")
	cmd.AddCommand(serve)
	return cmd
}

// runSimulateServe serves the simulated tenant until ctx is cancelled (Ctrl-C), then saves it.
func runSimulateServe(ctx context.Context, f *factory, o simulateServeOptions) error {
	sim, err := f.startSimulator(ctx, o.state, o.addr)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(sim.env))
	for name := range sim.env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(f.out, "export %s=%s\n", name, shellQuote(sim.env[name]))
	}
	fmt.Fprintf(f.errOut, "Simulated tenant serving Graph at %s; press Ctrl-C to stop.\n", sim.server.GraphEndpoint)
	<-ctx.Done()
	if err := sim.Close(); err != nil {
		return fmt.Errorf("stop simulated tenant: %w", err)
	}
	return nil
}

// shellQuote quotes v for a POSIX shell.
func shellQuote(v string) string {
	out := "'"
	for _, r := range v {
		if r == '\'' {
			out += `'\''`
			continue
		}
		out += string(r)
	}
	return out + "'"
}
