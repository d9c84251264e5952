package exchange

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
)

// orgToken holds Exchange Administrator (and so the recipient rights); adminToken of the
// Send-As harness holds Exchange Recipient Administrator only.
const orgToken = "tok-org-5ecr3t"

const (
	appID       = "5c2f0d8e-8a41-4a51-9b1e-0f6a2b7c9d10"
	spObjectID  = "a1b2c3d4-0000-4000-8000-000000000001"
	appObjectID = "a1b2c3d4-0000-4000-8000-000000000002"
)

// mailFixture is a client signed in as an Exchange Administrator (or, with token, as someone
// else) against a simulated endpoint on a fake clock.
type mailFixture struct {
	sim    *exchangesim.Server
	client *Client
	clock  *clock.Fake
	mu     sync.Mutex
	warned []string
}

func newMailFixture(t *testing.T, faults exchangesim.Faults, token string) *mailFixture {
	t.Helper()
	f := &mailFixture{clock: clock.NewFake(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))}
	f.sim = exchangesim.New(testDirectory(), &exchangesim.State{}, exchangesim.Options{Faults: faults, Clock: f.clock, TenantIDs: []string{tenantID}})
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c exchangesim.Caller
		switch r.Header.Get("Authorization") {
		case "Bearer " + orgToken:
			c = exchangesim.Caller{Authenticated: true, ManageAsApp: true, RecipientAdmin: true, ExchangeAdmin: true, Name: "app"}
		case "Bearer " + adminToken:
			c = exchangesim.Caller{Authenticated: true, ManageAsApp: true, RecipientAdmin: true, Name: "app"}
		}
		f.sim.ServeInvokeCommand(w, r, c)
	}))
	t.Cleanup(ts.Close)
	if token == "" {
		token = orgToken
	}
	c, err := New(Options{Endpoint: ts.URL, TenantID: tenantID, Credential: &fixedtoken.Credential{Token: token}, HTTPClient: ts.Client(),
		Clock: f.clock, OnWarning: func(cmdlet, w string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.warned = append(f.warned, cmdlet+": "+w)
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.client = c
	return f
}

func (f *mailFixture) warnings() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.warned...)
}

func TestServicePrincipalClient(t *testing.T) {
	ctx := context.Background()
	f := newMailFixture(t, exchangesim.Faults{}, "")
	c := f.client
	if _, found, err := c.ServicePrincipal(ctx, appID); err != nil || found {
		t.Fatalf("before registration: found %v, err %v; want not found and no error", found, err)
	}
	sp, err := c.NewServicePrincipal(ctx, appID, spObjectID, "OpenFire")
	want := ServicePrincipal{AppID: appID, ObjectID: spObjectID, DisplayName: "OpenFire", Identity: spObjectID, Name: spObjectID}
	if err != nil {
		t.Fatalf("NewServicePrincipal: %v", err)
	}
	if diff := cmp.Diff(want, sp); diff != "" {
		t.Errorf("created pointer (-want +got):\n%s", diff)
	}
	f.sim.ResetStats()
	if again, err := c.NewServicePrincipal(ctx, appID, spObjectID, "OpenFire"); err != nil || again != want {
		t.Errorf("registering again: %+v, %v; want the existing pointer and no error", again, err)
	}
	if got := f.sim.Stats().Requests; got != 2 {
		t.Errorf("registering again took %d round trips, want 2 (the refused create, the read)", got)
	}
	if _, err := c.NewServicePrincipal(ctx, appID, appObjectID, "OpenFire"); !errors.Is(err, ErrObjectIDMismatch) {
		t.Errorf("registering with another object id: %v, want ErrObjectIDMismatch", err)
	}
	got, found, err := c.ServicePrincipal(ctx, appID)
	if err != nil || !found || got != want {
		t.Errorf("ServicePrincipal: %+v found %v err %v, want %+v", got, found, err, want)
	}
	if err := c.RemoveServicePrincipal(ctx, appID); err != nil {
		t.Fatalf("RemoveServicePrincipal: %v", err)
	}
	if err := c.RemoveServicePrincipal(ctx, appID); err != nil {
		t.Errorf("removing a pointer that is gone: %v, want success", err)
	}
	if _, found, _ := c.ServicePrincipal(ctx, appID); found {
		t.Errorf("the pointer is still there after removal")
	}
}

func TestServicePrincipalUnknownIdentityListsAll(t *testing.T) {
	f := newMailFixture(t, exchangesim.Faults{UnknownIdentityListsAll: true}, "")
	f.sim.RegisterServicePrincipal("0ther-app", "0ther-sp", "Other")
	if sp, found, err := f.client.ServicePrincipal(context.Background(), appID); err != nil || found {
		t.Errorf("an unknown app id listing every pointer: %+v found %v err %v; want not found", sp, found, err)
	}
}

func TestAccessDeniedNamesTheRole(t *testing.T) {
	ctx := context.Background()
	f := newMailFixture(t, exchangesim.Faults{}, adminToken)
	c := f.client
	for _, tc := range []struct {
		reason string
		run    func() error
		role   string
	}{
		{"a recipient administrator cannot register service principals", func() error {
			_, err := c.NewServicePrincipal(ctx, appID, spObjectID, "")
			return err
		}, RoleExchangeAdministrator},
		{"nor read them", func() error { _, _, err := c.ServicePrincipal(ctx, appID); return err }, RoleExchangeAdministrator},
		{"nor remove them", func() error { return c.RemoveServicePrincipal(ctx, appID) }, RoleExchangeAdministrator},
		{"nor read the transport config", func() error { _, err := c.TransportConfig(ctx); return err }, RoleExchangeAdministrator},
	} {
		err := tc.run()
		var denied *AccessDeniedError
		if !errors.As(err, &denied) || denied.Role != tc.role || !IsForbidden(err) {
			t.Errorf("%s: %v, want an AccessDeniedError naming %s", tc.reason, err, tc.role)
			continue
		}
		if !strings.Contains(err.Error(), "needs the "+tc.role+" role") {
			t.Errorf("%s: message %q does not name the role", tc.reason, err)
		}
		noSecret(t, tc.reason, err.Error())
	}
	// What a recipient administrator may do, it does.
	if err := c.SetSMTPAuth(ctx, "bob@contoso.com", SMTPAuthEnabled); err != nil {
		t.Errorf("SetSMTPAuth as a recipient administrator: %v", err)
	}
	if got := RequiredRole("Add-MailboxPermission"); got != RoleRecipientAdministrator {
		t.Errorf("RequiredRole(Add-MailboxPermission) = %q", got)
	}
}

func TestFullAccessClient(t *testing.T) {
	ctx := context.Background()
	f := newMailFixture(t, exchangesim.Faults{}, "")
	c := f.client
	sp, err := c.NewServicePrincipal(ctx, appID, spObjectID, "OpenFire")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.sim.SeedMailboxPermission("shared@contoso.com", exchangesim.PermissionSeed{User: "bob@contoso.com"}); err != nil {
		t.Fatal(err)
	}
	read := func(reason string, want FullAccess) MailboxPermissions {
		t.Helper()
		p, err := c.MailboxPermissions(ctx, "shared@contoso.com")
		if err != nil {
			t.Fatalf("%s: MailboxPermissions: %v", reason, err)
		}
		if got := p.FullAccessOf(sp); got != want {
			t.Errorf("%s: FullAccessOf = %+v, want %+v", reason, got, want)
		}
		return p
	}
	p := read("before the grant", FullAccess{})
	if len(p.Rows) != 11 || p.Rows[0].User != `NT AUTHORITY\SELF` || !p.Rows[0].HasRight("ReadPermission") {
		t.Errorf("rows %+v, want the SELF row, the inherited defaults and bob's grant", p.Rows)
	}
	if err := c.AddFullAccess(ctx, "shared@contoso.com", sp.ObjectID); err != nil {
		t.Fatalf("AddFullAccess: %v", err)
	}
	read("after the grant", FullAccess{Granted: true})
	if err := c.AddFullAccess(ctx, "shared@contoso.com", sp.ObjectID); err != nil {
		t.Errorf("granting again: %v, want success", err)
	}
	if err := c.RemoveFullAccess(ctx, "shared@contoso.com", sp.ObjectID); err != nil {
		t.Fatalf("RemoveFullAccess: %v", err)
	}
	if err := c.RemoveFullAccess(ctx, "shared@contoso.com", sp.ObjectID); err != nil {
		t.Errorf("revoking again: %v, want success", err)
	}
	p = read("after the revocation", FullAccess{})
	if rows := p.Rows[len(p.Rows)-1]; rows.User != "bob@contoso.com" || !rows.HasRight("FullAccess") {
		t.Errorf("bob's grant was touched: last row %+v", rows)
	}
	if w := f.warnings(); len(w) != 0 {
		t.Errorf("the idempotent answers reached OnWarning: %q", w)
	}
	for _, seed := range []struct {
		reason  string
		seed    exchangesim.PermissionSeed
		want    FullAccess
		inForce bool
	}{
		{"an inherited grant is in force", exchangesim.PermissionSeed{User: appID, Inherited: true}, FullAccess{Inherited: true}, true},
		{"a Deny wins over it", exchangesim.PermissionSeed{User: appID, Deny: true}, FullAccess{Inherited: true, Denied: true}, false},
	} {
		if err := f.sim.SeedMailboxPermission("shared@contoso.com", seed.seed); err != nil {
			t.Fatal(err)
		}
		if got := read(seed.reason, seed.want).FullAccessOf(sp); got.InForce() != seed.inForce {
			t.Errorf("%s: %+v InForce %v", seed.reason, got, got.InForce())
		}
	}
	if err := c.RemoveFullAccess(ctx, "shared@contoso.com", "ghost@contoso.com"); err != nil {
		t.Errorf("revoking from a principal that does not resolve: %v, want success", err)
	}
	if _, err := c.MailboxPermissions(ctx, "ghost@contoso.com"); !IsNotFound(err) {
		t.Errorf("unknown mailbox: %v, want IsNotFound", err)
	}
}

// TestFullAccessOfRecognisesEveryForm checks the service principal's row is found whatever
// Exchange prints in User and whatever shape AccessRights has.
func TestFullAccessOfRecognisesEveryForm(t *testing.T) {
	for _, tc := range []struct {
		reason string
		faults exchangesim.Faults
	}{
		{"object id", exchangesim.Faults{}},
		{"display name", exchangesim.Faults{PrincipalUser: exchangesim.PrincipalByDisplayName}},
		{"app id", exchangesim.Faults{PrincipalUser: exchangesim.PrincipalByAppID}},
		{"rights as one string", exchangesim.Faults{AccessRightsAsString: true}},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			ctx := context.Background()
			f := newMailFixture(t, tc.faults, "")
			sp, err := f.client.NewServicePrincipal(ctx, appID, spObjectID, "OpenFire")
			if err != nil {
				t.Fatal(err)
			}
			if err := f.sim.SeedMailboxPermission("bob", exchangesim.PermissionSeed{User: appID, AccessRights: []string{"ReadPermission", "FullAccess"}}); err != nil {
				t.Fatal(err)
			}
			p, err := f.client.MailboxPermissions(ctx, "bob@contoso.com")
			if err != nil {
				t.Fatal(err)
			}
			if got := p.FullAccessOf(sp); got != (FullAccess{Granted: true}) {
				t.Errorf("FullAccessOf = %+v, want granted", got)
			}
		})
	}
}

func TestAddFullAccessWaitsForANewPointer(t *testing.T) {
	for _, tc := range []struct {
		reason   string
		lag      time.Duration
		wantFail bool
	}{
		{"a pointer that resolves within a minute is waited for", time.Minute, false},
		{"one that takes longer than the bound fails, as not found", time.Hour, true},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			ctx := context.Background()
			f := newMailFixture(t, exchangesim.Faults{ServicePrincipalLag: tc.lag}, "")
			sp, err := f.client.NewServicePrincipal(ctx, appID, spObjectID, "OpenFire")
			if err != nil {
				t.Fatal(err)
			}
			start := f.clock.Now()
			err = f.client.AddFullAccess(ctx, "bob@contoso.com", sp.ObjectID)
			waited := f.clock.Now().Sub(start)
			if tc.wantFail {
				if !IsNotFound(err) || waited > principalWait {
					t.Errorf("AddFullAccess: %v after %s, want not found within %s", err, waited, principalWait)
				}
				return
			}
			if err != nil || waited < tc.lag {
				t.Errorf("AddFullAccess: %v after %s, want success once the lag of %s passed", err, waited, tc.lag)
			}
		})
	}
}

func TestCASClient(t *testing.T) {
	ctx := context.Background()
	f := newMailFixture(t, exchangesim.Faults{}, "")
	c := f.client
	got, err := c.CASMailbox(ctx, "bob@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	want := CASMailbox{Identity: "bob", Name: "bob", DisplayName: "Bob", PrimarySmtpAddress: "bob@contoso.com",
		ExternalDirectoryObjectId: "33333333-3333-3333-3333-333333333333", SMTPAuth: SMTPAuthOrganization, ImapEnabled: true, PopEnabled: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fresh mailbox (-want +got):\n%s", diff)
	}
	org, err := c.TransportConfig(ctx)
	if err != nil || !org.SMTPAuthDisabled {
		t.Errorf("TransportConfig: %+v, %v; want SMTP AUTH disabled, the default", org, err)
	}
	for _, v := range []SMTPAuth{SMTPAuthEnabled, SMTPAuthEnabled, SMTPAuthDisabled, SMTPAuthOrganization} {
		if err := c.SetSMTPAuth(ctx, "bob@contoso.com", v); err != nil {
			t.Fatalf("SetSMTPAuth(%s): %v", v, err)
		}
		got, err := c.CASMailbox(ctx, "bob@contoso.com")
		if err != nil || got.SMTPAuth != v {
			t.Errorf("after SetSMTPAuth(%s): %s, %v", v, got.SMTPAuth, err)
		}
	}
	if w := f.warnings(); len(w) != 0 {
		t.Errorf("setting the same value twice reached OnWarning: %q", w)
	}
	if err := c.SetSMTPAuth(ctx, "bob@contoso.com", "on"); err == nil {
		t.Errorf("SetSMTPAuth(on): no error")
	}
	if _, err := c.CASMailbox(ctx, "sales@contoso.com"); !IsNotFound(err) {
		t.Errorf("a group: %v, want IsNotFound", err)
	}
}

func TestSMTPAuthInForce(t *testing.T) {
	for _, tc := range []struct {
		mailbox     SMTPAuth
		orgDisabled bool
		want        bool
	}{
		{SMTPAuthEnabled, true, true},
		{SMTPAuthDisabled, false, false},
		{SMTPAuthOrganization, true, false},
		{SMTPAuthOrganization, false, true},
	} {
		if got := (CASMailbox{SMTPAuth: tc.mailbox}).SMTPAuthInForce(TransportConfig{SMTPAuthDisabled: tc.orgDisabled}); got != tc.want {
			t.Errorf("mailbox %s, organisation disabled %v: in force %v, want %v (the mailbox's switch wins, blank follows the organisation)",
				tc.mailbox, tc.orgDisabled, got, tc.want)
		}
	}
}

// TestMailboxStatesCost states the observation cost: the CAS and permission reads of three
// mailboxes travel in one $batch, and need no Get-Recipient (the CAS answer identifies the
// mailbox for the row check).
func TestMailboxStatesCost(t *testing.T) {
	f := newMailFixture(t, exchangesim.Faults{}, "")
	mailboxes := []string{"bob@contoso.com", "alice@contoso.onmicrosoft.com", "shared@contoso.com"}
	states, err := f.client.MailboxStates(context.Background(), mailboxes)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range states {
		if st.Mailbox != mailboxes[i] || len(st.Permissions.Rows) == 0 || st.CAS.PrimarySmtpAddress == "" {
			t.Errorf("state %d: %+v", i, st)
		}
	}
	stats := f.sim.Stats()
	if diff := cmp.Diff(map[string]int{"Get-CASMailbox": 3, "Get-MailboxPermission": 3}, stats.ByCmdlet); diff != "" {
		t.Errorf("cmdlets run (-want +got):\n%s", diff)
	}
	if stats.Requests != 1 || stats.Batches != 1 {
		t.Errorf("%d requests, %d batches; want the six reads in one batch", stats.Requests, stats.Batches)
	}
	if _, err := f.client.MailboxStates(context.Background(), []string{"bob@contoso.com", "ghost@contoso.com"}); !IsNotFound(err) || !strings.Contains(err.Error(), "ghost@contoso.com") {
		t.Errorf("an unknown mailbox among them: %v, want IsNotFound naming it", err)
	}
}

// TestObserveMail reads a plan's worth (the transport config, an application, four distinct
// mailboxes among six: 10 cmdlets) and checks the answers and the round trips whether the
// front door batches, refuses batches, or throttles one.
func TestObserveMail(t *testing.T) {
	mailboxes := []string{"bob@contoso.com", "alice@contoso.com", "shared@contoso.com", "BOB@contoso.com", "alice@contoso.onmicrosoft.com", "shared@contoso.com"}
	for _, tc := range []struct {
		reason       string
		faults       exchangesim.Faults
		extraApp     bool
		wantRequests int
	}{
		// 1 + 1 + 2×4 distinct mailboxes = 10 cmdlets: one batch.
		{"batched", exchangesim.Faults{}, false, 1},
		{"an eleventh read goes alone", exchangesim.Faults{}, true, 2},
		{"a front door without $batch: each read alone, after the refused batch", exchangesim.Faults{NoBatch: true}, false, 1 + 10},
		{"a throttled batch: its reads alone", exchangesim.Faults{Throttle: 1}, false, 1 + 10},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			f := newMailFixture(t, tc.faults, "")
			f.sim.RegisterServicePrincipal(appID, spObjectID, "OpenFire")
			if err := f.sim.SeedMailboxPermission("shared@contoso.com", exchangesim.PermissionSeed{User: appID}); err != nil {
				t.Fatal(err)
			}
			reads := MailReads{TransportConfig: true, AppIDs: []string{appID}, Mailboxes: mailboxes}
			if tc.extraApp {
				reads.AppIDs = append(reads.AppIDs, "0ther-app")
			}
			obs, err := f.client.ObserveMail(context.Background(), reads)
			if err != nil {
				t.Fatal(err)
			}
			if obs.Transport == nil || !obs.Transport.SMTPAuthDisabled || obs.TransportErr != nil {
				t.Errorf("transport %+v, %v", obs.Transport, obs.TransportErr)
			}
			if sp := obs.ServicePrincipals[appID]; sp == nil || sp.ObjectID != spObjectID {
				t.Errorf("pointer of %s: %+v", appID, sp)
			}
			if sp, ok := obs.ServicePrincipals["0ther-app"]; tc.extraApp && (!ok || sp != nil) {
				t.Errorf("pointer of an unregistered app: %+v, present %v; want present and nil", sp, ok)
			}
			if got := obs.Mailboxes["BOB@contoso.com"]; got.Mailbox != "BOB@contoso.com" || got.CAS.PrimarySmtpAddress != "bob@contoso.com" {
				t.Errorf("a second spelling of a mailbox: %+v, want bob's state under it", got)
			}
			shared := obs.Mailboxes["shared@contoso.com"]
			if !shared.Permissions.FullAccessOf(*obs.ServicePrincipals[appID]).Granted || shared.CAS.SMTPAuth != SMTPAuthOrganization {
				t.Errorf("shared mailbox %+v", shared)
			}
			if got := f.sim.Stats().Requests; got != tc.wantRequests {
				t.Errorf("%d round trips, want %d", got, tc.wantRequests)
			}
		})
	}
}

func TestObserveMailAsARecipientAdministrator(t *testing.T) {
	f := newMailFixture(t, exchangesim.Faults{}, adminToken)
	obs, err := f.client.ObserveMail(context.Background(), MailReads{TransportConfig: true, Mailboxes: []string{"bob@contoso.com"}})
	var denied *AccessDeniedError
	if err != nil || obs.Transport != nil || !errors.As(obs.TransportErr, &denied) || denied.Role != RoleExchangeAdministrator {
		t.Errorf("ObserveMail: %v, transport %+v, %v; want the mailbox read and the transport config refused, naming Exchange Administrator", err, obs.Transport, obs.TransportErr)
	}
	if _, err := f.client.ObserveMail(context.Background(), MailReads{AppIDs: []string{appID}, Mailboxes: []string{"bob@contoso.com"}}); !IsForbidden(err) {
		t.Errorf("reading a pointer without the role: %v, want forbidden", err)
	}
}
