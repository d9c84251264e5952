package provision_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/simtenant"
)

// mailManifest is a manifest with the mailbox side: jm's mailbox with SMTP AUTH and app-only
// access as given, and the app-only roles that use them.
func mailManifest(tb testing.TB, jmAppAccess bool) []*manifests.Document {
	tb.Helper()
	src := `apiVersion: provision/v1
application:
  name: Mailer
  uniqueName: mailer
  permissions:
    - api: Office 365 Exchange Online
      application: [IMAP.AccessAsApp, SMTP.SendAsApp]
  adminConsent: true
mailboxes:
  - address: jm@office.openfire.pro
    smtpAuth: enabled
    appAccess: ` + map[bool]string{true: "true", false: "false"}[jmAppAccess] + `
`
	docs, diags := manifests.Parse("mail.yaml", []byte(src), func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		tb.Fatal(diags)
	}
	return docs
}

// mailState is what Exchange holds of the mailbox side of the Mailer app: its registration's
// object id ("" when not registered), whether it holds FullAccess on jm, and jm's SMTP AUTH.
func (f *fixture) mailState(tb testing.TB) (registered string, fullAccess bool, smtpAuth string) {
	tb.Helper()
	ctx := context.Background()
	unique := "mailer"
	app, err := f.engine.Graph.Graph.ApplicationsWithUniqueName(&unique).Get(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, sp := range f.tenant.Exchange().ServicePrincipals() {
		if strings.EqualFold(sp.AppID, *app.GetAppId()) {
			registered = sp.ObjectID
		}
	}
	access, ok := f.tenant.Exchange().MailboxAccess("jm@office.openfire.pro", *app.GetAppId())
	if !ok {
		tb.Fatal("jm has no mailbox in the simulated Exchange")
	}
	fullAccess = !access.FullAccessSince.IsZero()
	cas, err := f.tenant.Exchange().CAS("jm@office.openfire.pro")
	if err != nil {
		tb.Fatal(err)
	}
	switch d := cas.SmtpClientAuthenticationDisabled; {
	case d == nil:
		smtpAuth = "organization"
	case *d:
		smtpAuth = "disabled"
	default:
		smtpAuth = "enabled"
	}
	return registered, fullAccess, smtpAuth
}

func TestMailboxSideConvergesAndDriftIsRepaired(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	docs := mailManifest(t, true)
	f.applyAndWait(t, docs)
	registered, fullAccess, smtpAuth := f.mailState(t)
	if registered == "" || !fullAccess || smtpAuth != "enabled" {
		t.Fatalf("after apply: registered %q, FullAccess %v, SMTP AUTH %q; want registered, true, enabled", registered, fullAccess, smtpAuth)
	}
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Fatalf("plan after apply -want +got:\n%s", diff)
	}

	// Someone removes the FullAccess and turns SMTP AUTH off in the Exchange admin center.
	if _, err := f.tenant.Exchange().RevokeMailboxPermissions("jm@office.openfire.pro", registered); err != nil {
		t.Fatal(err)
	}
	off := true
	if err := f.tenant.Exchange().SetSMTPAuth("jm@office.openfire.pro", &off); err != nil {
		t.Fatal(err)
	}
	drift := f.plan(t, docs)
	want := []string{`~ mailbox["jm@office.openfire.pro"].smtp_auth`, `+ mailbox["jm@office.openfire.pro"].full_access`}
	if diff := cmp.Diff(want, lines(drift)); diff != "" {
		t.Fatalf("plan after drift -want +got:\n%s", diff)
	}
	f.applyAndWait(t, docs)
	if _, fullAccess, smtpAuth := f.mailState(t); !fullAccess || smtpAuth != "enabled" {
		t.Errorf("after repair: FullAccess %v, SMTP AUTH %q", fullAccess, smtpAuth)
	}
}

func TestAppAccessFalseRemovesAccessAndTheRegistration(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	f.applyAndWait(t, mailManifest(t, true))
	docs := mailManifest(t, false)
	p := f.plan(t, docs)
	want := []string{`- application["Mailer"].exchange_service_principal`, `- mailbox["jm@office.openfire.pro"].full_access`}
	if diff := cmp.Diff(want, lines(p)); diff != "" {
		t.Fatalf("plan with appAccess false -want +got:\n%s", diff)
	}
	f.applyAndWait(t, docs)
	if registered, fullAccess, _ := f.mailState(t); registered != "" || fullAccess {
		t.Errorf("after appAccess false: registered %q, FullAccess %v; want neither", registered, fullAccess)
	}
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Errorf("plan after apply -want +got:\n%s", diff)
	}
}

func TestRegistrationWithTheAppObjectIDIsReplaced(t *testing.T) {
	// The classic mistake: New-ServicePrincipal given the app registration's object id instead
	// of the enterprise application's. Exchange accepts it, and every app-only login fails.
	f := newFixture(t, simtenant.Faults{})
	docs := mailManifest(t, true)
	f.applyAndWait(t, docs)
	ctx := context.Background()
	unique := "mailer"
	app, err := f.engine.Graph.Graph.ApplicationsWithUniqueName(&unique).Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	registered, _, _ := f.mailState(t)
	if _, err := f.tenant.Exchange().RevokeMailboxPermissions("jm@office.openfire.pro", registered); err != nil {
		t.Fatal(err)
	}
	if err := f.engine.Exchange.RemoveServicePrincipal(ctx, *app.GetAppId()); err != nil {
		t.Fatal(err)
	}
	f.tenant.Exchange().RegisterServicePrincipal(*app.GetAppId(), *app.GetId(), "Mailer")
	p := f.plan(t, docs)
	want := []string{`~ application["Mailer"].exchange_service_principal`, `+ mailbox["jm@office.openfire.pro"].full_access`}
	if diff := cmp.Diff(want, lines(p)); diff != "" {
		t.Fatalf("plan with a wrong registration -want +got:\n%s", diff)
	}
	if !strings.Contains(p.Changes[0].Reason, "not the enterprise application's object id") {
		t.Errorf("the replacement does not say why: %q", p.Changes[0].Reason)
	}
	f.applyAndWait(t, docs)
	registered, fullAccess, _ := f.mailState(t)
	if registered == *app.GetId() || registered == "" || !fullAccess {
		t.Errorf("after the replacement: registered with %q (the app's object id is %s), FullAccess %v", registered, *app.GetId(), fullAccess)
	}
}

func TestNoOpPlanReadsExchangeOnce(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	docs := example(t, "openfire.yaml")
	f.applyAndWait(t, docs)
	f.tenant.ResetStats()
	if p := f.plan(t, docs); !p.Empty() {
		t.Fatalf("plan after apply: %v", lines(p))
	}
	stats := f.tenant.Stats()
	exchange := stats.ByRoute["POST /exchange/adminapi/beta/{tenant}/InvokeCommand"] + stats.ByRoute["POST /exchange/adminapi/beta/{tenant}/$batch"]
	// Send-As of jm (Get-RecipientPermission, and Get-Recipient for the names it prints), and
	// one $batch for the mailbox side: the transport config, the registration, jm's and jojo's
	// CAS mailbox and permissions.
	graph := graphRoundTrips(f.tenant)
	t.Logf("no-op plan of openfire.yaml: %d Graph and %d Exchange round trips", graph, exchange)
	if graph > 3 || exchange > 3 {
		t.Errorf("a no-op plan of openfire.yaml took %d Graph and %d Exchange round trips, want at most 3 and 3: %v", graph, exchange, stats.ByRoute)
	}
}
