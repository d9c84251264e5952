package main

import (
	"github.com/spf13/cobra"
)

// applyOptions are the flags of `provision apply`.
type applyOptions struct {
	autoApprove bool
	dryRun      bool
}

func newApplyCmd(f *factory, g *globalOptions) *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply FILE|DIR...",
		Short: "Plan, ask for confirmation, then make the tenant match the manifests",
		Long: `Plan, show the plan, ask for confirmation on a terminal, then apply the changes in dependency
order, printing each as it completes. Every change is idempotent: if apply is interrupted
(Ctrl-C stops after the change in flight) or fails, running it again finishes the job.

Without a terminal, apply refuses to run unless --auto-approve is given.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return notYet("apply")
		},
	}
	cmd.Flags().BoolVar(&o.autoApprove, "auto-approve", false, "apply without asking for confirmation (for CI)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only show the plan, like provision plan")
	return cmd
}
