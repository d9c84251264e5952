package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/provisionhq/provision/provision"
)

// destroyOptions are the flags of `provision destroy`.
type destroyOptions struct {
	autoApprove    bool
	dryRun         bool
	includeAdopted bool
	waitTimeout    time.Duration
	targets        []string
}

func newDestroyCmd(f *factory, g *globalOptions) *cobra.Command {
	o := &destroyOptions{}
	cmd := &cobra.Command{
		Use:   "destroy FILE|DIR...",
		Short: "Remove what the manifests manage, in reverse dependency order",
		Long: `Plan and, after confirmation, remove what the manifests manage, in reverse dependency order:
the Send-As rights they list, the user and group assignments, the admin consent (application
permissions and delegated grants), the managed client secrets, the enterprise application and
the application. The application is soft-deleted: the directory keeps it 30 days, and it can be
restored with its appId (Entra admin center, App registrations, Deleted applications, Restore;
or POST /directory/deletedItems/{id}/restore).

An application that provision did not create (adopted: it lacks the provision:managed tag) is
never deleted, nor its enterprise application, unless --include-adopted is given. Sinks are left
as they are: destroy lists them, and clearing them is yours. provision plan --destroy shows
the same plan.`,
		Args:              manifestArgs,
		ValidArgsFunction: manifestCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			return planAndApply(cmd.Context(), f, g, args,
				applyOptions{autoApprove: o.autoApprove, dryRun: o.dryRun, verb: "destroy", waitTimeout: o.waitTimeout},
				provision.PlanOptions{Destroy: true, IncludeAdopted: o.includeAdopted, Targets: o.targets})
		},
	}
	cmd.Flags().BoolVar(&o.autoApprove, "auto-approve", false, "destroy without asking for confirmation (for CI)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only show what would be removed, like provision plan --destroy")
	cmd.Flags().BoolVar(&o.includeAdopted, "include-adopted", false, "also delete applications provision did not create (adopted ones)")
	waitFlag(cmd, &o.waitTimeout)
	targetFlag(cmd, &o.targets)
	return cmd
}
