package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/doctor"
	"github.com/provisionhq/provision/provision/render"
	"github.com/provisionhq/provision/provision/savedplan"
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
	// digest is the SHA-256 of the manifest's bytes, which a saved plan records.
	digest string
}

// planRuns loads every manifest (all problems of all files at once, exit code 3), then signs
// in and plans each file. The caller closes the runs.
func planRuns(ctx context.Context, f *factory, g *globalOptions, args []string, opts provision.PlanOptions) ([]*fileRun, error) {
	files, err := readManifests(ctx, f, args)
	if err != nil {
		return nil, err
	}
	return planFiles(ctx, f, g, files, opts)
}

// planFiles is planRuns of manifests already read.
func planFiles(ctx context.Context, f *factory, g *globalOptions, files []manifestFile, opts provision.PlanOptions) ([]*fileRun, error) {
	var err error
	var runs []*fileRun
	var all manifests.Diagnostics
	for _, file := range files {
		docs, diags := manifests.Load(file.name, file.data, f.manifestEnv(g))
		all = append(all, diags...)
		if len(docs) > 0 {
			runs = append(runs, &fileRun{file: file.name, docs: docs, digest: savedplan.Digest(file.data)})
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
	return render.NewReport(reportRuns(runs)).Summary
}

// reportRuns is the JSON form of the runs: their plans and, once applied, their results.
func reportRuns(runs []*fileRun) []render.Run {
	out := make([]render.Run, 0, len(runs))
	for _, r := range runs {
		out = append(out, render.NewRun(r.file, r.tenant, r.plan, r.results))
	}
	return out
}

// printRuns writes the plans to stdout. JSON is one document whatever the number of files;
// text shows one file's plan plainly, several with a heading each and a total.
func printRuns(f *factory, g *globalOptions, runs []*fileRun) error {
	if g.output == "json" {
		return render.WriteJSON(f.out, render.NewReport(reportRuns(runs)))
	}
	if len(runs) == 1 {
		return render.Text(f.out, runs[0].plan, render.TextOptions{Color: f.useColor(g)})
	}
	for _, r := range runs {
		tenant := r.tenant
		if tenant == "" {
			tenant = "the signed-in tenant"
		}
		fmt.Fprintf(f.out, "── %s (%s) ──\n\n", r.file, tenant)
		if err := render.Text(f.out, r.plan, render.TextOptions{Color: f.useColor(g)}); err != nil {
			return err
		}
		fmt.Fprintln(f.out)
	}
	fmt.Fprintf(f.out, "Total for %d files: %s.\n", len(runs), render.SummaryLine(totalSummary(runs)))
	return nil
}
