package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/doctor"
	"github.com/provisionhq/provision/provision/render"
)

// run is one manifest file planned against its tenant: several files fan out to several
// tenants, each file signed in to the tenant its documents name.
type fileRun struct {
	file    string
	tenant  string
	docs    []*manifests.Document
	session *session
	plan    *provision.Plan
	results []provision.ChangeResult
}

// planRuns loads every manifest (all problems of all files at once, exit code 3), then signs
// in and plans each file. The caller closes the runs.
func planRuns(ctx context.Context, f *factory, g *globalOptions, args []string, opts provision.PlanOptions) ([]*fileRun, error) {
	files, err := expandPaths(args)
	if err != nil {
		return nil, err
	}
	var runs []*fileRun
	var all manifests.Diagnostics
	for _, file := range files {
		docs, diags := manifests.LoadFile(file, f.lookupEnv)
		all = append(all, diags...)
		if len(docs) > 0 {
			runs = append(runs, &fileRun{file: file, docs: docs})
		}
	}
	for _, r := range runs {
		r.tenant = r.docs[0].Tenant
		for _, d := range r.docs[1:] {
			if d.Tenant != r.tenant {
				all = append(all, manifests.Diagnostic{Pos: d.Source.Pos("tenant"), Path: "tenant",
					Message: fmt.Sprintf("every document of a file must name the same tenant (the first names %q): put documents for another tenant in their own file", r.tenant)})
			}
		}
	}
	printDiagnostics(f.errOut, all)
	if all.HasErrors() {
		return nil, silentError{code: exitInvalidManifest}
	}

	ok := false
	defer func() {
		if !ok {
			closeRuns(runs)
		}
	}()
	var problems manifests.Diagnostics
	for _, r := range runs {
		if r.session, err = f.connect(ctx, g, r.tenant); err != nil {
			return nil, fmt.Errorf("%s: %w", r.file, err)
		}
		e := r.session.engine()
		if opts.Now.IsZero() {
			opts.Now = f.clock.Now()
		}
		r.plan, err = e.PlanWith(ctx, r.docs, opts)
		var d manifests.Diagnostics
		switch {
		case errors.As(err, &d):
			problems = append(problems, d...)
			continue
		case err != nil:
			return nil, fmt.Errorf("plan %s: %w", r.file, err)
		}
		if !opts.SecretsOnly {
			// The rights check runs on the tokens alone (no Graph request): say before apply
			// writes anything which step this identity cannot perform, and what grant fixes it.
			rights, err := doctor.Preflight(ctx, r.session.credential, r.session.endpoints.GraphScope(), r.session.endpoints.ExchangeScope(), r.docs)
			if err != nil {
				return nil, fmt.Errorf("check the signed-in identity's rights for %s: %w", r.file, err)
			}
			r.plan.Warnings = append(rights, r.plan.Warnings...)
		}
	}
	if len(problems) > 0 {
		printDiagnostics(f.errOut, problems)
		return nil, silentError{code: exitInvalidManifest}
	}
	ok = true
	return runs, nil
}

// closeRuns signs out of every run's session.
func closeRuns(runs []*fileRun) {
	for _, r := range runs {
		if r.session != nil {
			_ = r.session.Close()
		}
	}
}

// empty reports whether no run has a change.
func emptyRuns(runs []*fileRun) bool {
	for _, r := range runs {
		if !r.plan.Empty() {
			return false
		}
	}
	return true
}

// totalSummary adds the runs' summaries up.
func totalSummary(runs []*fileRun) provision.Summary {
	var t provision.Summary
	for _, r := range runs {
		s := r.plan.Summary()
		t.Add += s.Add
		t.Change += s.Change
		t.Destroy += s.Destroy
		t.Rotate += s.Rotate
		t.Adopt += s.Adopt
	}
	return t
}

// multiPlanJSON is the -o json document of a plan over several files: one plan document per
// file, and the total. A single file prints its plan document alone.
type multiPlanJSON struct {
	FormatVersion string            `json:"format_version"`
	Runs          []runPlanJSON     `json:"runs"`
	Summary       provision.Summary `json:"summary"`
}

type runPlanJSON struct {
	File   string          `json:"file"`
	Tenant string          `json:"tenant,omitempty"`
	Plan   render.Document `json:"plan"`
}

// printRuns writes the plans to stdout: one file as a plain plan, several with a heading
// each and a total.
func printRuns(f *factory, g *globalOptions, runs []*fileRun) error {
	if len(runs) == 1 {
		return printPlan(f, g, runs[0].plan)
	}
	if g.output == "json" {
		out := multiPlanJSON{FormatVersion: provision.FormatVersion, Summary: totalSummary(runs)}
		for _, r := range runs {
			out.Runs = append(out.Runs, runPlanJSON{File: r.file, Tenant: r.tenant, Plan: render.NewDocument(r.plan)})
		}
		enc := json.NewEncoder(f.out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, r := range runs {
		tenant := r.tenant
		if tenant == "" {
			tenant = "the signed-in tenant"
		}
		fmt.Fprintf(f.out, "── %s (%s) ──\n\n", r.file, tenant)
		if err := printPlan(f, g, r.plan); err != nil {
			return err
		}
		fmt.Fprintln(f.out)
	}
	fmt.Fprintf(f.out, "Total for %d files: %s.\n", len(runs), render.SummaryLine(totalSummary(runs)))
	return nil
}
