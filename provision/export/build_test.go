package export

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
)

func TestBuild(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	graphSP := provision.ResourceServicePrincipal{ID: "sp-graph", AppID: manifests.MicrosoftGraphAppID, DisplayName: "Microsoft Graph",
		Scopes: []provision.PermissionScope{{ID: "e1fe6dd8-ba31-4d61-89e7-88639da4683d", Value: "User.Read", IsEnabled: true}}}
	custom := provision.ResourceServicePrincipal{ID: "sp-custom", AppID: "aaaaaaaa-0000-0000-0000-000000000001", DisplayName: "Contoso API",
		AppRoles: []provision.AppRole{{ID: "bbbbbbbb-0000-0000-0000-000000000001", Value: "Data.Read", IsEnabled: true, AllowedMemberTypes: []string{"Application"}}}}
	base := func() *Snapshot {
		return &Snapshot{
			App: provision.ObservedApp{ID: "obj", AppID: "11111111-1111-1111-1111-111111111111", DisplayName: "OpenFire", SignInAudience: "AzureADMyOrg",
				RequiredResourceAccess: []provision.RequiredResourceAccess{{ResourceAppID: manifests.MicrosoftGraphAppID,
					ResourceAccess: []provision.ResourceAccess{{ID: "e1fe6dd8-ba31-4d61-89e7-88639da4683d", Type: provision.AccessScope}}}}},
			ServicePrincipal: &provision.ObservedServicePrincipal{ID: "sp-app", AppID: "11111111-1111-1111-1111-111111111111"},
			Resources:        []provision.ResourceServicePrincipal{graphSP, custom},
			Principals:       map[string]provision.DirectoryObject{},
		}
	}
	for _, tc := range []struct {
		reason    string
		snapshot  func() *Snapshot
		check     func(Result) string // "" when the result is as wanted
		wantNotes []string            // substrings of the rendered manifest
	}{
		{
			reason:   "requested but never consented: adminConsent false, and the manifest says consent is pending",
			snapshot: base,
			check: func(r Result) string {
				return cmp.Diff([]manifests.Permission{{API: "Microsoft Graph", Delegated: []string{"User.Read"}}}, r.Document.Application.Permissions) +
					cmp.Diff(false, r.Document.Application.AdminConsent)
			},
			wantNotes: []string{"No administrator has consented to these permissions yet"},
		},
		{
			reason: "another API is written by appId with its name as a comment, and its consented role counts",
			snapshot: func() *Snapshot {
				s := base()
				s.App.RequiredResourceAccess = append(s.App.RequiredResourceAccess, provision.RequiredResourceAccess{ResourceAppID: custom.AppID,
					ResourceAccess: []provision.ResourceAccess{{ID: "bbbbbbbb-0000-0000-0000-000000000001", Type: provision.AccessRole}}})
				s.Grants = []provision.Grant{{ClientID: "sp-app", ResourceID: "sp-graph", ConsentType: "AllPrincipals", Scope: "User.Read"}}
				s.AppRoleAssignments = []provision.AppRoleAssignment{{PrincipalID: "sp-app", ResourceID: "sp-custom", AppRoleID: "bbbbbbbb-0000-0000-0000-000000000001"}}
				return s
			},
			check: func(r Result) string {
				return cmp.Diff(custom.AppID, r.Document.Application.Permissions[1].API) + cmp.Diff(true, r.Document.Application.AdminConsent)
			},
			wantNotes: []string{"api: " + custom.AppID + " # Contoso API"},
		},
		{
			reason: "a removed permission and an API without a service principal are left out and said",
			snapshot: func() *Snapshot {
				s := base()
				s.App.RequiredResourceAccess[0].ResourceAccess = append(s.App.RequiredResourceAccess[0].ResourceAccess,
					provision.ResourceAccess{ID: "99999999-0000-0000-0000-000000000000", Type: provision.AccessScope})
				s.App.RequiredResourceAccess = append(s.App.RequiredResourceAccess, provision.RequiredResourceAccess{ResourceAppID: "cccccccc-0000-0000-0000-000000000000",
					ResourceAccess: []provision.ResourceAccess{{ID: "dddddddd-0000-0000-0000-000000000000", Type: provision.AccessRole}}})
				return s
			},
			check: func(r Result) string { return cmp.Diff(1, len(r.Document.Application.Permissions)) },
			wantNotes: []string{"no longer offers the delegated permission 99999999-0000-0000-0000-000000000000",
				"API cccccccc-0000-0000-0000-000000000000, which has no service principal"},
		},
		{
			reason: "secrets are comments: named ones as entries with their lifetime, unnamed ones as a remark; an expired one says so",
			snapshot: func() *Snapshot {
				s := base()
				s.App.PasswordCredentials = []provision.PasswordCredential{
					{KeyID: "k1", DisplayName: "Mail", StartDate: "2025-01-01T00:00:00Z", EndDate: "2025-06-30T00:00:00Z"},
					{KeyID: "k2", StartDate: "2025-01-01T00:00:00Z", EndDate: "2027-01-01T00:00:00Z"},
				}
				return s
			},
			check:     func(r Result) string { return cmp.Diff([]manifests.Secret(nil), r.Document.Application.Secrets) },
			wantNotes: []string{"#   - name: Mail", "#     lifetime: 180d", "expired 2025-06-30", "without a description (keyId k2)"},
		},
		{
			reason: "values that look like variables are escaped, and a group is written by id with its name",
			snapshot: func() *Snapshot {
				s := base()
				s.App.DisplayName = "Price ${X}"
				s.AssignedTo = []provision.Assignment{
					{PrincipalID: "g1", PrincipalType: provision.PrincipalGroup},
					{PrincipalID: "s1", PrincipalType: "ServicePrincipal", PrincipalDisplayName: "Robot"},
				}
				s.Principals["g1"] = provision.DirectoryObject{ID: "g1", Type: provision.PrincipalGroup, DisplayName: "Comptabilité"}
				return s
			},
			check: func(r Result) string {
				return cmp.Diff([]string{"g1"}, r.Document.Application.Assignments.Groups)
			},
			wantNotes: []string{"name: Price $${X}", "- g1 # Comptabilité", `ServicePrincipal "Robot" is assigned too`},
		},
		{
			reason: "a mailbox nobody may send as is left out: an entry needs a trustee",
			snapshot: func() *Snapshot {
				s := base()
				s.SendAs = []provision.ObservedSendAs{{Mailbox: "jm@contoso.com"}, {Mailbox: "gone@contoso.com", Missing: true}}
				return s
			},
			check:     func(r Result) string { return cmp.Diff([]manifests.SendAs(nil), r.Document.SendAs) },
			wantNotes: []string{"Nobody holds Send-As on jm@contoso.com", "no mailbox gone@contoso.com"},
		},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			r := Build(tc.snapshot(), now)
			if diff := tc.check(r); diff != "" {
				t.Errorf("build:\n%s", diff)
			}
			out, err := Render(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.wantNotes {
				if !strings.Contains(string(out), want) {
					t.Errorf("the manifest lacks %q:\n%s", want, out)
				}
			}
			docs, diags := manifests.Load("exported.yaml", out, func(string) (string, bool) { return "", false })
			if diags.HasErrors() || len(docs) != 1 {
				t.Fatalf("the manifest does not validate: %v\n%s", diags, out)
			}
			if docs[0].Application.Name != tc.snapshot().App.DisplayName {
				t.Errorf("name read back = %q, want %q", docs[0].Application.Name, tc.snapshot().App.DisplayName)
			}
		})
	}
}
