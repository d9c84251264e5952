package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/render"
	"github.com/spf13/cobra"
)

// applyOptions are the flags of `provision apply`.
type applyOptions struct {
	autoApprove      bool
	dryRun           bool
	detailedExitCode bool // with dryRun: exit 2 when changes are pending (rotate)
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
			return runApply(cmd, f, g, args, *o)
		},
	}
	cmd.Flags().BoolVar(&o.autoApprove, "auto-approve", false, "apply without asking for confirmation (for CI)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only show the plan, like provision plan")
	return cmd
}

// applyJSON is the -o json document of an apply: per file, the plan, then what happened to
// each change.
type applyJSON struct {
	FormatVersion string         `json:"format_version"`
	Applied       bool           `json:"applied"`
	Runs          []applyRunJSON `json:"runs"`
}

type applyRunJSON struct {
	File    string           `json:"file"`
	Tenant  string           `json:"tenant,omitempty"`
	Plan    render.Document  `json:"plan"`
	Results []applyJSONEntry `json:"results"`
}

type applyJSONEntry struct {
	Address string `json:"address"`
	Action  string `json:"action"`
	ID      string `json:"id,omitempty"`
	Status  string `json:"status"` // done, failed or skipped
	Error   string `json:"error,omitempty"`
}

func runApply(cmd *cobra.Command, f *factory, g *globalOptions, args []string, o applyOptions) error {
	return planAndApply(cmd.Context(), f, g, args, o, provision.PlanOptions{})
}

// planAndApply plans every file, shows the plans, asks (unless auto-approved), then applies
// file by file. apply and rotate share it; rotate plans secrets only.
func planAndApply(ctx context.Context, f *factory, g *globalOptions, args []string, o applyOptions, opts provision.PlanOptions) error {
	runs, err := planRuns(ctx, f, g, args, opts)
	if err != nil {
		return err
	}
	defer closeRuns(runs)

	if g.output == "text" || o.dryRun {
		if err := printRuns(f, g, runs); err != nil {
			return err
		}
	}
	if o.dryRun {
		return detailedExit(o.detailedExitCode, runs)
	}
	if emptyRuns(runs) {
		if g.output == "json" {
			return writeApplyJSON(f, runs, false)
		}
		return nil
	}
	if !o.autoApprove {
		if !f.isTerminal() {
			return fmt.Errorf("apply needs confirmation: run it on a terminal, or pass --auto-approve to apply without asking")
		}
		if !confirm(f, totalSummary(runs)) {
			fmt.Fprintln(f.errOut, "Apply cancelled: nothing was changed.")
			return silentError{code: exitError}
		}
	}

	var errs []error
	var applied, failed, skipped int
	prog := newProgress(f.errOut, f.isTerminal())
	for _, r := range runs {
		if r.plan.Empty() {
			continue
		}
		done, total := 0, len(r.plan.Changes)
		res, err := r.session.engine().Apply(ctx, r.plan, func(c provision.ChangeResult) {
			done++
			if g.output == "text" {
				prog.change(c, done, total)
			}
		})
		if res != nil {
			r.results = res.Results
			a, fl, sk := res.Counts()
			applied, failed, skipped = applied+a, failed+fl, skipped+sk
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.file, err))
		}
	}
	if g.output == "json" {
		if jerr := writeApplyJSON(f, runs, true); jerr != nil {
			return jerr
		}
	} else {
		fmt.Fprintf(f.out, "\nApply complete: %d applied, %d failed, %d skipped.\n", applied, failed, skipped)
	}
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("apply interrupted after the change in flight; run apply again to finish: %w", err)
		}
		return err
	}
	return nil
}

// confirm asks on the terminal; only "yes" applies, as in terraform.
func confirm(f *factory, sum provision.Summary) bool {
	fmt.Fprintf(f.errOut, "\nDo you want to apply these changes (%s)?\n  Only 'yes' will be accepted: ", render.SummaryLine(sum))
	line, _ := bufio.NewReader(f.in).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}

// progressLine is the stderr line printed as each change completes.
func progressLine(r provision.ChangeResult) string {
	switch {
	case errors.Is(r.Err, provision.ErrSkipped):
		return fmt.Sprintf("  skipped  %c %s (an earlier change it depends on failed)", r.Action, r.Address)
	case r.Err != nil:
		return fmt.Sprintf("  failed   %c %s: %v", r.Action, r.Address, r.Err)
	case r.ID != "":
		return fmt.Sprintf("  done     %c %s [id=%s]", r.Action, r.Address, r.ID)
	}
	return fmt.Sprintf("  done     %c %s", r.Action, r.Address)
}

func writeApplyJSON(f *factory, runs []*fileRun, applied bool) error {
	out := applyJSON{FormatVersion: provision.FormatVersion, Applied: applied, Runs: []applyRunJSON{}}
	for _, r := range runs {
		run := applyRunJSON{File: r.file, Tenant: r.tenant, Plan: render.NewDocument(r.plan), Results: []applyJSONEntry{}}
		for _, c := range r.results {
			e := applyJSONEntry{Address: c.Address, Action: string(c.Action), ID: c.ID, Status: "done"}
			switch {
			case errors.Is(c.Err, provision.ErrSkipped):
				e.Status = "skipped"
			case c.Err != nil:
				e.Status, e.Error = "failed", c.Err.Error()
			}
			run.Results = append(run.Results, e)
		}
		out.Runs = append(out.Runs, run)
	}
	enc := json.NewEncoder(f.out)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
