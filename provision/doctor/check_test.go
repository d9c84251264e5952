package doctor

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/rights"
)

func TestCheck(t *testing.T) {
	everything := rights.Steps(rights.Everything())
	for _, tc := range []struct {
		reason    string
		held      Held
		need      rights.Need
		wantFixes []rights.Right
	}{
		{
			reason:    "an application with nothing needs the least-privileged grant of each step, the broader ones absorbing the narrower (Exchange Administrator, which registering the app in Exchange needs, covers Send-As and mailbox access too)",
			held:      Held{AppOnly: true},
			need:      rights.Everything(),
			wantFixes: []rights.Right{perm("Application.ReadWrite.All"), perm("DelegatedPermissionGrant.ReadWrite.All"), perm("AppRoleAssignment.ReadWrite.All"), perm("User.Read.All"), perm("Group.Read.All"), exoPerm("Exchange.ManageAsApp"), role(rights.RoleExchangeAdmin)},
		},
		{
			reason:    "a read-only run (no consent, assignments or Send-As) of an identity with nothing",
			held:      Held{AppOnly: true},
			need:      rights.Need{},
			wantFixes: []rights.Right{perm("DelegatedPermissionGrant.Read.All"), perm("Application.ReadWrite.All")},
		},
		{
			reason: "Application.ReadWrite.OwnedBy is accepted (for owned applications) and Directory.Read.All covers every read",
			held:   Held{AppOnly: true, Graph: []string{"Application.ReadWrite.OwnedBy", "Directory.Read.All", "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All"}},
			need:   rights.Need{DelegatedConsent: true, ApplicationConsent: true, Assignments: true, Users: true, Groups: true},
		},
		{
			reason:    "Exchange Online's application permissions do not need Privileged Role Administrator: a Cloud Application Administrator user may consent them",
			held:      Held{Graph: []string{"Directory.AccessAsUser.All"}, Roles: []string{rights.RoleCloudApplicationAdmin}},
			need:      rights.Need{DelegatedConsent: true, ApplicationConsent: true},
			wantFixes: nil,
		},
		{
			reason:    "Microsoft Graph's application permissions need Privileged Role Administrator for a user",
			held:      Held{Graph: []string{"Directory.AccessAsUser.All"}, Roles: []string{rights.RoleCloudApplicationAdmin}},
			need:      rights.Need{ApplicationConsent: true, GraphAppRoles: true},
			wantFixes: []rights.Right{role(rights.RolePrivilegedRoleAdmin)},
		},
		{
			reason:    "a user whose token lacks a scope for writing applications is told which scope",
			held:      Held{Graph: []string{"User.Read"}, Roles: []string{rights.RoleApplicationAdmin}},
			need:      rights.Need{},
			wantFixes: []rights.Right{perm("DelegatedPermissionGrant.Read.All"), perm("Application.ReadWrite.All")},
		},
		{
			reason: "Exchange Administrator serves Send-As as well as Exchange Recipient Administrator",
			held:   Held{AppOnly: true, Graph: []string{"Application.ReadWrite.All", "DelegatedPermissionGrant.Read.All", "User.Read.All", "Group.Read.All"}, Exchange: []string{"Exchange.ManageAsApp"}, Roles: []string{rights.RoleExchangeAdmin}},
			need:   rights.Need{SendAs: true, Users: true, Groups: true},
		},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			rep := Check(tc.held, rights.Steps(tc.need))
			want := tc.wantFixes
			if want == nil {
				want = []rights.Right{}
			}
			if diff := cmp.Diff(want, rep.Fixes); diff != "" {
				t.Errorf("fixes -want +got:\n%s", diff)
			}
			if again := Check(tc.held.with(rep.Fixes), rights.Steps(tc.need)); !again.OK() {
				t.Errorf("granting the fixes leaves %v", again.Fixes)
			}
		})
	}
	if len(everything) != 11 {
		t.Errorf("Steps(rights.Everything()) has %d steps, want all 11", len(everything))
	}
}

func TestNeedOf(t *testing.T) {
	doc := func(edit func(*manifests.Document)) []*manifests.Document {
		d := &manifests.Document{Application: manifests.Application{Name: "A"}}
		edit(d)
		return []*manifests.Document{d}
	}
	for _, tc := range []struct {
		reason string
		docs   []*manifests.Document
		want   rights.Need
	}{
		{reason: "a bare application reads and writes only", docs: doc(func(*manifests.Document) {}), want: rights.Need{}},
		{
			reason: "permissions without adminConsent grant nothing",
			docs: doc(func(d *manifests.Document) {
				d.Application.Permissions = []manifests.Permission{{API: "Microsoft Graph", Delegated: []string{"User.Read"}, Application: []string{"User.Read.All"}}}
			}),
			want: rights.Need{},
		},
		{
			reason: "adminConsent with Graph application permissions",
			docs: doc(func(d *manifests.Document) {
				d.Application.AdminConsent = true
				d.Application.Permissions = []manifests.Permission{{API: "Microsoft Graph", Delegated: []string{"User.Read"}, Application: []string{"User.Read.All"}}}
			}),
			want: rights.Need{DelegatedConsent: true, ApplicationConsent: true, GraphAppRoles: true},
		},
		{
			reason: "assignments with users only, and Send-As, which looks trustees up as users and groups",
			docs: doc(func(d *manifests.Document) {
				d.Application.Assignments = &manifests.Assignments{Users: []string{"a@b.c"}}
				d.SendAs = []manifests.SendAs{{Mailbox: "a@b.c", Trustees: []string{"d@b.c"}}}
			}),
			want: rights.Need{Assignments: true, Users: true, Groups: true, SendAs: true},
		},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, NeedOf(tc.docs)); diff != "" {
				t.Errorf("NeedOf -want +got:\n%s", diff)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	s := SignedIn{Held: Held{AppOnly: true, Graph: []string{"Application.ReadWrite.All"}}}
	s.Identity.AppID = "7d1f5a2c-3b4e-4f60-9a8b-0c1d2e3f4a5b"
	got := Warnings(s, Check(s.Held, rights.Steps(rights.Need{DelegatedConsent: true})))
	want := []string{
		"the signed-in identity 7d1f5a2c-3b4e-4f60-9a8b-0c1d2e3f4a5b cannot read the application's delegated permission grants: missing: grant DelegatedPermissionGrant.ReadWrite.All (provision doctor explains)",
		"the signed-in identity 7d1f5a2c-3b4e-4f60-9a8b-0c1d2e3f4a5b cannot grant admin consent to delegated permissions: missing: grant DelegatedPermissionGrant.ReadWrite.All (provision doctor explains)",
	}
	var msgs []string
	for _, w := range got {
		if w.Kind != WarningRights {
			t.Errorf("warning kind = %q, want %q", w.Kind, WarningRights)
		}
		msgs = append(msgs, w.Message)
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("warnings -want +got:\n%s", diff)
	}
}

func exoPerm(name string) rights.Right {
	return rights.Right{Kind: rights.ExchangePermission, Name: name}
}
func role(name string) rights.Right { return rights.Right{Kind: rights.DirectoryRole, Name: name} }
