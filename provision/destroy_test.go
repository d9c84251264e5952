package provision_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/simtenant"
)

// planWith plans with options, failing the test on an error.
func (f *fixture) planWith(tb testing.TB, docs []*manifests.Document, opts provision.PlanOptions) *provision.Plan {
	tb.Helper()
	p, err := f.engine.PlanWith(context.Background(), docs, opts)
	if err != nil {
		tb.Fatalf("plan: %v", err)
	}
	return p
}

// sendAsTrustees lists who holds Send-As on each mailbox the documents name.
func (f *fixture) sendAsTrustees(tb testing.TB, docs []*manifests.Document) []string {
	tb.Helper()
	var out []string
	for _, d := range docs {
		for _, s := range d.SendAs {
			ts, err := f.engine.Exchange.SendAsTrustees(context.Background(), s.Mailbox)
			if err != nil {
				tb.Fatal(err)
			}
			for _, t := range ts {
				out = append(out, s.Mailbox+" "+t.Raw)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestDestroyRemovesWhatTheManifestManages(t *testing.T) {
	for _, file := range exampleFiles(t) {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, simtenant.Faults{})
			docs := example(t, name)
			before, sendAsBefore := inventory(t, f.tenant), f.sendAsTrustees(t, docs)
			f.applyAndWait(t, docs)

			destroy := provision.PlanOptions{Destroy: true}
			p := f.planWith(t, docs, destroy)
			if p.Empty() {
				t.Fatal("destroy of a converged tenant plans nothing")
			}
			for i, c := range p.Changes {
				if c.Action != provision.Delete {
					t.Errorf("destroy plans %s %s", string(c.Action), c.Address)
				}
				// Reverse dependency order: the application goes last, its service principal
				// just before it.
				if c.Kind == provision.KindApplication && i != len(p.Changes)-1 {
					t.Errorf("the application is deleted before %v", lines(p)[i+1:])
				}
			}
			ctx := context.Background()
			res, err := f.engine.Apply(ctx, p, nil)
			if err != nil {
				t.Fatalf("destroy: %v", err)
			}
			if err := f.engine.AwaitVisible(ctx, docs, destroy, res, provision.WaitOptions{}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, inventory(t, f.tenant)); diff != "" {
				t.Errorf("objects after destroy -before apply +after destroy:\n%s", diff)
			}
			if diff := cmp.Diff(sendAsBefore, f.sendAsTrustees(t, docs)); diff != "" {
				t.Errorf("Send-As after destroy -before apply +after destroy:\n%s", diff)
			}
			if again := f.planWith(t, docs, destroy); !again.Empty() {
				t.Errorf("a second destroy is not a no-op: %v", lines(again))
			}
			// And apply makes it all again.
			f.applyAndWait(t, docs)
			if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
				t.Errorf("plan after destroy then apply -want +got:\n%s", diff)
			}
		})
	}
}

func TestDestroyKeepsAnAdoptedApplication(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	ctx := context.Background()
	portal := newApplication()
	name := "Minimal Example"
	portal.SetDisplayName(&name)
	made, err := f.engine.Graph.Graph.Applications().Post(ctx, portal, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The manifest names the portal's app by its appId, as export writes it: adopted, and
	// planned empty without stamping the ownership tag.
	docs, diags := manifests.Parse("adopted.yaml", []byte("apiVersion: provision/v1\napplication:\n  name: Minimal Example\n  appId: "+*made.GetAppId()+"\n"),
		func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	f.applyAndWait(t, docs)
	p := f.planWith(t, docs, provision.PlanOptions{Destroy: true})
	if slices.ContainsFunc(p.Changes, func(c provision.Change) bool {
		return c.Kind == provision.KindApplication || c.Kind == provision.KindServicePrincipal
	}) {
		t.Fatalf("destroy deletes an adopted application without --include-adopted: %v", lines(p))
	}
	if !slices.ContainsFunc(p.Warnings, func(w provision.Warning) bool { return strings.Contains(w.Message, "--include-adopted") }) {
		t.Errorf("destroy does not say it keeps the adopted application: %+v", p.Warnings)
	}
	p = f.planWith(t, docs, provision.PlanOptions{Destroy: true, IncludeAdopted: true})
	want := []string{`- application["Minimal Example"].service_principal`, `- application["Minimal Example"]`}
	if diff := cmp.Diff(want, lines(p)); diff != "" {
		t.Errorf("destroy --include-adopted -want +got:\n%s", diff)
	}
	f.apply(t, p)
	if _, ok := f.tenant.Application(*made.GetAppId()); ok {
		t.Error("the adopted application is still there after destroy --include-adopted")
	}
}

func TestTargetLimitsThePlanToOneObjectAndWhatItNeeds(t *testing.T) {
	cases := map[string]struct {
		reason string
		target string
		want   []string
	}{
		"secret": {
			reason: "a secret needs its application, and its service principal, without which the new secret cannot sign in to be verified",
			target: `application["OpenFire"].secret["OpenFire Mail"]`,
			want: []string{`+ application["OpenFire"]`, `+ application["OpenFire"].service_principal`,
				`+ application["OpenFire"].secret["OpenFire Mail"]`},
		},
		"user assignment": {
			reason: "an assignment needs the application and its service principal",
			target: `application["OpenFire"].assignment.user["jm@office.openfire.pro"]`,
			want: []string{`+ application["OpenFire"]`, `+ application["OpenFire"].service_principal`,
				`+ application["OpenFire"].assignment.user["jm@office.openfire.pro"]`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, simtenant.Faults{})
			docs := example(t, "openfire.yaml")
			total := len(f.plan(t, docs).Changes)
			opts := provision.PlanOptions{Targets: []string{tc.target}}
			p := f.planWith(t, docs, opts)
			if diff := cmp.Diff(tc.want, lines(p)); diff != "" {
				t.Fatalf("%s\ntargeted plan -want +got:\n%s", tc.reason, diff)
			}
			if !slices.ContainsFunc(p.Warnings, func(w provision.Warning) bool { return strings.Contains(w.Message, "partial") }) {
				t.Errorf("a targeted plan does not say it is partial: %+v", p.Warnings)
			}
			ctx := context.Background()
			res, err := f.engine.Apply(ctx, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.engine.AwaitVisible(ctx, docs, opts, res, provision.WaitOptions{}); err != nil {
				t.Fatal(err)
			}
			if again := f.planWith(t, docs, opts); !again.Empty() {
				t.Errorf("the targeted plan after its apply: %v", lines(again))
			}
			// The rest is still to do.
			if rest := f.plan(t, docs); len(rest.Changes) != total-len(tc.want) {
				t.Errorf("%d changes left after the targeted apply, want %d: %v", len(rest.Changes), total-len(tc.want), lines(rest))
			}
		})
	}
}
