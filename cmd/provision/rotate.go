package main

import (
	"time"

	"github.com/provisionhq/provision/provision"
	"github.com/spf13/cobra"
)

// rotateOptions are the flags of `provision rotate`.
type rotateOptions struct {
	force       bool
	autoApprove bool
	dryRun      bool
	detailed    bool
	waitTimeout time.Duration
}

func newRotateCmd(f *factory, g *globalOptions) *cobra.Command {
	o := &rotateOptions{}
	cmd := &cobra.Command{
		Use:   "rotate FILE|DIR...",
		Short: "Create, deliver and rotate the manifests' client secrets, and nothing else",
		Long: `Reconcile only the secrets part of the manifests: create a missing secret, rotate one whose
newest credential expires within rotateBefore (add new, write every sink, verify, then retire
older ones beyond keepPrevious). --force rotates now whatever the expiry.`,
		Args:              manifestArgs,
		ValidArgsFunction: manifestCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			return planAndApply(cmd.Context(), f, g, args,
				applyOptions{autoApprove: o.autoApprove, dryRun: o.dryRun, detailedExitCode: o.detailed, verb: "rotate", waitTimeout: o.waitTimeout},
				provision.PlanOptions{SecretsOnly: true, ForceRotate: o.force})
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "rotate now, whatever the expiry")
	cmd.Flags().BoolVar(&o.autoApprove, "auto-approve", false, "rotate without asking for confirmation (for CI)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only show what would be rotated")
	cmd.Flags().BoolVar(&o.detailed, "detailed-exitcode", false, "with --dry-run: exit 2 when a secret is due for rotation or any credential of the app expires soon, 0 otherwise")
	waitFlag(cmd, &o.waitTimeout)
	return cmd
}
