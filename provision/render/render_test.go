package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// every is a plan holding each action and each kind of attribute value.
func every() *provision.Plan {
	const app = `application["OpenFire"]`
	pos := func(line int) manifests.Pos { return manifests.Pos{File: "openfire.yaml", Line: line, Col: 5} }
	return &provision.Plan{
		FormatVersion: provision.FormatVersion,
		Changes: []provision.Change{
			{Address: app, Kind: provision.KindApplication, Action: provision.Create, Source: pos(3), Attrs: []provision.AttrChange{
				{Name: "name", After: "OpenFire"},
				{Name: "audience", After: "multiple-orgs"},
				{Name: "redirectUris.web", After: []string{"https://mabase.openfire.fr/microsoft_outlook/confirm?a=1&b=2"}},
				{Name: "appId", KnownAfterApply: true},
			}},
			{Address: app + ".service_principal", Kind: provision.KindServicePrincipal, Action: provision.Update, Attrs: []provision.AttrChange{
				{Name: "appRoleAssignmentRequired", Before: false, After: true},
			}},
			{Address: app + `.consent["Microsoft Graph"].delegated`, Kind: provision.KindDelegatedGrant, Action: provision.Update, Attrs: []provision.AttrChange{
				{Name: "scope", Before: []string{"Mail.Send", "User.Read", "offline_access"}, After: []string{"Mail.Send", "User.Read", "SMTP.Send"}},
			}},
			{Address: app + `.consent["Microsoft Graph"].role["Mail.Send"]`, Kind: provision.KindAppRoleGrant, Action: provision.Delete,
				Reason: "not in the manifest", Attrs: []provision.AttrChange{{Name: "appRoleId", Before: "b633e1c5-b582-4048-a93e-9f11b44c7e96"}}},
			{Address: app + `.secret["OpenFire Mail"]`, Kind: provision.KindSecret, Action: provision.Rotate,
				Reason: "expires in 12d, rotateBefore is 30d", Attrs: []provision.AttrChange{
					{Name: "value", Sensitive: true},
					{Name: "endDateTime", Before: "2026-12-04T00:00:00Z", After: "2028-11-22T00:00:00Z"},
				}},
			{Address: `application["Legacy"]`, Kind: provision.KindApplication, Action: provision.Adopt,
				Reason: "adopt existing registration (appId 1111) made outside provision", Attrs: []provision.AttrChange{
					{Name: "tags", Before: []string{}, After: []string{"provision:managed"}},
				}},
		},
		Warnings: []provision.Warning{{Address: app, Message: "admin consent is pending for Microsoft Graph: User.Read", Source: pos(12)}},
	}
}

func TestRender(t *testing.T) {
	cases := map[string]struct {
		reason string
		plan   *provision.Plan
		color  bool
	}{
		"every":       {reason: "each action, set diffs, sensitive and known-after-apply values", plan: every()},
		"every-color": {reason: "colour only when asked", plan: every(), color: true},
		"empty":       {reason: "an empty plan says the tenant matches", plan: &provision.Plan{FormatVersion: provision.FormatVersion}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var text, js bytes.Buffer
			if err := Text(&text, tc.plan, TextOptions{Color: tc.color}); err != nil {
				t.Fatal(err)
			}
			if err := JSON(&js, tc.plan); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.reason, name+".txt", text.Bytes())
			if !tc.color {
				golden(t, tc.reason, name+".json", js.Bytes())
			}
			var round Report
			if err := json.Unmarshal(js.Bytes(), &round); err != nil {
				t.Fatalf("%s\nthe JSON plan does not decode: %v", tc.reason, err)
			}
			if len(round.Runs) != 1 || round.FormatVersion != FormatVersion {
				t.Fatalf("%s\nthe JSON plan is not a report of one run at version %s: %s", tc.reason, FormatVersion, js.String())
			}
			if diff := cmp.Diff(len(tc.plan.Changes), len(round.Runs[0].Plan.Changes)); diff != "" {
				t.Errorf("%s\nchanges after a JSON round trip -want +got:\n%s", tc.reason, diff)
			}
		})
	}
}

// TestReport: the document apply -o json prints for several files. Results name actions with
// the plan's words (create, update, delete, rotate, adopt), never its glyphs, and say which
// changes were done, failed or skipped.
func TestReport(t *testing.T) {
	p := every()
	results := []provision.ChangeResult{
		{Address: p.Changes[0].Address, Kind: provision.KindApplication, Action: provision.Create, ID: "11111111-1111-1111-1111-111111111111"},
		{Address: p.Changes[1].Address, Kind: provision.KindServicePrincipal, Action: provision.Update},
		{Address: p.Changes[2].Address, Kind: provision.KindDelegatedGrant, Action: provision.Update, Err: errors.New("update grant: 403 Authorization_RequestDenied")},
		{Address: p.Changes[3].Address, Kind: provision.KindAppRoleGrant, Action: provision.Delete, Err: fmt.Errorf("delete app role assignment: %w", provision.ErrSkipped)},
		{Address: p.Changes[4].Address, Kind: provision.KindSecret, Action: provision.Rotate, ID: "22222222-2222-2222-2222-222222222222"},
		{Address: p.Changes[5].Address, Kind: provision.KindApplication, Action: provision.Adopt},
	}
	empty := &provision.Plan{}
	applied := true
	rep := NewReport([]Run{
		NewRun("tenants/contoso.yaml", "contoso.onmicrosoft.com", p, results),
		NewRun("tenants/fabrikam.yaml", "", empty, nil),
	})
	rep.Applied = &applied
	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	golden(t, "apply -o json over two files", "apply.json", js.Bytes())

	var round struct {
		Runs []struct {
			Results []struct{ Action, Status string }
		}
	}
	if err := json.Unmarshal(js.Bytes(), &round); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range round.Runs[0].Results {
		got = append(got, r.Action+" "+r.Status)
	}
	want := []string{"create done", "update done", "update failed", "delete skipped", "rotate done", "adopt done"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results' actions and statuses -want +got:\n%s", diff)
	}
	if rep.Summary != p.Summary() {
		t.Errorf("total summary %+v, want the one non-empty run's %+v", rep.Summary, p.Summary())
	}
}

func TestTextNeverShowsSensitiveValues(t *testing.T) {
	p := &provision.Plan{Changes: []provision.Change{{Address: "a", Kind: provision.KindSecret, Action: provision.Create,
		Attrs: []provision.AttrChange{{Name: "value", Before: "old-secret-value", After: "new-secret-value", Sensitive: true}}}}}
	var text bytes.Buffer
	if err := Text(&text, p, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(text.Bytes(), []byte("secret-value")) {
		t.Errorf("a sensitive attribute's value was printed:\n%s", text.String())
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, reason, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s\n%s -want +got:\n%s", reason, path, diff)
	}
}
