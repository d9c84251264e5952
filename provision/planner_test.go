package provision

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
)

// Permission ids as the tenant's resource service principals publish them (graph.md §4).
const (
	graphSPID = "sp-graph"
	exoSPID   = "sp-exo"
)

func graphResource() ResourceServicePrincipal {
	scopes := map[string]string{
		"User.Read": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "User.Read.All": "a154be20-db9c-4678-8ab7-66f6cc099a59",
		"Mail.Send": "e383f46e-2787-4529-855e-0e479a3ffac0", "Mail.Send.Shared": "a367ab51-6b49-43bf-a716-a1fb06d2a174",
		"Mail.ReadWrite": "024d486e-b451-40bb-833d-3e66d98c5c73", "offline_access": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
		"SMTP.Send": "258f6531-6087-4cc4-bb90-092c5fb3ed3f", "POP.AccessAsUser.All": "d7b7f2d9-0f45-4ea1-9d42-e50810c06991",
		"IMAP.AccessAsUser.All": "652390e4-393a-48de-9484-05f9b1212954",
	}
	r := ResourceServicePrincipal{ID: graphSPID, AppID: manifests.MicrosoftGraphAppID, DisplayName: "Microsoft Graph"}
	for v, id := range scopes {
		r.Scopes = append(r.Scopes, PermissionScope{ID: id, Value: v, IsEnabled: true, Type: "User"})
	}
	r.AppRoles = []AppRole{
		{ID: "df021288-bdef-4463-88db-98f22de89214", Value: "User.Read.All", IsEnabled: true, AllowedMemberTypes: []string{"Application"}},
		{ID: "b633e1c5-b582-4048-a93e-9f11b44c7e96", Value: "Mail.Send", IsEnabled: true, AllowedMemberTypes: []string{"Application"}},
	}
	return r
}

func exchangeResource() ResourceServicePrincipal {
	return ResourceServicePrincipal{ID: exoSPID, AppID: manifests.ExchangeOnlineAppID, DisplayName: "Office 365 Exchange Online",
		AppRoles: []AppRole{
			{ID: "5e5addcd-3e8d-4e90-baf5-964efab2b20a", Value: "IMAP.AccessAsApp", IsEnabled: true, AllowedMemberTypes: []string{"Application"}},
			{ID: "cb842b43-da6e-4506-86fe-bb12199c656d", Value: "POP.AccessAsApp", IsEnabled: true, AllowedMemberTypes: []string{"Application"}},
			{ID: "7146a1f0-8703-45b3-9eae-527a64c00995", Value: "SMTP.SendAsApp", IsEnabled: true, AllowedMemberTypes: []string{"Application"}},
		},
		Scopes: []PermissionScope{
			{ID: "195adc35-e27b-454b-a7ed-1ecdffa1c09f", Value: "IMAP.AccessAsUser.All", IsEnabled: true, Type: "User"},
			{ID: "76faac2a-0f20-42f1-928a-50de5b9dbe52", Value: "SMTP.Send", IsEnabled: true, Type: "User"},
		},
	}
}

var openfireScopes = []string{"User.Read", "User.Read.All", "Mail.Send", "Mail.Send.Shared", "Mail.ReadWrite",
	"offline_access", "SMTP.Send", "POP.AccessAsUser.All", "IMAP.AccessAsUser.All"}

// openfire is the README's manifest, with positions as the loader records them (one line per key).
func openfire() *manifests.Document {
	d := &manifests.Document{
		APIVersion: manifests.APIVersion,
		Application: manifests.Application{
			Name:         "OpenFire",
			UniqueName:   "openfire-mail",
			Audience:     manifests.MultipleOrgs,
			RedirectURIs: manifests.RedirectURIs{Web: []string{"https://mabase.openfire.fr/microsoft_outlook/confirm"}},
			Permissions: []manifests.Permission{
				{API: "Microsoft Graph", Delegated: append([]string{}, openfireScopes...)},
				{API: "Office 365 Exchange Online", Application: []string{"IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"}},
			},
			AdminConsent: true,
		},
	}
	positions(d)
	return d
}

// positions gives every value of d a position, line numbers in path order, as manifests.Load does.
func positions(d *manifests.Document) {
	p := map[string]manifests.Pos{}
	line := 1
	at := func(path string) { p[path] = manifests.Pos{File: "openfire.yaml", Line: line, Col: 3}; line++ }
	at("")
	at("application")
	at("application.name")
	at("application.redirectUris")
	at("application.redirectUris.web")
	at("application.permissions")
	for i, perm := range d.Application.Permissions {
		at(fmt.Sprintf("application.permissions[%d]", i))
		at(fmt.Sprintf("application.permissions[%d].api", i))
		for j := range perm.Delegated {
			at(fmt.Sprintf("application.permissions[%d].delegated[%d]", i, j))
		}
		for j := range perm.Application {
			at(fmt.Sprintf("application.permissions[%d].application[%d]", i, j))
		}
	}
	at("application.adminConsent")
	d.Source = manifests.Source{File: "openfire.yaml", Positions: p}
}

// appliedOpenfire is the tenant after openfire() was applied.
func appliedOpenfire() *Observed {
	graph, exo := graphResource(), exchangeResource()
	var graphAccess []ResourceAccess
	for _, s := range openfireScopes {
		id, _ := graph.scopeID(s)
		graphAccess = append(graphAccess, ResourceAccess{ID: id, Type: AccessScope})
	}
	var exoAccess []ResourceAccess
	var assignments []AppRoleAssignment
	for i, r := range exo.AppRoles {
		exoAccess = append(exoAccess, ResourceAccess{ID: r.ID, Type: AccessRole})
		assignments = append(assignments, AppRoleAssignment{ID: fmt.Sprintf("ara-%d", i), AppRoleID: r.ID,
			ResourceID: exoSPID, ResourceDisplayName: exo.DisplayName, PrincipalID: "sp-openfire"})
	}
	return &Observed{
		Apps: []ObservedApp{{
			ID: "app-obj", AppID: "11111111-1111-1111-1111-111111111111", DisplayName: "OpenFire", UniqueName: "openfire-mail",
			SignInAudience: "AzureADMultipleOrgs", Web: []string{"https://mabase.openfire.fr/microsoft_outlook/confirm"},
			RequiredResourceAccess: []RequiredResourceAccess{
				{ResourceAppID: manifests.ExchangeOnlineAppID, ResourceAccess: exoAccess}, // order differs from the manifest's: no change
				{ResourceAppID: manifests.MicrosoftGraphAppID, ResourceAccess: graphAccess},
			},
			Tags: []string{ownershipTag},
		}},
		ServicePrincipal: &ObservedServicePrincipal{ID: "sp-openfire", AppID: "11111111-1111-1111-1111-111111111111"},
		Resources:        []ResourceServicePrincipal{graph, exo},
		Grants: []Grant{{ID: "grant-1", ClientID: "sp-openfire", ResourceID: graphSPID, ConsentType: allPrincipals,
			Scope: strings.Join(openfireScopes, " ")}},
		AppRoleAssignments: assignments,
	}
}

// describe renders changes one line per change and attribute, the form the table compares.
func describe(cs []Change) []string {
	var out []string
	for _, c := range cs {
		line := string(c.Action) + " " + c.Address
		if c.Reason != "" {
			line += " (" + c.Reason + ")"
		}
		out = append(out, line)
		for _, a := range c.Attrs {
			switch {
			case a.KnownAfterApply:
				out = append(out, fmt.Sprintf("    %s = (known after apply)", a.Name))
			case a.Before == nil:
				out = append(out, fmt.Sprintf("    %s = %v", a.Name, a.After))
			default:
				out = append(out, fmt.Sprintf("    %s = %v -> %v", a.Name, a.Before, a.After))
			}
		}
	}
	return out
}

func TestPlanDocument(t *testing.T) {
	const app = `application["OpenFire"]`
	graphWarning := func(scopes string, line int) Warning {
		return Warning{
			Address: app + `.consent["Microsoft Graph"].delegated`,
			Message: scopes + " are requested from Microsoft Graph only: IMAP, POP and SMTP tokens are issued for " +
				"Office 365 Exchange Online, so consent to the Graph scopes does not cover them; to pre-consent, " +
				"also list " + scopes + " as delegated under Office 365 Exchange Online",
			Source: manifests.Pos{File: "openfire.yaml", Line: line, Col: 3},
		}
	}
	// The document lists Exchange Online's app-only roles but no mailbox to use them on.
	rolesWarning := Warning{Address: app, Source: manifests.Pos{File: "openfire.yaml", Line: 6, Col: 3},
		Message: "IMAP.AccessAsApp, POP.AccessAsApp, SMTP.SendAsApp grant(s) nothing by themselves: Exchange also needs the application " +
			"registered and FullAccess on each mailbox it signs in to; list those mailboxes under mailboxes with appAccess: true"}
	openfireWarnings := []Warning{graphWarning("SMTP.Send, POP.AccessAsUser.All, IMAP.AccessAsUser.All", 15), rolesWarning}
	sorted := "[IMAP.AccessAsUser.All Mail.ReadWrite Mail.Send Mail.Send.Shared POP.AccessAsUser.All SMTP.Send User.Read User.Read.All offline_access]"

	cases := map[string]struct {
		reason       string
		doc          func() *manifests.Document
		tenant       func() *Observed
		want         []string
		wantWarnings []Warning
		wantErr      string
	}{
		"CreateFromEmpty": {
			reason: "an empty tenant gets the app, its service principal, one grant for the Graph scopes and one assignment per Exchange role",
			doc:    openfire,
			tenant: func() *Observed {
				return &Observed{Resources: []ResourceServicePrincipal{graphResource(), exchangeResource()}}
			},
			want: []string{
				"+ " + app,
				"    name = OpenFire",
				"    uniqueName = openfire-mail",
				"    audience = multiple-orgs",
				"    redirectUris.web = [https://mabase.openfire.fr/microsoft_outlook/confirm]",
				`    permissions["Microsoft Graph"].delegated = ` + sorted,
				`    permissions["Office 365 Exchange Online"].application = [IMAP.AccessAsApp POP.AccessAsApp SMTP.SendAsApp]`,
				"    appId = (known after apply)",
				"    tags = [provision:managed]",
				"+ " + app + ".service_principal",
				"    appId = (known after apply)",
				"    id = (known after apply)",
				"+ " + app + `.consent["Microsoft Graph"].delegated`,
				"    consentType = AllPrincipals",
				"    scope = " + sorted,
				"+ " + app + `.consent["Office 365 Exchange Online"].role["IMAP.AccessAsApp"]`,
				"    appRoleId = 5e5addcd-3e8d-4e90-baf5-964efab2b20a",
				"    id = (known after apply)",
				"+ " + app + `.consent["Office 365 Exchange Online"].role["POP.AccessAsApp"]`,
				"    appRoleId = cb842b43-da6e-4506-86fe-bb12199c656d",
				"    id = (known after apply)",
				"+ " + app + `.consent["Office 365 Exchange Online"].role["SMTP.SendAsApp"]`,
				"    appRoleId = 7146a1f0-8703-45b3-9eae-527a64c00995",
				"    id = (known after apply)",
			},
			wantWarnings: openfireWarnings,
		},
		"NoOp": {
			reason:       "a tenant that matches the manifest, lists in another order, plans nothing",
			doc:          openfire,
			tenant:       appliedOpenfire,
			wantWarnings: openfireWarnings,
		},
		"ScopeRemovedFromGrant": {
			reason: "a scope missing from the grant is put back by updating the grant in place, not recreating it",
			doc:    openfire,
			tenant: func() *Observed {
				o := appliedOpenfire()
				o.Grants[0].Scope = strings.Join(openfireScopes[1:], " ")
				return o
			},
			want: []string{
				"~ " + app + `.consent["Microsoft Graph"].delegated`,
				"    scope = [IMAP.AccessAsUser.All Mail.ReadWrite Mail.Send Mail.Send.Shared POP.AccessAsUser.All SMTP.Send User.Read.All offline_access] -> " + sorted,
			},
			wantWarnings: openfireWarnings,
		},
		"ScopeRemovedFromManifest": {
			reason: "a permission dropped from the manifest leaves the request and the grant",
			doc: func() *manifests.Document {
				d := openfire()
				d.Application.Permissions[0].Delegated = []string{"User.Read", "offline_access"}
				positions(d)
				return d
			},
			tenant: appliedOpenfire,
			want: []string{
				"~ " + app,
				`    permissions["Microsoft Graph"].delegated = ` + sorted + " -> [User.Read offline_access]",
				"~ " + app + `.consent["Microsoft Graph"].delegated`,
				"    scope = " + sorted + " -> [User.Read offline_access]",
			},
			wantWarnings: []Warning{rolesWarning},
		},
		"RedirectURIAdded": {
			reason: "a redirect URI added in the portal is removed: the manifest's list is authoritative",
			doc:    openfire,
			tenant: func() *Observed {
				o := appliedOpenfire()
				o.Apps[0].Web = append(o.Apps[0].Web, "https://evil.example/cb")
				return o
			},
			want: []string{
				"~ " + app,
				"    redirectUris.web = [https://evil.example/cb https://mabase.openfire.fr/microsoft_outlook/confirm] -> [https://mabase.openfire.fr/microsoft_outlook/confirm]",
			},
			wantWarnings: openfireWarnings,
		},
		"GrantDeleted": {
			reason: "a deleted grant is created again",
			doc:    openfire,
			tenant: func() *Observed {
				o := appliedOpenfire()
				o.Grants = nil
				return o
			},
			want: []string{
				"+ " + app + `.consent["Microsoft Graph"].delegated`,
				"    consentType = AllPrincipals",
				"    scope = " + sorted,
			},
			wantWarnings: openfireWarnings,
		},
		"ExtraAppRoleAssignment": {
			reason: "an application permission consented outside the manifest is revoked",
			doc:    openfire,
			tenant: func() *Observed {
				o := appliedOpenfire()
				o.AppRoleAssignments = append(o.AppRoleAssignments, AppRoleAssignment{ID: "ara-x",
					AppRoleID: "b633e1c5-b582-4048-a93e-9f11b44c7e96", ResourceID: graphSPID, PrincipalID: "sp-openfire"})
				return o
			},
			want: []string{
				"- " + app + `.consent["Microsoft Graph"].role["Mail.Send"] (not in the manifest)`,
				"    appRoleId = b633e1c5-b582-4048-a93e-9f11b44c7e96 -> <nil>",
			},
			wantWarnings: openfireWarnings,
		},
		"AdoptPortalApp": {
			reason: "an app of the same name made in the portal (no uniqueName, no tag) is adopted, not duplicated",
			doc:    openfire,
			tenant: func() *Observed {
				o := appliedOpenfire()
				o.Apps[0].UniqueName = ""
				o.Apps[0].Tags = []string{"WindowsAzureActiveDirectoryIntegratedApp"}
				o.Apps[0].SignInAudience = "AzureADMyOrg"
				return o
			},
			want: []string{
				"> " + app + " (adopt existing registration (appId 11111111-1111-1111-1111-111111111111) made outside provision)",
				"    audience = single-org -> multiple-orgs",
				"    tags = [WindowsAzureActiveDirectoryIntegratedApp] -> [WindowsAzureActiveDirectoryIntegratedApp provision:managed]",
			},
			wantWarnings: openfireWarnings,
		},
		"ConsentPending": {
			reason: "without adminConsent existing consent is left alone and the plan says what is unconsented",
			doc: func() *manifests.Document {
				d := openfire()
				d.Application.AdminConsent = false
				d.Application.Permissions[0].Delegated = []string{"User.Read"}
				positions(d)
				return d
			},
			tenant: func() *Observed {
				o := appliedOpenfire()
				o.Grants = nil
				o.AppRoleAssignments = o.AppRoleAssignments[:1]
				o.Apps[0].RequiredResourceAccess[1].ResourceAccess = o.Apps[0].RequiredResourceAccess[1].ResourceAccess[:1]
				return o
			},
			wantWarnings: []Warning{{
				Address: app,
				Message: "admin consent is pending for Microsoft Graph: User.Read; Office 365 Exchange Online: POP.AccessAsApp, SMTP.SendAsApp; set adminConsent: true, or have an administrator grant it",
				Source:  manifests.Pos{File: "openfire.yaml", Line: 15, Col: 3},
			}, rolesWarning},
		},
		"AmbiguousName": {
			reason: "two apps with the manifest's name and no uniqueName cannot be told apart",
			doc:    openfire,
			tenant: func() *Observed {
				o := appliedOpenfire()
				o.Apps[0].UniqueName = ""
				o.Apps = append(o.Apps, ObservedApp{ID: "other", AppID: "22222222-2222-2222-2222-222222222222", DisplayName: "OpenFire"})
				return o
			},
			wantErr: `openfire.yaml:3:3: application.name: 2 applications are named "OpenFire" (appIds 11111111-1111-1111-1111-111111111111, 22222222-2222-2222-2222-222222222222): set application.appId or application.uniqueName to say which one`,
		},
		"UnknownPermissionAndWrongKind": {
			reason: "every bad name is reported at its line, with the closest names and the right list for a misplaced one",
			doc: func() *manifests.Document {
				d := openfire()
				d.Application.Permissions[0].Delegated = []string{"Mail.Sned", "User.Read"}
				d.Application.Permissions[1].Application = []string{"SMTP.Send"}
				positions(d)
				return d
			},
			tenant: appliedOpenfire,
			wantErr: "openfire.yaml:9:3: application.permissions[0].delegated[0]: Microsoft Graph has no delegated permission \"Mail.Sned\" (did you mean \"Mail.Send\"?)\n" +
				"openfire.yaml:13:3: application.permissions[1].application[0]: \"SMTP.Send\" is a delegated permission of Office 365 Exchange Online, not an application one: list it under delegated",
		},
		"AmbiguousAPI": {
			reason: "an api named by a display name two service principals share asks for the appId",
			doc: func() *manifests.Document {
				d := openfire()
				d.Application.Permissions = []manifests.Permission{{API: "Contoso API", Delegated: []string{"read"}}}
				positions(d)
				return d
			},
			tenant: func() *Observed {
				o := appliedOpenfire()
				o.Resources = append(o.Resources,
					ResourceServicePrincipal{ID: "c1", AppID: "33333333-3333-3333-3333-333333333333", DisplayName: "Contoso API"},
					ResourceServicePrincipal{ID: "c2", AppID: "44444444-4444-4444-4444-444444444444", DisplayName: "Contoso API"})
				return o
			},
			wantErr: `openfire.yaml:8:3: application.permissions[0].api: api "Contoso API": 2 service principals have this display name (appIds 33333333-3333-3333-3333-333333333333, 44444444-4444-4444-4444-444444444444); write the appId instead`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			changes, warnings, err := PlanDocument(DesiredFromDocument(tc.doc()), tc.tenant(), PlanOptions{})
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tc.wantErr, gotErr); diff != "" {
				t.Fatalf("%s\nPlanDocument(...) error -want +got:\n%s", tc.reason, diff)
			}
			if diff := cmp.Diff(tc.want, describe(changes)); diff != "" {
				t.Errorf("%s\nPlanDocument(...) changes -want +got:\n%s", tc.reason, diff)
			}
			if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("%s\nPlanDocument(...) warnings -want +got:\n%s", tc.reason, diff)
			}
		})
	}
}
