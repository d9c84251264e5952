package main

import (
	"github.com/provisionhq/provision/provision"
	"github.com/spf13/cobra"
)

// planOptions are the flags of `provision plan`.
type planOptions struct {
	detailedExitCode bool
	out              string
	destroy          bool
	includeAdopted   bool
	targets          []string
}

func newPlanCmd(f *factory, g *globalOptions) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan FILE|DIR...",
		Short: "Read the tenant and show what apply would change",
		Long: `Read the tenant and show, as a terraform-like diff (or JSON with -o json), what apply would
create (+), change (~), adopt, rotate (±) or destroy (-). Nothing is written.

--out FILE saves the plan for provision apply FILE; --target ADDRESS (repeatable) limits it
to those addresses and what they depend on; --destroy plans what provision destroy removes.

Exit codes: 0 success, 1 error, 3 invalid manifest; with --detailed-exitcode, 0 means no
changes and 2 means changes are pending or a client secret of the app (managed or not) expires
within rotateBefore, so a scheduled CI job can alert on it.`,
		Args:              manifestArgs,
		ValidArgsFunction: manifestCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := provision.PlanOptions{Destroy: o.destroy, IncludeAdopted: o.includeAdopted, Targets: o.targets}
			runs, err := planRuns(cmd.Context(), f, g, args, opts)
			if err != nil {
				return err
			}
			defer closeRuns(runs)
			if err := printRuns(f, g, runs); err != nil {
				return err
			}
			if o.out != "" {
				if err := writeSavedPlan(f, o.out, runs, savedOptions(o.destroy, o.includeAdopted, o.targets)); err != nil {
					return err
				}
			}
			return detailedExit(o.detailedExitCode, runs)
		},
	}
	cmd.Flags().BoolVar(&o.detailedExitCode, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when changes are pending or a credential expires soon, 1 on error")
	cmd.Flags().StringVar(&o.out, "out", "", "also save the plan to `FILE`, for provision apply FILE to apply exactly it (refused if the tenant or manifests changed the plan meanwhile)")
	cmd.Flags().BoolVar(&o.destroy, "destroy", false, "plan the removal of everything the manifests manage, as provision destroy would")
	cmd.Flags().BoolVar(&o.includeAdopted, "include-adopted", false, "with --destroy: also delete applications provision did not create")
	targetFlag(cmd, &o.targets)
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

// targetFlag adds the repeatable --target to a command that plans.
func targetFlag(cmd *cobra.Command, targets *[]string) {
	cmd.Flags().StringArrayVar(targets, "target", nil,
		"limit to this `ADDRESS` (as the plan prints it: everything under it too) and what it depends on; repeatable")
}
