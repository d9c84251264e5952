package exchangesim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/clock"
)

const (
	appID       = "5c2f0d8e-8a41-4a51-9b1e-0f6a2b7c9d10"
	spObjectID  = "a1b2c3d4-0000-4000-8000-000000000001" // the enterprise application's object id
	appObjectID = "a1b2c3d4-0000-4000-8000-000000000002" // the app registration's: the classic mistake
)

// step is one cmdlet call of a scenario and what its answer must show.
type step struct {
	reason      string
	token       string // "" means admin
	cmdlet      string
	params      map[string]any
	wantStatus  int
	wantWarning string                // a substring of the warnings; "" wants none
	check       func(a answer) string // "" when the answer is right, else what is wrong
}

func runSteps(t *testing.T, s *Server, steps []step) {
	t.Helper()
	ts := harness(t, s)
	for _, st := range steps {
		token := st.token
		if token == "" {
			token = "admin"
		}
		a := invoke(t, ts, token, st.cmdlet, st.params)
		if a.Status != st.wantStatus {
			t.Fatalf("%s: status %d, want %d (body %.300s)", st.reason, a.Status, st.wantStatus, a.Body)
		}
		got := strings.Join(a.Warnings, "\n")
		if (st.wantWarning == "") != (got == "") || !strings.Contains(got, st.wantWarning) {
			t.Errorf("%s: warnings %q, want one containing %q", st.reason, a.Warnings, st.wantWarning)
		}
		if st.check != nil {
			if wrong := st.check(a); wrong != "" {
				t.Errorf("%s: %s", st.reason, wrong)
			}
		}
	}
}

func detailHas(sub string) func(answer) string {
	return func(a answer) string {
		if !strings.Contains(a.Detail, sub) {
			return "detail " + a.Detail + ", want it to contain " + sub
		}
		return ""
	}
}

func values(want ...map[string]any) func(answer) string {
	return func(a answer) string {
		if diff := cmp.Diff(want, a.Values); diff != "" {
			return "values (-want +got):\n" + diff
		}
		return ""
	}
}

func TestServicePrincipalLifecycle(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	s := New(testDirectory(), nil, Options{Clock: fc})
	byApp := map[string]any{"Identity": appID}
	created := func(a answer) string {
		if len(a.Values) != 1 {
			return "want one object"
		}
		v := a.Values[0]
		if v["AppId"] != appID || v["ObjectId"] != spObjectID || v["Identity"] != spObjectID || v["DisplayName"] != "OpenFire" {
			return "object " + a.Body
		}
		return ""
	}
	runSteps(t, s, []step{
		{reason: "an application never registered is not found", cmdlet: "Get-ServicePrincipal", params: byApp, wantStatus: 400,
			check: detailHas("ManagementObjectNotFoundException|The operation couldn't be performed because object '" + appID + "' couldn't be found")},
		{reason: "an Exchange Recipient Administrator cannot register one", token: "recipient", cmdlet: "New-ServicePrincipal",
			params: map[string]any{"AppId": appID, "ObjectId": spObjectID}, wantStatus: 403},
		{reason: "New-ServicePrincipal echoes the pointer", cmdlet: "New-ServicePrincipal",
			params: map[string]any{"AppId": appID, "ObjectId": spObjectID, "DisplayName": "OpenFire"}, wantStatus: 200, check: created},
		{reason: "a second registration of the same AppId is an error, not a warning", cmdlet: "New-ServicePrincipal",
			params: map[string]any{"AppId": appID, "ObjectId": spObjectID}, wantStatus: 400, check: detailHas("already exist")},
		{reason: "it is found by AppId", cmdlet: "Get-ServicePrincipal", params: byApp, wantStatus: 200, check: created},
		{reason: "and by ObjectId", cmdlet: "Get-ServicePrincipal", params: map[string]any{"Identity": spObjectID}, wantStatus: 200, check: created},
		{reason: "without Identity every pointer is listed", cmdlet: "Get-ServicePrincipal", params: map[string]any{}, wantStatus: 200, check: created},
		{reason: "reading pointers needs Exchange Administrator too", token: "recipient", cmdlet: "Get-ServicePrincipal", params: byApp, wantStatus: 403},
		{reason: "Remove-ServicePrincipal by AppId", cmdlet: "Remove-ServicePrincipal", params: map[string]any{"Identity": appID, "Confirm": false}, wantStatus: 200},
		{reason: "removing it again is not found", cmdlet: "Remove-ServicePrincipal", params: map[string]any{"Identity": appID}, wantStatus: 400,
			check: detailHas("couldn't be found")},
		{reason: "the deprecated ServiceId binds as ObjectId", cmdlet: "New-ServicePrincipal",
			params: map[string]any{"AppId": appID, "ServiceId": spObjectID, "DisplayName": "OpenFire"}, wantStatus: 200, check: created},
		{reason: "ObjectId is mandatory", cmdlet: "New-ServicePrincipal", params: map[string]any{"AppId": "other"}, wantStatus: 400,
			check: detailHas("missing mandatory parameters: ObjectId")},
	})
	if got := s.ServicePrincipals(); len(got) != 1 || !got[0].Created.Equal(fc.Now()) {
		t.Errorf("pointers %+v, want the one registered now", got)
	}
}

func TestUnknownPointerIdentityListsAll(t *testing.T) {
	s := New(testDirectory(), nil, Options{Faults: Faults{UnknownIdentityListsAll: true}})
	s.RegisterServicePrincipal("other-app", "other-sp", "Other")
	runSteps(t, s, []step{{reason: "the documented caution: an unknown Identity returns every object", cmdlet: "Get-ServicePrincipal",
		params: map[string]any{"Identity": appID}, wantStatus: 200, check: func(a answer) string {
			if len(a.Values) != 1 || a.Values[0]["AppId"] != "other-app" {
				return a.Body
			}
			return ""
		}}})
}

// explicitRows keeps the rows a reconciler looks at: not inherited, not SELF.
func explicitRows(a answer) []string {
	var out []string
	for _, v := range a.Values {
		if v["IsInherited"] == true || v["User"] == SelfTrustee {
			continue
		}
		rights := v["AccessRights"]
		if list, ok := rights.([]any); ok {
			var parts []string
			for _, r := range list {
				parts = append(parts, r.(string))
			}
			rights = strings.Join(parts, ",")
		}
		line := v["User"].(string) + ":" + rights.(string)
		if v["Deny"] == true {
			line += ":deny"
		}
		out = append(out, line)
	}
	return out
}

func rows(want ...string) func(answer) string {
	return func(a answer) string {
		if diff := cmp.Diff(want, explicitRows(a)); diff != "" {
			return "explicit rows (-want +got):\n" + diff
		}
		return ""
	}
}

func TestMailboxPermissionLifecycle(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	s := New(testDirectory(), nil, Options{Clock: fc, Faults: Faults{ServicePrincipalLag: time.Minute}})
	s.RegisterServicePrincipal(appID, spObjectID, "OpenFire")
	if err := s.SeedMailboxPermission("shared@contoso.com", PermissionSeed{User: "bob@contoso.com"}); err != nil {
		t.Fatal(err)
	}
	get := map[string]any{"Identity": "shared@contoso.com"}
	grant := map[string]any{"Identity": "shared@contoso.com", "User": spObjectID, "AccessRights": []string{"FullAccess"},
		"InheritanceType": "all", "AutoMapping": false, "Confirm": false}
	revoke := map[string]any{"Identity": "shared@contoso.com", "User": spObjectID, "AccessRights": []string{"FullAccess"}, "Confirm": false}
	steps := []step{
		{reason: "a pointer registered a moment ago is not resolved yet", cmdlet: "Add-MailboxPermission", params: grant, wantStatus: 400,
			check: detailHas("'" + spObjectID + "' wasn't found")},
	}
	runSteps(t, s, steps)
	fc.Advance(time.Minute)
	runSteps(t, s, []step{
		{reason: "the default rows: SELF and the inherited system entries, and bob's seeded grant", cmdlet: "Get-MailboxPermission", params: get, wantStatus: 200,
			check: func(a answer) string {
				if len(a.Values) != 11 || a.Values[0]["User"] != SelfTrustee || a.Values[1]["Deny"] != true || a.Values[1]["IsInherited"] != true {
					return a.Body
				}
				return rows("bob@contoso.com:FullAccess")(a)
			}},
		{reason: "an Exchange Recipient Administrator grants FullAccess to the pointer", token: "recipient", cmdlet: "Add-MailboxPermission",
			params: grant, wantStatus: 200, check: rows(spObjectID + ":FullAccess")},
		{reason: "granting it again warns that the entry is present", cmdlet: "Add-MailboxPermission", params: grant, wantStatus: 200,
			wantWarning: "The appropriate access control entry is already present"},
		{reason: "the pointer's row shows next to bob's", cmdlet: "Get-MailboxPermission", params: get, wantStatus: 200,
			check: rows("bob@contoso.com:FullAccess", spObjectID+":FullAccess")},
		{reason: "-User filters on the server; AppId names the pointer too", cmdlet: "Get-MailboxPermission",
			params: map[string]any{"Identity": "shared@contoso.com", "User": appID}, wantStatus: 200, check: rows(spObjectID + ":FullAccess")},
		{reason: "a Deny entry is added beside the Allow", cmdlet: "Add-MailboxPermission",
			params: map[string]any{"Identity": "shared@contoso.com", "User": "alice", "AccessRights": "FullAccess", "Deny": true}, wantStatus: 200},
		{reason: "Remove-MailboxPermission takes the pointer's FullAccess away", cmdlet: "Remove-MailboxPermission", params: revoke, wantStatus: 200},
		{reason: "removing it again warns that the ACE doesn't exist", cmdlet: "Remove-MailboxPermission", params: revoke, wantStatus: 200,
			wantWarning: "because the ACE doesn't exist on the object."},
		{reason: "bob's grant and alice's Deny are untouched", cmdlet: "Get-MailboxPermission", params: get, wantStatus: 200,
			check: rows("bob@contoso.com:FullAccess", "alice@contoso.onmicrosoft.com:FullAccess:deny")},
		{reason: "an unknown right is a binding error", cmdlet: "Add-MailboxPermission",
			params: map[string]any{"Identity": "shared@contoso.com", "User": "bob", "AccessRights": "Full"}, wantStatus: 400,
			check: detailHas("Unable to match the identifier name Full")},
		{reason: "a group is not a mailbox", cmdlet: "Get-MailboxPermission", params: map[string]any{"Identity": "sales@contoso.com"}, wantStatus: 400,
			check: detailHas("couldn't be found")},
		{reason: "an unknown user is not found", cmdlet: "Add-MailboxPermission",
			params: map[string]any{"Identity": "shared@contoso.com", "User": "ghost", "AccessRights": "FullAccess"}, wantStatus: 400,
			check: detailHas("'ghost' wasn't found")},
	})
}

func TestRemovedPointerLeavesAnOrphan(t *testing.T) {
	s := New(testDirectory(), nil, Options{})
	sp := s.RegisterServicePrincipal(appID, spObjectID, "OpenFire")
	if err := s.SeedMailboxPermission("bob@contoso.com", PermissionSeed{User: appID}); err != nil {
		t.Fatal(err)
	}
	runSteps(t, s, []step{
		{reason: "removing the pointer", cmdlet: "Remove-ServicePrincipal", params: map[string]any{"Identity": spObjectID}, wantStatus: 200},
		{reason: "its ACE now prints as a SID", cmdlet: "Get-MailboxPermission", params: map[string]any{"Identity": "bob"}, wantStatus: 200,
			check: rows(orphanSID(sp.Guid) + ":FullAccess")},
		{reason: "a new registration of the same application does not inherit it", cmdlet: "New-ServicePrincipal",
			params: map[string]any{"AppId": appID, "ObjectId": spObjectID}, wantStatus: 200},
		{reason: "the orphan can be removed by its SID", cmdlet: "Remove-MailboxPermission",
			params: map[string]any{"Identity": "bob", "User": orphanSID(sp.Guid), "AccessRights": "FullAccess"}, wantStatus: 200},
		{reason: "nothing explicit is left", cmdlet: "Get-MailboxPermission", params: map[string]any{"Identity": "bob"}, wantStatus: 200, check: rows()},
	})
	inspected, err := s.MailboxPermissionRows("bob@contoso.com")
	if err != nil || len(inspected) != 10 || inspected[0].User != SelfTrustee {
		t.Errorf("MailboxPermissionRows: %d rows, %v; want the ten defaults", len(inspected), err)
	}
}

func TestPrincipalUserFormsAndStringRights(t *testing.T) {
	for _, tc := range []struct {
		reason string
		faults Faults
		want   string
	}{
		{"by default the pointer prints as its object id", Faults{}, spObjectID + ":FullAccess"},
		{"it may print as its display name", Faults{PrincipalUser: PrincipalByDisplayName}, "OpenFire:FullAccess"},
		{"or as its AppId", Faults{PrincipalUser: PrincipalByAppID}, appID + ":FullAccess"},
		{"AccessRights may come as one string", Faults{AccessRightsAsString: true}, spObjectID + ":FullAccess, ReadPermission"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			s := New(testDirectory(), nil, Options{Faults: tc.faults})
			s.RegisterServicePrincipal(appID, spObjectID, "OpenFire")
			if err := s.SeedMailboxPermission("bob", PermissionSeed{User: spObjectID, AccessRights: []string{"FullAccess", "ReadPermission"}}); err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if !tc.faults.AccessRightsAsString {
				want += ",ReadPermission"
			}
			runSteps(t, s, []step{{reason: tc.reason, cmdlet: "Get-MailboxPermission", params: map[string]any{"Identity": "bob"}, wantStatus: 200, check: rows(want)}})
		})
	}
}

func TestCASMailboxAndTransportConfig(t *testing.T) {
	s := New(testDirectory(), nil, Options{})
	get := map[string]any{"Identity": "bob@contoso.com"}
	smtp := func(want any) func(answer) string {
		return func(a answer) string {
			if len(a.Values) != 1 {
				return a.Body
			}
			v := a.Values[0]
			if v["SmtpClientAuthenticationDisabled"] != want || v["PrimarySmtpAddress"] != "bob@contoso.com" || v["ImapEnabled"] != true || v["PopEnabled"] != true {
				return a.Body
			}
			return ""
		}
	}
	set := func(v any) map[string]any {
		return map[string]any{"Identity": "bob@contoso.com", "SmtpClientAuthenticationDisabled": v}
	}
	orgDisabled := func(want bool) func(answer) string {
		return values(map[string]any{"SmtpClientAuthenticationDisabled": want})
	}
	runSteps(t, s, []step{
		{reason: "a mailbox's switch is blank by default", cmdlet: "Get-CASMailbox", params: get, wantStatus: 200, check: smtp(nil)},
		{reason: "the organisation's is on (disabled), as for tenants created since 2020", cmdlet: "Get-TransportConfig", params: map[string]any{}, wantStatus: 200,
			check: orgDisabled(true)},
		{reason: "reading it needs View-Only Configuration, which recipient administrators lack", token: "recipient", cmdlet: "Get-TransportConfig",
			params: map[string]any{}, wantStatus: 403},
		{reason: "an Exchange Recipient Administrator enables SMTP AUTH for the mailbox", token: "recipient", cmdlet: "Set-CASMailbox", params: set(false), wantStatus: 200},
		{reason: "it reads back false", cmdlet: "Get-CASMailbox", params: get, wantStatus: 200, check: smtp(false)},
		{reason: "setting the same value again warns that nothing changed", cmdlet: "Set-CASMailbox", params: set(false), wantStatus: 200,
			wantWarning: "The command completed successfully but no settings of 'bob' have been modified."},
		{reason: "PowerShell's string forms bind", cmdlet: "Set-CASMailbox", params: set("$True"), wantStatus: 200},
		{reason: "it reads back true", cmdlet: "Get-CASMailbox", params: get, wantStatus: 200, check: smtp(true)},
		{reason: "JSON null blanks it: the organisation decides again", cmdlet: "Set-CASMailbox", params: set(nil), wantStatus: 200},
		{reason: "blank again", cmdlet: "Get-CASMailbox", params: get, wantStatus: 200, check: smtp(nil)},
		{reason: "a value that is no boolean is a binding error", cmdlet: "Set-CASMailbox", params: set("yes"), wantStatus: 400,
			check: detailHas("Cannot convert value \"yes\" to type \"System.Boolean\"")},
		{reason: "ImapEnabled is not nullable", cmdlet: "Set-CASMailbox", params: map[string]any{"Identity": "bob", "ImapEnabled": nil}, wantStatus: 400,
			check: detailHas("ImapEnabled")},
		{reason: "an unknown mailbox is not found", cmdlet: "Set-CASMailbox", params: map[string]any{"Identity": "ghost@contoso.com", "SmtpClientAuthenticationDisabled": false},
			wantStatus: 400, check: detailHas("couldn't be found")},
		{reason: "a parameter the fake does not model is refused as unknown", cmdlet: "Set-CASMailbox", params: map[string]any{"Identity": "bob", "OWAEnabled": false},
			wantStatus: 400, check: detailHas("A parameter cannot be found that matches parameter name 'OWAEnabled'")},
	})
	if c, err := s.CAS("bob"); err != nil || c.SmtpClientAuthenticationDisabled != nil || c.ImapDisabled {
		t.Errorf("CAS after the steps: %+v, %v; want the switch blank and IMAP on", c, err)
	}
	s.SetOrganizationSMTPAuth(false)
	runSteps(t, s, []step{{reason: "the organisation's switch as seeded", cmdlet: "Get-TransportConfig", params: map[string]any{}, wantStatus: 200, check: orgDisabled(false)}})
}

func TestMailboxAccess(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	s := New(testDirectory(), nil, Options{Clock: fc})
	if _, ok := s.MailboxAccess("sales@contoso.com", appID); ok {
		t.Errorf("a group is not a mailbox one can log in to")
	}
	a, _ := s.MailboxAccess("bob@contoso.com", appID)
	if a.SMTPAuthDisabledBy != "Tenant" || a.ServicePrincipal != nil || !a.FullAccessSince.IsZero() || !a.ImapEnabled || !a.PopEnabled {
		t.Errorf("fresh tenant: %+v, want SMTP AUTH off by the tenant, no pointer, no FullAccess", a)
	}
	off := true
	if err := s.SetSMTPAuth("bob", &off); err != nil {
		t.Fatal(err)
	}
	s.SetOrganizationSMTPAuth(false)
	if a, _ := s.MailboxAccess("bob@contoso.com", appID); a.SMTPAuthDisabledBy != "Mailbox" {
		t.Errorf("mailbox switch on: disabled by %q, want Mailbox", a.SMTPAuthDisabledBy)
	}
	if err := s.SetSMTPAuth("bob", nil); err != nil {
		t.Fatal(err)
	}
	sp := s.RegisterServicePrincipal(appID, appObjectID, "OpenFire")
	fc.Advance(time.Minute)
	if err := s.SeedMailboxPermission("bob", PermissionSeed{User: appID}); err != nil {
		t.Fatal(err)
	}
	a, _ = s.MailboxAccess("bob@contoso.com", appID)
	if a.SMTPAuthDisabledBy != "" || a.ServicePrincipal == nil || a.ServicePrincipal.ObjectID != sp.ObjectID || !a.FullAccessSince.Equal(fc.Now()) {
		t.Errorf("registered and granted: %+v", a)
	}
	if err := s.SeedMailboxPermission("bob", PermissionSeed{User: appID, Deny: true}); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.MailboxAccess("bob", appID); !a.FullAccessSince.IsZero() {
		t.Errorf("a Deny FullAccess entry must override the grant")
	}
	if err := s.SeedMailboxPermission("shared@contoso.com", PermissionSeed{User: "alice@contoso.com"}); err != nil {
		t.Fatal(err)
	}
	if !s.HasFullAccess("shared@contoso.com", "22222222-2222-2222-2222-222222222222") || s.HasFullAccess("shared@contoso.com", "bob") {
		t.Errorf("HasFullAccess: alice holds it on the shared mailbox, bob does not")
	}
	if err := s.SetProtocols("bob", false, true); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.MailboxAccess("bob", appID); a.ImapEnabled || !a.PopEnabled {
		t.Errorf("protocols %+v, want IMAP off and POP on", a)
	}
}

// TestStatePersists checks that the whole mailbox side survives a save and a load, as the
// state file of --simulate needs.
func TestStatePersists(t *testing.T) {
	s := New(testDirectory(), nil, Options{})
	s.RegisterServicePrincipal(appID, spObjectID, "OpenFire")
	if err := s.SeedMailboxPermission("bob", PermissionSeed{User: appID}); err != nil {
		t.Fatal(err)
	}
	off := false
	if err := s.SetSMTPAuth("bob", &off); err != nil {
		t.Fatal(err)
	}
	s.SetOrganizationSMTPAuth(true)
	raw, err := json.Marshal(s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	loaded := New(testDirectory(), &st, Options{})
	if diff := cmp.Diff(s.Snapshot(), loaded.Snapshot()); diff != "" {
		t.Errorf("state after a round trip (-saved +loaded):\n%s", diff)
	}
	want, _ := s.MailboxAccess("bob", appID)
	got, _ := loaded.MailboxAccess("bob", appID)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access after a round trip (-saved +loaded):\n%s", diff)
	}
}
