package main

import (
	"github.com/provisionhq/provision/provision"
	"github.com/spf13/cobra"
)

// planOptions are the flags of `provision plan`.
type planOptions struct {
	detailedExitCode bool
}

func newPlanCmd(f *factory, g *globalOptions) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan FILE|DIR...",
		Short: "Read the tenant and show what apply would change",
		Long: `Read the tenant and show, as a terraform-like diff (or JSON with -o json), what apply would
create (+), change (~), adopt, rotate (±) or destroy (-). Nothing is written.

Exit codes: 0 success, 1 error, 3 invalid manifest; with --detailed-exitcode, 0 means no
changes and 2 means changes are pending or a client secret of the app (managed or not) expires
within rotateBefore, so a scheduled CI job can alert on it.`,
		Args:              manifestArgs,
		ValidArgsFunction: manifestCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			runs, err := planRuns(cmd.Context(), f, g, args, provision.PlanOptions{})
			if err != nil {
				return err
			}
			defer closeRuns(runs)
			if err := printRuns(f, g, runs); err != nil {
				return err
			}
			return detailedExit(o.detailedExitCode, runs)
		},
	}
	cmd.Flags().BoolVar(&o.detailedExitCode, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when changes are pending or a credential expires soon, 1 on error")
	return cmd
}

// useColor reports whether text output may be coloured: a terminal, no --no-color, no NO_COLOR.
func (f *factory) useColor(g *globalOptions) bool {
	if g.noColor || !f.isTerminal() {
		return false
	}
	_, noColor := f.lookupEnv("NO_COLOR")
	return !noColor
}

// detailedExit is the --detailed-exitcode rule: 2 when a change is pending or a credential
// nears expiry (warnings of kind "expiry"), else success.
func detailedExit(enabled bool, runs []*fileRun) error {
	if !enabled {
		return nil
	}
	for _, r := range runs {
		if !r.plan.Empty() || len(r.plan.ExpiryWarnings()) > 0 {
			return errChangesPending
		}
	}
	return nil
}
