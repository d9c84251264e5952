package main

import (
	"context"
	"fmt"
	"os"

	"github.com/provisionhq/provision/provision/render"
	"github.com/provisionhq/provision/provision/savedplan"
)

// readSavedPlan returns the saved plan args name when they are a single saved plan file
// (plan --out), and nil when they are manifests.
func readSavedPlan(ctx context.Context, f *factory, args []string) (*savedplan.File, error) {
	if len(args) != 1 || args[0] == "-" {
		return nil, nil
	}
	if st, err := os.Stat(args[0]); err != nil || !st.Mode().IsRegular() {
		return nil, nil // a directory, or an error reading manifests reports
	}
	files, err := readManifests(ctx, f, args)
	if err != nil || len(files) != 1 || !savedplan.IsSavedPlan(files[0].data) {
		return nil, nil
	}
	return savedplan.Parse(files[0].data, readBuildVersion().Version)
}

// writeSavedPlan writes the runs' plans to path (mode 0600), for apply to apply as they are.
func writeSavedPlan(f *factory, path string, runs []*fileRun, opts savedplan.Options) error {
	saved := &savedplan.File{Format: savedplan.Format, ProvisionVersion: readBuildVersion().Version,
		Created: f.clock.Now().UTC(), Options: opts}
	for _, r := range runs {
		saved.Runs = append(saved.Runs, savedplan.Run{File: r.file, SHA256: r.digest, Tenant: r.tenant,
			Fingerprint: r.plan.Fingerprint, Plan: render.NewDocument(r.plan)})
	}
	data, err := saved.Marshal()
	if err != nil {
		return err
	}
	if err := writeFilePrivate(path, data); err != nil {
		return fmt.Errorf("save the plan: %w", err)
	}
	fmt.Fprintf(f.errOut, "Saved the plan to %s: apply exactly it with provision apply %s\n", path, path)
	return nil
}

// writeFilePrivate writes data to path, readable by its owner only, through a temporary file
// in the same directory so a reader never sees half a plan.
func writeFilePrivate(path string, data []byte) error {
	tmp, err := os.CreateTemp(dirOf(path), ".provision-plan-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if os.IsPathSeparator(path[i]) {
			return path[:i+1]
		}
	}
	return "."
}

// applySaved applies a saved plan: every manifest it was made from must be unchanged, and a
// fresh plan of the tenant with the same options must be the saved plan; otherwise it is
// stale, and nothing is applied. A saved plan was reviewed already: apply does not ask again.
func applySaved(ctx context.Context, f *factory, g *globalOptions, saved *savedplan.File, o applyOptions) error {
	var stale []string
	var files []manifestFile
	for _, r := range saved.Runs {
		got, err := readManifests(ctx, f, []string{r.File})
		switch {
		case err != nil:
			stale = append(stale, fmt.Sprintf("%s cannot be read (%v)", r.File, err))
		case len(got) != 1 || savedplan.Digest(got[0].data) != r.SHA256:
			stale = append(stale, fmt.Sprintf("%s changed since the plan was saved", r.File))
		default:
			files = append(files, got[0])
		}
	}
	if len(stale) > 0 {
		return &savedplan.StaleError{Reasons: stale}
	}
	opts := saved.Options.PlanOptions()
	runs, err := planFiles(ctx, f, g, files, opts)
	if err != nil {
		return err
	}
	defer closeRuns(runs)
	for i, r := range runs {
		for _, d := range savedplan.Diff(saved.Runs[i].Plan.Changes, r.plan.Changes) {
			stale = append(stale, r.file+": "+d)
		}
	}
	if len(stale) > 0 {
		return &savedplan.StaleError{Reasons: stale}
	}
	if emptyRuns(runs) {
		if g.output == "json" {
			return writeApplyJSON(f, runs, false)
		}
		fmt.Fprintln(f.out, "The saved plan has no changes: nothing to apply.")
		return nil
	}
	if g.output == "text" {
		if err := printRuns(f, g, runs); err != nil {
			return err
		}
	}
	return applyRuns(ctx, f, g, runs, o, opts)
}

// savedOptions are the options a plan was made with, as a saved plan records them.
func savedOptions(destroy, includeAdopted bool, targets []string) savedplan.Options {
	return savedplan.Options{Destroy: destroy, IncludeAdopted: includeAdopted, Targets: targets}
}
