package main

import (
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
create (+), change (~), rotate (±) or destroy (-). Nothing is written.

Exit codes: 0 success, 1 error, 3 invalid manifest; with --detailed-exitcode, 0 means no
changes and 2 means changes are pending.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return notYet("plan")
		},
	}
	cmd.Flags().BoolVar(&o.detailedExitCode, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when changes are pending, 1 on error")
	return cmd
}
