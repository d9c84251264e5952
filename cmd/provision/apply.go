package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/render"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/spf13/cobra"
)

// applyOptions are the flags of `provision apply`.
type applyOptions struct {
	autoApprove      bool
	dryRun           bool
	detailedExitCode bool // with dryRun: exit 2 when changes are pending (rotate)
	// waitTimeout bounds the wait for the directory to show what was written; 0: no wait.
	waitTimeout time.Duration
	targets     []string
	// verifySecrets runs provision verify's checks on each new secret before anything older
	// is retired (rotate --verify).
	verifySecrets bool
	// verb is the command that applies (apply or rotate), for its questions and messages.
	verb string
}

func newApplyCmd(f *factory, g *globalOptions) *cobra.Command {
	o := &applyOptions{verb: "apply"}
	cmd := &cobra.Command{
		Use:   "apply FILE|DIR...|SAVED_PLAN",
		Short: "Plan, ask for confirmation, then make the tenant match the manifests",
		Long: `Plan, show the plan, ask for confirmation on a terminal, then apply the changes in dependency
order, printing each on stdout as it completes. Every change is idempotent: if apply is
interrupted (Ctrl-C stops after the change in flight; a second Ctrl-C stops at once) or fails,
running it again finishes the job.

Given one saved plan (provision plan --out FILE), apply applies exactly it, without asking:
it re-reads the tenant and the manifests first, and refuses, applying nothing, when either
changed the plan.

Apply returns only once a fresh read of the tenant shows what it wrote (the directory
replicates writes for a while; see --wait-timeout), so that apply && plan --detailed-exitcode
holds. Without a terminal, apply refuses to run unless --auto-approve is given.`,
		Args:              manifestArgs,
		ValidArgsFunction: manifestCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			return planAndApply(cmd.Context(), f, g, args, *o, provision.PlanOptions{Targets: o.targets})
		},
	}
	cmd.Flags().BoolVar(&o.autoApprove, "auto-approve", false, "apply without asking for confirmation (for CI)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "only show the plan, like provision plan")
	waitFlag(cmd, &o.waitTimeout)
	targetFlag(cmd, &o.targets)
	return cmd
}

// planAndApply plans every file, shows the plans, asks (unless auto-approved), then applies
// file by file. apply, rotate and destroy share it; rotate plans secrets only, destroy the
// removal of everything. A single argument that is a saved plan (plan --out) is applied as
// saved instead.
func planAndApply(ctx context.Context, f *factory, g *globalOptions, args []string, o applyOptions, opts provision.PlanOptions) error {
	if saved, err := readSavedPlan(ctx, f, args); err != nil || saved != nil {
		if err != nil {
			return err
		}
		return applySaved(ctx, f, g, saved, o)
	}
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
			return fmt.Errorf("%s needs confirmation: run it on a terminal, or pass --auto-approve to %s without asking", o.verb, o.verb)
		}
		if !confirm(f, o.verb, totalSummary(runs)) {
			fmt.Fprintf(f.errOut, "%s cancelled: nothing was changed.\n", capitalize(o.verb))
			return silentError{code: exitError}
		}
	}
	return applyRuns(ctx, f, g, runs, o, opts)
}

// applyRuns applies the planned runs file by file, waits for the directory to show each
// (unless --wait-timeout 0), and reports.
func applyRuns(ctx context.Context, f *factory, g *globalOptions, runs []*fileRun, o applyOptions, opts provision.PlanOptions) error {
	var errs []error
	var applied, failed, skipped int
	prog := newProgress(f.out, f.errOut, f.isTerminal())
	for _, r := range runs {
		if r.plan.Empty() {
			continue
		}
		if o.verifySecrets {
			r.session.secrets.Verify = r.session.verifyNewSecret(&mailCheck{docs: r.docs}, r.session.secrets.Verify)
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
		if err == nil && o.waitTimeout > 0 {
			err = waitVisible(ctx, f, g, r, opts, res, o.waitTimeout)
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
		fmt.Fprintf(f.out, "\n%s complete: %d applied, %d failed, %d skipped.\n", capitalize(o.verb), applied, failed, skipped)
		if opts.Destroy {
			printSinksLeft(f, runs)
		}
	}
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s interrupted after the change in flight; run %s again to finish: %w", o.verb, o.verb, err)
		}
		return err
	}
	return nil
}

// printSinksLeft lists, after a destroy, the sinks that still hold the last secret delivered:
// destroy removes the credentials from the tenant, never what a sink holds.
func printSinksLeft(f *factory, runs []*fileRun) {
	var sinks []string
	for _, r := range runs {
		for _, d := range r.docs {
			for _, s := range d.Application.Secrets {
				for _, line := range provision.DescribeStore(s.Store) {
					sinks = append(sinks, fmt.Sprintf("%s (secret %q)", line, s.Name))
				}
			}
		}
	}
	if len(sinks) > 0 {
		fmt.Fprintf(f.out, "\nThe sinks keep the last secret delivered (it no longer signs in); clear them yourself:\n  %s\n", strings.Join(sinks, "\n  "))
	}
}

// confirm asks on the terminal; only "yes" goes ahead, as in terraform.
func confirm(f *factory, verb string, sum provision.Summary) bool {
	fmt.Fprintf(f.errOut, "\nDo you want to %s these changes (%s)?\n  Only 'yes' will be accepted: ", verb, render.SummaryLine(sum))
	line, _ := bufio.NewReader(f.in).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// progressLine is the stdout line printed as each change completes: the result, with the
// object's id.
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

// writeApplyJSON prints apply's -o json document: the plan report, with each run's results.
func writeApplyJSON(f *factory, runs []*fileRun, applied bool) error {
	rep := render.NewReport(reportRuns(runs))
	rep.Applied = &applied
	return render.WriteJSON(f.out, rep)
}

// waitFlag adds --wait-timeout to a command that applies.
func waitFlag(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "wait-timeout", provision.DefaultWaitTimeout,
		"after applying, wait at most this long for the directory to show every change (0: do not wait)")
}

// waitVisible waits for the directory to show what r's apply wrote, saying on stderr what it
// waits for: a line per read on a non-terminal, one line rewritten in place on a terminal.
func waitVisible(ctx context.Context, f *factory, g *globalOptions, r *fileRun, opts provision.PlanOptions, res *provision.ApplyResult, timeout time.Duration) error {
	terminal := f.isTerminal()
	said := false
	w := provision.WaitOptions{Timeout: timeout}
	if g.simulate.enabled {
		// The simulated directory's replication window is known (PROVISION_SIMULATE_FAULTS):
		// the confirmations span just that, and without lag one clean read shows it, so the
		// README's first run does not sit through a real directory's confirmations.
		if lag := f.simulatedLag(); lag > 0 {
			w.ConfirmSpan = lag
		} else {
			w.ConfirmReads, w.ConfirmSpan = 1, time.Nanosecond
		}
	}
	w.Progress = func(pending []provision.Change, waited time.Duration) {
		addrs := make([]string, len(pending))
		for i, c := range pending {
			addrs[i] = c.Address
		}
		line := fmt.Sprintf("waiting for the directory to show %d change(s) (%s so far): %s", len(pending),
			waited.Round(time.Second), strings.Join(addrs, ", "))
		if terminal {
			fmt.Fprintf(f.errOut, "\r\x1b[K%s", line)
		} else {
			fmt.Fprintln(f.errOut, line)
		}
		said = true
	}
	err := r.session.engine().AwaitVisible(ctx, r.docs, opts, res, w)
	if said && terminal {
		fmt.Fprintln(f.errOut)
	}
	if err != nil {
		return fmt.Errorf("wait for the directory: %w", err)
	}
	return nil
}

// simulatedLag is the replication window of the simulated tenant's faults
// (PROVISION_SIMULATE_FAULTS); a specification that does not parse was refused when the
// tenant started.
func (f *factory) simulatedLag() time.Duration {
	faults, _ := simtenant.ParseFaults(f.getenv(envSimulateFaults))
	return faults.ReplicationLag
}
