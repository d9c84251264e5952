package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/credential"
)

// defaultTimeout bounds a whole run unless --timeout says otherwise: far more than a real
// apply takes, so it only ends a run that is stuck.
const defaultTimeout = 30 * time.Minute

// globalOptions are the flags every command accepts (DESIGN.md §3).
type globalOptions struct {
	output   string
	simulate simulateFlag
	noColor  bool
	verbose  bool
	auth     string
	envFiles []string
	timeout  time.Duration

	// vars are the values the --env-file files give ${…} references, read before the command
	// runs.
	vars map[string]string
	// runCtx is the command's context once --timeout bounds it; cancel releases it.
	runCtx context.Context
	cancel context.CancelFunc
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

// simulateDefault is the value pflag gives --simulate written without "=FILE". pflag also
// prints it in the help, as --simulate[=STATE_FILE]; a state file literally named
// STATE_FILE is the one price of that.
const simulateDefault = "STATE_FILE"

// timedOut is the cause of a run's context when --timeout ends it.
type timedOut struct{ after time.Duration }

func (e timedOut) Error() string {
	return fmt.Sprintf("the run timed out after %s (--timeout)", e.after)
}

// run executes the command line and returns the exit code; only main calls os.Exit. A panic
// anywhere below is a bug: it is reported in one line and exits 1, never the runtime's 2
// (which would read as "changes pending").
func run(ctx context.Context, args []string, f *factory) (code int) {
	defer func() {
		if r := recover(); r != nil {
			code = reportCrash(f.errOut, r, wantsStack(args))
		}
	}()
	if err := checkSimulateForm(args); err != nil {
		fmt.Fprintf(f.errOut, "Error: %v\n", err)
		return exitError
	}
	g := &globalOptions{}
	root := newRootCmdWith(f, g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if g.cancel != nil {
		defer g.cancel()
	}
	if cerr := f.closeSimulator(); cerr != nil && err == nil {
		err = fmt.Errorf("save simulated tenant: %w", cerr)
	}
	var t timedOut
	if err != nil && g.runCtx != nil && errors.As(context.Cause(g.runCtx), &t) {
		fmt.Fprintf(f.errOut, "Error: %v: the run stopped where it was. Every change is idempotent, so running the "+
			"command again finishes the job; raise --timeout if the tenant is only slow, or add -v to see the "+
			"request it waited for. (%v)\n", t, err)
		return exitError
	}
	if err != nil {
		var silent silentError
		if !errors.As(err, &silent) && !errors.Is(err, errChangesPending) {
			fmt.Fprintf(f.errOut, "Error: %v\n", err)
		}
	}
	return exitCode(err)
}

// checkSimulateForm refuses "--simulate FILE.json": pflag reads a bare --simulate as "the
// default state file" and FILE as a manifest, so a state file given with a space would be
// planned as a manifest. Only --simulate and --simulate=FILE are accepted.
func checkSimulateForm(args []string) error {
	for i, a := range args {
		if a == "--" {
			return nil
		}
		if a == "--simulate" && i+1 < len(args) && strings.HasSuffix(strings.ToLower(args[i+1]), ".json") {
			return fmt.Errorf("--simulate takes its state file after \"=\": write --simulate=%s (with a space, %s would be read as a manifest)", args[i+1], args[i+1])
		}
	}
	return nil
}

// newRootCmd builds the command tree.
func newRootCmd(f *factory) *cobra.Command { return newRootCmdWith(f, &globalOptions{}) }

// newRootCmdWith builds the command tree around g, which the caller reads back after it ran.
func newRootCmdWith(f *factory, g *globalOptions) *cobra.Command {
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
			return g.prepare(cmd, f)
		},
	}
	root.SetIn(f.in)
	root.SetOut(f.out)
	root.SetErr(f.errOut)
	root.CompletionOptions.HiddenDefaultCmd = false
	root.SetFlagErrorFunc(flagError)

	pf := root.PersistentFlags()
	pf.StringVarP(&g.output, "output", "o", "text", "output `FORMAT`: text or json")
	// The empty `` gives the flag no value name, so the help reads --simulate[=STATE_FILE].
	sim := pf.VarPF(&g.simulate, "simulate", "", `run against the built-in simulated tenant; --simulate=FILE keeps its state in FILE (default: a file in the user cache directory). Write the file after "=": in "--simulate FILE", FILE is read as a manifest`+"``")
	sim.NoOptDefVal = simulateDefault
	pf.BoolVar(&g.noColor, "no-color", false, "never colour the output (colour is used only on a terminal)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log every HTTP request and response to stderr, with tokens and secrets redacted")
	pf.StringVar(&g.auth, "auth", "", "`METHOD` of signing in: "+strings.Join(authNames(), ", ")+" (default: a chain of env, workload, managed identity and Azure CLI)")
	pf.StringArrayVar(&g.envFiles, "env-file", nil, "read values for the manifests' ${…} references from this dotenv `FILE` (repeatable; they win over the environment, later files over earlier ones)")
	pf.DurationVar(&g.timeout, "timeout", defaultTimeout, "end the run after this `DURATION` (e.g. 10m; 0: no limit)")

	_ = root.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	_ = root.RegisterFlagCompletionFunc("auth", fixedCompletion(authNames()...))
	_ = root.RegisterFlagCompletionFunc("env-file", anyFileCompletion)

	root.AddCommand(
		newValidateCmd(f, g),
		newPlanCmd(f, g),
		newApplyCmd(f, g),
		newRotateCmd(f, g),
		newDestroyCmd(f, g),
		newExportCmd(f, g),
		newSchemaCmd(f, g),
		newDoctorCmd(f, g),
		newSimulateCmd(f, g),
		newVerifyCmd(f, g),
		newVersionCmd(f, g),
	)
	return root
}

// prepare checks the global flags' values, as flag errors, before any command runs, reads
// the --env-file files and bounds the command's context by --timeout.
func (g *globalOptions) prepare(cmd *cobra.Command, f *factory) error {
	switch g.output {
	case "text", "json":
	default:
		return fmt.Errorf("invalid --output %q: use text or json", g.output)
	}
	if _, err := credential.ParseMethod(g.auth); err != nil {
		msg := fmt.Sprintf("invalid --auth %q", g.auth)
		if s := manifests.ClosestNames(g.auth, authNames(), 1); len(s) > 0 {
			msg += fmt.Sprintf(": did you mean %q?", s[0])
		}
		return fmt.Errorf("%s (use %s, or leave --auth out for the default chain)", msg, strings.Join(authNames(), ", "))
	}
	if g.timeout < 0 {
		return fmt.Errorf("invalid --timeout %s: give a positive duration such as 30m, or 0 for no limit", g.timeout)
	}
	ctx := cmd.Context()
	// simulate serve runs until interrupted; only an explicit --timeout ends it.
	serving := cmd.CommandPath() == "provision simulate serve" && !cmd.Flags().Changed("timeout")
	if g.timeout > 0 && !serving {
		ctx, g.cancel = context.WithTimeoutCause(ctx, g.timeout, timedOut{g.timeout})
		g.runCtx = ctx
		cmd.SetContext(ctx)
	}
	vars, err := readEnvFiles(ctx, g.envFiles)
	if err != nil {
		return err
	}
	g.vars = vars
	return nil
}

func authNames() []string {
	var out []string
	for _, m := range credential.Methods() {
		out = append(out, string(m))
	}
	return out
}

// flagError adds to pflag's "unknown flag" the closest flag the command has.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	var name string
	switch {
	case strings.HasPrefix(msg, "unknown flag: --"):
		name = strings.TrimPrefix(msg, "unknown flag: --")
	case strings.HasPrefix(msg, "unknown shorthand flag: "):
		// "unknown shorthand flag: 'x' in -xyz": -xyz was most likely meant as --xyz.
		if _, arg, ok := strings.Cut(msg, " in -"); ok {
			name = arg
		}
	default:
		return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
	}
	name, _, _ = strings.Cut(name, "=")
	if fl := cmd.Flags().Lookup(name); fl != nil && !fl.Hidden {
		return fmt.Errorf("%w: did you mean --%s? (long flags take two dashes)", err, name)
	}
	var names []string
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if !fl.Hidden {
			names = append(names, fl.Name)
		}
	})
	if s := manifests.ClosestNames(name, names, 1); len(s) > 0 {
		return fmt.Errorf("%w: did you mean --%s?", err, s[0])
	}
	return fmt.Errorf("%w (see %s --help for the flags it takes)", err, cmd.CommandPath())
}
