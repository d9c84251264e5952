package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/render"
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
			return runApply(cmd, f, g, args, *o)
		},
	}
	cmd.Flags().BoolVar(&o.autoApprove, "auto-approve", false, "apply without asking for confirmation (for CI)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only show the plan, like provision plan")
	return cmd
}

// applyJSON is the -o json document of an apply: the plan, then what happened to each change.
type applyJSON struct {
	FormatVersion string           `json:"format_version"`
	Plan          render.Document  `json:"plan"`
	Applied       bool             `json:"applied"`
	Results       []applyJSONEntry `json:"results"`
}

type applyJSONEntry struct {
	Address string `json:"address"`
	Action  string `json:"action"`
	ID      string `json:"id,omitempty"`
	Status  string `json:"status"` // done, failed or skipped
	Error   string `json:"error,omitempty"`
}

func runApply(cmd *cobra.Command, f *factory, g *globalOptions, args []string, o applyOptions) error {
	ctx := cmd.Context()
	p, s, err := planManifests(ctx, f, g, args)
	if err != nil {
		return err
	}
	defer s.Close()

	if o.dryRun || p.Empty() || g.output == "text" {
		if g.output == "text" || o.dryRun {
			if err := printPlan(f, g, p); err != nil {
				return err
			}
		}
		if o.dryRun {
			return nil
		}
		if p.Empty() {
			if g.output == "json" {
				return writeApplyJSON(f, p, false, nil)
			}
			return nil
		}
	}
	if !o.autoApprove {
		if !f.isTerminal() {
			return fmt.Errorf("apply needs confirmation: run it on a terminal, or pass --auto-approve to apply without asking")
		}
		if !confirm(f, p.Summary()) {
			fmt.Fprintln(f.errOut, "Apply cancelled: nothing was changed.")
			return silentError{code: exitError}
		}
	}

	res, err := s.engine().Apply(ctx, p, func(r provision.ChangeResult) {
		if g.output == "text" {
			fmt.Fprintln(f.errOut, progressLine(r))
		}
	})
	var results []provision.ChangeResult
	if res != nil {
		results = res.Results
	}
	if g.output == "json" {
		if jerr := writeApplyJSON(f, p, true, results); jerr != nil {
			return jerr
		}
	} else if res != nil {
		applied, failed, skipped := res.Counts()
		fmt.Fprintf(f.out, "\nApply complete: %d applied, %d failed, %d skipped.\n", applied, failed, skipped)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("apply interrupted after the change in flight; run apply again to finish: %w", err)
		}
		return err
	}
	return nil
}

// confirm asks on the terminal; only "yes" applies, as in terraform.
func confirm(f *factory, sum provision.Summary) bool {
	fmt.Fprintf(f.errOut, "\nDo you want to apply these changes (%d to add, %d to change, %d to destroy)?\n  Only 'yes' will be accepted: ",
		sum.Add+sum.Adopt, sum.Change+sum.Rotate, sum.Destroy)
	line, _ := bufio.NewReader(f.in).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}

// progressLine is the stderr line printed as each change completes.
func progressLine(r provision.ChangeResult) string {
	switch {
	case r.Err == provision.ErrSkipped:
		return fmt.Sprintf("  skipped  %c %s (an earlier change it depends on failed)", r.Action, r.Address)
	case r.Err != nil:
		return fmt.Sprintf("  failed   %c %s: %v", r.Action, r.Address, r.Err)
	case r.ID != "":
		return fmt.Sprintf("  done     %c %s [id=%s]", r.Action, r.Address, r.ID)
	}
	return fmt.Sprintf("  done     %c %s", r.Action, r.Address)
}

func writeApplyJSON(f *factory, p *provision.Plan, applied bool, results []provision.ChangeResult) error {
	out := applyJSON{FormatVersion: provision.FormatVersion, Plan: render.NewDocument(p), Applied: applied, Results: []applyJSONEntry{}}
	for _, r := range results {
		e := applyJSONEntry{Address: r.Address, Action: string(r.Action), ID: r.ID, Status: "done"}
		switch {
		case r.Err == provision.ErrSkipped:
			e.Status = "skipped"
		case r.Err != nil:
			e.Status, e.Error = "failed", r.Err.Error()
		}
		out.Results = append(out.Results, e)
	}
	enc := json.NewEncoder(f.out)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
