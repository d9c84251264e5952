package main

import (
	"time"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/spf13/cobra"
)

// rotateOptions are the flags of `provision rotate`.
type rotateOptions struct {
	force       bool
	autoApprove bool
	dryRun      bool
	detailed    bool
	verify      bool
	waitTimeout time.Duration
}

func newRotateCmd(f *factory, g *globalOptions) *cobra.Command {
	o := &rotateOptions{}
	cmd := &cobra.Command{
		Use:   "rotate FILE|DIR...",
		Short: "Create, deliver and rotate the manifests' client secrets, and nothing else",
		Long: `Reconcile only the secrets part of the manifests: create a missing secret, rotate one whose
newest credential expires within rotateBefore (add new, write every sink, verify, then retire
older ones beyond keepPrevious). --force rotates now whatever the expiry.

--verify runs provision verify's checks with each new secret before anything older is
retired: tokens for Graph and Exchange carrying the declared roles, and the XOAUTH2 logins of
the mailboxes with appAccess. A new secret that fails them stays in the sinks, and nothing is
retired: the consumers keep their working credentials while the cause (named in the error) is
fixed, and the next rotate finishes.`,
		Args:              manifestArgs,
		ValidArgsFunction: manifestCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			return planAndApply(cmd.Context(), f, g, args,
				applyOptions{autoApprove: o.autoApprove, dryRun: o.dryRun, detailedExitCode: o.detailed, verb: "rotate",
					waitTimeout: o.waitTimeout, verifySecrets: o.verify},
				provision.PlanOptions{SecretsOnly: true, ForceRotate: o.force})
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "rotate now, whatever the expiry")
	cmd.Flags().BoolVar(&o.autoApprove, "auto-approve", false, "rotate without asking for confirmation (for CI)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only show what would be rotated")
	cmd.Flags().BoolVar(&o.detailed, "detailed-exitcode", false, "with --dry-run: exit 2 when a secret is due for rotation or any credential of the app expires soon, 0 otherwise")
	cmd.Flags().BoolVar(&o.verify, "verify", false, "before retiring anything, check that each new secret gets the declared roles and logs in to the mailboxes with appAccess (as provision verify does)")
	waitFlag(cmd, &o.waitTimeout)
	return cmd
}

// mailCheck is what rotate --verify adds to the sign-in check of a new secret: provision
// verify's checks, for the document the secret's application belongs to.
type mailCheck struct {
	docs []*manifests.Document
}
