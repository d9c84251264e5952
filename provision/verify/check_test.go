package verify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/sensitive"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
	"github.com/provisionhq/provision/provision/verify"
)

const (
	exchangeAppID = "00000002-0000-0ff1-ce00-000000000000"
	graphAppID    = "00000003-0000-0000-c000-000000000000"
	mailbox       = "admin@office.openfire.pro"
)

var mailRoles = []string{"SMTP.SendAsApp", "IMAP.AccessAsApp", "POP.AccessAsApp"}

// mailTenant is a simulated tenant with its mail listeners and an application to verify.
type mailTenant struct {
	f      *simtest.Fixture
	ids    simtenant.PortalIDs
	secret string
}

// newMailTenant registers an application consented to exchangeRoles (and Graph's
// User.Read.All) with a client secret, and, unless bare, sets the Exchange side up: the
// pointer with the enterprise app's object id, FullAccess on the mailbox, SMTP AUTH on.
func newMailTenant(t *testing.T, exchangeRoles []string, bare bool) *mailTenant {
	t.Helper()
	f := simtest.Start(t, simtest.Mail())
	ids, err := f.Tenant.SeedPortalApp(simtenant.PortalApp{DisplayName: "OpenFire",
		Application:  map[string][]string{exchangeAppID: exchangeRoles, graphAppID: {"User.Read.All"}},
		AdminConsent: true})
	if err != nil {
		t.Fatal(err)
	}
	name, end := "OpenFire Mail", f.Clock.Now().Add(30*24*time.Hour)
	pw := models.NewPasswordCredential()
	pw.SetDisplayName(&name)
	pw.SetEndDateTime(&end)
	body := applications.NewItemAddPasswordPostRequestBody()
	body.SetPasswordCredential(pw)
	cred, err := f.Graph.Graph.Applications().ByApplicationId(ids.ObjectID).AddPassword().Post(context.Background(), body, nil)
	if err != nil {
		t.Fatalf("add password: %v", err)
	}
	m := &mailTenant{f: f, ids: ids, secret: *cred.GetSecretText()}
	if !bare {
		m.register(t, ids.ServicePrincipalID)
		m.grant(t, exchangesim.PermissionSeed{User: ids.AppID})
		enabled := false
		if err := m.exo().SetSMTPAuth(mailbox, &enabled); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (m *mailTenant) exo() *exchangesim.Server { return m.f.Tenant.Exchange() }

func (m *mailTenant) register(t *testing.T, objectID string) {
	m.exo().RegisterServicePrincipal(m.ids.AppID, objectID, "OpenFire")
}

func (m *mailTenant) grant(t *testing.T, seed exchangesim.PermissionSeed) {
	t.Helper()
	if err := m.exo().SeedMailboxPermission(mailbox, seed); err != nil {
		t.Fatal(err)
	}
}

// operatorReader is an Exchange client for the tenant's Exchange state signed in as an
// Exchange Administrator. The simulated tenant's own endpoint does not pass that role to
// exchangesim yet, so this mounts the state directly, with a fixed caller.
func (m *mailTenant) operatorReader(t *testing.T) *exchange.Client {
	t.Helper()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.exo().ServeInvokeCommand(w, r, exchangesim.Caller{Authenticated: true, ManageAsApp: true, RecipientAdmin: true, ExchangeAdmin: true, Name: "operator"})
	}))
	t.Cleanup(ts.Close)
	c, err := exchange.New(exchange.Options{Endpoint: ts.URL, TenantID: m.f.TenantID, Credential: &fixedtoken.Credential{Token: "operator"},
		HTTPClient: ts.Client(), Clock: m.f.Clock})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (m *mailTenant) checker(reader verify.ExchangeReader) verify.Checker {
	f := m.f
	c := verify.Checker{
		Endpoints: verify.Endpoints{AuthorityHost: f.Server.URL, Graph: f.Server.URL, Exchange: f.Server.URL + "/exchange",
			SMTP: f.Mail.SMTPAddr, IMAP: f.Mail.IMAPAddr, POP: f.Mail.POPAddr},
		Transport: f.HTTPClient, TLS: f.Transport.TLSClientConfig, Clock: f.Clock,
	}
	if reader != nil {
		c.Exchange = reader
	}
	return c
}

func (m *mailTenant) app(consent bool) verify.Application {
	return verify.Application{TenantID: m.f.TenantID, ClientID: m.ids.AppID, Secret: sensitive.New(m.secret),
		GraphRoles: []string{"User.Read.All"}, ExchangeRoles: mailRoles, ConsentGranted: consent, Mailboxes: []string{mailbox}}
}

// outcome is a check reduced to what a test compares.
type outcome struct {
	ID     string
	Status verify.Status
	Cause  verify.Cause
}

func outcomes(r verify.Report) []outcome {
	var out []outcome
	for _, c := range r.Checks {
		out = append(out, outcome{c.ID, c.Status, c.Cause})
	}
	return out
}

// expect builds the five outcomes of a run, every check passed unless overridden.
func expect(over map[string]outcome) []outcome {
	out := []outcome{
		{"token:graph", verify.Passed, ""}, {"token:exchange", verify.Passed, ""},
		{"smtp:" + mailbox, verify.Passed, ""}, {"imap:" + mailbox, verify.Passed, ""}, {"pop:" + mailbox, verify.Passed, ""},
	}
	for i, o := range out {
		if v, ok := over[o.ID]; ok {
			v.ID = o.ID
			out[i] = v
		}
	}
	return out
}

func fail(c verify.Cause) outcome { return outcome{Status: verify.Failed, Cause: c} }

func allLogins(c verify.Cause) map[string]outcome {
	return map[string]outcome{"smtp:" + mailbox: fail(c), "imap:" + mailbox: fail(c), "pop:" + mailbox: fail(c)}
}

// TestVerifyNamesEachCause turns one precondition off at a time and checks that verify names
// exactly that cause, and only on the checks it affects.
func TestVerifyNamesEachCause(t *testing.T) {
	cases := []struct {
		reason   string
		roles    []string // consented Exchange roles; nil means all three
		bare     bool     // no Exchange side at all
		setup    func(t *testing.T, m *mailTenant)
		noReader bool
		want     []outcome
	}{
		{reason: "everything in place", want: expect(nil)},
		{reason: "SMTP AUTH follows the organisation, which disables it", setup: func(t *testing.T, m *mailTenant) {
			if err := m.exo().SetSMTPAuth(mailbox, nil); err != nil {
				t.Fatal(err)
			}
		}, want: expect(map[string]outcome{"smtp:" + mailbox: fail(verify.CauseSMTPAuthDisabled)})},
		{reason: "SMTP AUTH off for the mailbox", setup: func(t *testing.T, m *mailTenant) {
			disabled := true
			if err := m.exo().SetSMTPAuth(mailbox, &disabled); err != nil {
				t.Fatal(err)
			}
		}, want: expect(map[string]outcome{"smtp:" + mailbox: fail(verify.CauseSMTPAuthDisabled)})},
		{reason: "the service principal is not registered in Exchange", bare: true, setup: func(t *testing.T, m *mailTenant) {
			m.exo().SetOrganizationSMTPAuth(false)
		}, want: expect(allLogins(verify.CauseNoServicePrincipal))},
		{reason: "registered with the app registration's object id", bare: true, setup: func(t *testing.T, m *mailTenant) {
			m.exo().SetOrganizationSMTPAuth(false)
			m.register(t, m.ids.ObjectID)
			m.grant(t, exchangesim.PermissionSeed{User: m.ids.AppID})
		}, want: expect(allLogins(verify.CauseWrongObjectID))},
		{reason: "no FullAccess on the mailbox", setup: func(t *testing.T, m *mailTenant) {
			if _, err := m.exo().RevokeMailboxPermissions(mailbox, m.ids.AppID); err != nil {
				t.Fatal(err)
			}
		}, want: expect(allLogins(verify.CauseNoFullAccess))},
		{reason: "a Deny FullAccess entry", setup: func(t *testing.T, m *mailTenant) {
			m.grant(t, exchangesim.PermissionSeed{User: m.ids.AppID, Deny: true})
		}, want: expect(allLogins(verify.CauseFullAccessDenied))},
		{reason: "SMTP.SendAsApp declared but not consented", roles: []string{"IMAP.AccessAsApp", "POP.AccessAsApp"},
			want: expect(map[string]outcome{"token:exchange": fail(verify.CauseRoleMissing), "smtp:" + mailbox: fail(verify.CauseRoleMissing)})},
		{reason: "IMAP turned off for the mailbox", setup: func(t *testing.T, m *mailTenant) {
			if err := m.exo().SetProtocols(mailbox, false, true); err != nil {
				t.Fatal(err)
			}
		}, want: expect(map[string]outcome{"imap:" + mailbox: fail(verify.CauseProtocolDisabled)})},
		{reason: "propagation still running past verify's wait", setup: func(t *testing.T, m *mailTenant) {
			m.f.Mail.SetPropagationDelay(time.Hour)
		}, want: expect(allLogins(verify.CausePropagation))},
		{reason: "propagation that ends within verify's wait passes", setup: func(t *testing.T, m *mailTenant) {
			m.f.Mail.SetPropagationDelay(30 * time.Second)
		}, want: expect(nil)},
		{reason: "without an Exchange reader a refusal lists the candidates", bare: true, noReader: true, setup: func(t *testing.T, m *mailTenant) {
			m.exo().SetOrganizationSMTPAuth(false)
		}, want: expect(allLogins(verify.CauseNotAuthorized))},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			roles := tc.roles
			if roles == nil {
				roles = mailRoles
			}
			m := newMailTenant(t, roles, tc.bare)
			if tc.setup != nil {
				tc.setup(t, m)
			}
			var reader verify.ExchangeReader
			if !tc.noReader {
				reader = m.operatorReader(t)
			}
			start := m.f.Clock.Now()
			report := m.checker(reader).Run(context.Background(), m.app(false))
			if diff := cmp.Diff(tc.want, outcomes(report)); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			if waited := m.f.Clock.Now().Sub(start); waited > 3*verify.RetryPolicy().MaxElapsed {
				t.Errorf("verify waited %s, beyond its bounds", waited)
			}
			for _, c := range report.Checks {
				if c.Status == verify.Failed && (c.Explanation == "" || c.Fix == "" || c.Detail == "") {
					t.Errorf("%s: a failure without its detail, explanation and fix: %+v", c.ID, c)
				}
			}
			if got := report.Passed(); got != (tc.reason == "everything in place" || strings.HasPrefix(tc.reason, "propagation that ends")) {
				t.Errorf("Passed() = %v", got)
			}
			raw, _ := json.Marshal(report)
			if strings.Contains(string(raw), m.secret) || strings.Contains(string(raw), "eyJ") {
				t.Errorf("the report carries the secret or a token: %s", raw)
			}
		})
	}
}

func TestVerifyExplainsTheCause(t *testing.T) {
	m := newMailTenant(t, []string{"IMAP.AccessAsApp", "POP.AccessAsApp"}, true)
	m.register(t, m.ids.ObjectID)
	report := m.checker(m.operatorReader(t)).Run(context.Background(), m.app(false))
	byID := map[string]verify.Check{}
	for _, c := range report.Checks {
		byID[c.ID] = c
	}
	tok := byID["token:exchange"]
	if diff := cmp.Diff([]string{"SMTP.SendAsApp"}, tok.MissingRoles); diff != "" {
		t.Errorf("missing roles (-want +got):\n%s", diff)
	}
	if !strings.Contains(tok.Explanation, "consent pending?") {
		t.Errorf("a missing role without consent: %q, want the consent pending? hint", tok.Explanation)
	}
	imap := byID["imap:"+mailbox]
	for _, want := range []string{m.ids.ObjectID, m.ids.ServicePrincipalID, "app registration's object id"} {
		if !strings.Contains(imap.Explanation, want) {
			t.Errorf("wrong object id explanation %q lacks %q", imap.Explanation, want)
		}
	}
	if !strings.Contains(imap.Fix, "New-ServicePrincipal -AppId "+m.ids.AppID+" -ObjectId "+m.ids.ServicePrincipalID) {
		t.Errorf("fix %q does not give the right New-ServicePrincipal", imap.Fix)
	}
	if imap.Detail != "A2 NO AUTHENTICATE failed." {
		t.Errorf("detail %q, want the server's reply", imap.Detail)
	}
}

func TestVerifyWithABadSecret(t *testing.T) {
	m := newMailTenant(t, mailRoles, false)
	app := m.app(true)
	app.Secret = sensitive.New("an-old-secret-that-was-removed")
	report := m.checker(m.operatorReader(t)).Run(context.Background(), app)
	want := []outcome{
		{"token:graph", verify.Failed, verify.CauseSignIn}, {"token:exchange", verify.Failed, verify.CauseSignIn},
		{"smtp:" + mailbox, verify.Skipped, verify.CauseNoExchangeToken}, {"imap:" + mailbox, verify.Skipped, verify.CauseNoExchangeToken},
		{"pop:" + mailbox, verify.Skipped, verify.CauseNoExchangeToken},
	}
	if diff := cmp.Diff(want, outcomes(report)); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if d := report.Checks[0].Detail; !strings.HasPrefix(d, "AADSTS7000215") || strings.Contains(d, "an-old-secret") {
		t.Errorf("detail %q, want the platform's code and no secret", d)
	}
}

func TestVerifyProtocolSelection(t *testing.T) {
	m := newMailTenant(t, mailRoles, false)
	c := m.checker(nil)
	c.Protocols = verify.Protocols{POP: true}
	var ids []string
	for _, ch := range c.Run(context.Background(), m.app(true)).Checks {
		ids = append(ids, ch.ID)
	}
	if diff := cmp.Diff([]string{"token:graph", "token:exchange", "pop:" + mailbox}, ids); diff != "" {
		t.Errorf("checks with --pop (-want +got):\n%s", diff)
	}
	app := m.app(true)
	app.ExchangeRoles = []string{"IMAP.AccessAsApp"}
	ids = nil
	for _, ch := range m.checker(nil).Run(context.Background(), app).Checks {
		ids = append(ids, ch.ID)
	}
	if diff := cmp.Diff([]string{"token:graph", "token:exchange", "imap:" + mailbox}, ids); diff != "" {
		t.Errorf("default checks for the roles declared (-want +got):\n%s", diff)
	}
}

// TestVerifyWithARecipientAdministrator reads the Exchange side as the simulated tenant's own
// operator, an Exchange Recipient Administrator: it reads mailboxes but not service
// principals, and verify names what it can.
func TestVerifyWithARecipientAdministrator(t *testing.T) {
	for _, tc := range []struct {
		reason string
		setup  func(t *testing.T, m *mailTenant)
		want   verify.Cause
	}{
		{"no FullAccess is still named", func(t *testing.T, m *mailTenant) {
			if _, err := m.exo().RevokeMailboxPermissions(mailbox, m.ids.AppID); err != nil {
				t.Fatal(err)
			}
		}, verify.CauseNoFullAccess},
		{"with FullAccess in place the unread registration is the open question", func(t *testing.T, m *mailTenant) {
			m.f.Mail.SetPropagationDelay(time.Hour)
		}, verify.CauseNotAuthorized},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			m := newMailTenant(t, mailRoles, false)
			if err := m.f.Tenant.RevokeOperatorRight("Exchange Administrator"); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, m)
			c := m.checker(m.f.Exchange)
			c.Protocols = verify.Protocols{IMAP: true}
			report := c.Run(context.Background(), m.app(true))
			got := report.Checks[2]
			if got.Cause != tc.want || !strings.Contains(got.Explanation, "could not be read") {
				t.Errorf("imap check %+v, want cause %s noting the unread registration", got, tc.want)
			}
		})
	}
}
