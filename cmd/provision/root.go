package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// globalOptions are the flags every command accepts (DESIGN.md §3).
type globalOptions struct {
	output   string
	simulate simulateFlag
	noColor  bool
	verbose  bool
	auth     string
}

// simulateFlag is --simulate[=STATE_FILE]: on its own it uses the default state file.
type simulateFlag struct {
	enabled   bool
	stateFile string
}

func (s *simulateFlag) String() string {
	if !s.enabled {
		return ""
	}
	return s.stateFile
}

func (s *simulateFlag) Set(v string) error {
	s.enabled = true
	if v != simulateDefault {
		s.stateFile = v
	}
	return nil
}

func (s *simulateFlag) Type() string { return "STATE_FILE" }

// simulateDefault is the value pflag gives --simulate written without "=FILE".
const simulateDefault = "\x00default"

// run executes the command line and returns the exit code; only main calls os.Exit.
func run(ctx context.Context, args []string, f *factory) int {
	root := newRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if cerr := f.closeSimulator(); cerr != nil && err == nil {
		err = fmt.Errorf("save simulated tenant: %w", cerr)
	}
	if err != nil {
		var silent silentError
		if !errors.As(err, &silent) && !errors.Is(err, errChangesPending) {
			fmt.Fprintf(f.errOut, "Error: %v\n", err)
		}
	}
	return exitCode(err)
}

// newRootCmd builds the command tree.
func newRootCmd(f *factory) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "provision",
		Short: "Declare an Entra ID app registration, its consent, secrets and mailbox rights in YAML, and reconcile the tenant with it",
		Long: `provision reads a manifest (apiVersion provision/v1) that says which application registration,
API permissions, admin consent, client secrets, user assignments and Send-As rights should exist,
shows what would change (plan) and makes it so (apply), through Microsoft Graph and the
Exchange Online admin API. The tenant itself is the state: there is no state file.

Try it with no Azure account:
  provision apply examples/openfire.yaml --simulate`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch g.output {
			case "text", "json":
			default:
				return fmt.Errorf("invalid --output %q: use text or json", g.output)
			}
			return nil
		},
	}
	root.SetIn(f.in)
	root.SetOut(f.out)
	root.SetErr(f.errOut)
	root.CompletionOptions.HiddenDefaultCmd = false

	pf := root.PersistentFlags()
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	sim := pf.VarPF(&g.simulate, "simulate", "", "run against the built-in simulated tenant, keeping its state in STATE_FILE (default: a file in the user cache directory)")
	sim.NoOptDefVal = simulateDefault
	pf.BoolVar(&g.noColor, "no-color", false, "never colour the output (colour is used only on a terminal)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log every HTTP request and response to stderr, with tokens and secrets redacted")
	pf.StringVar(&g.auth, "auth", "", "credential to use: env, workload, managed, cli, device or browser (default: a chain of env, workload, managed identity and Azure CLI)")

	root.AddCommand(
		newValidateCmd(f, g),
		newPlanCmd(f, g),
		newApplyCmd(f, g),
		newRotateCmd(f, g),
		newExportCmd(f, g),
		newSchemaCmd(f, g),
		newDoctorCmd(f, g),
		newSimulateCmd(f, g),
		newVersionCmd(f, g),
	)
	return root
}
