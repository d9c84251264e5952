package export_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/export"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

const domain = simtenant.DefaultDomain

// portalOpenFire makes, as an administrator clicking through the portal and the admin center
// would, everything examples/openfire.yaml describes: the registration with its redirect URI
// and permissions, admin consent, a client secret, user and group assignments (assignment
// required) and Send-As. None of it goes through provision's engine.
func portalOpenFire(t *testing.T, h *simtest.Fixture) simtenant.PortalIDs {
	t.Helper()
	ctx := context.Background()
	ids, err := h.Tenant.SeedPortalApp(simtenant.PortalApp{
		DisplayName:    "OpenFire",
		SignInAudience: "AzureADMultipleOrgs",
		RedirectURIs:   []string{"https://mabase.openfire.fr/microsoft_outlook/confirm"},
		Delegated: map[string][]string{manifests.MicrosoftGraphAppID: {"User.Read", "User.Read.All", "Mail.Send", "Mail.Send.Shared",
			"Mail.ReadWrite", "offline_access", "SMTP.Send", "POP.AccessAsUser.All", "IMAP.AccessAsUser.All"}},
		Application:  map[string][]string{manifests.ExchangeOnlineAppID: {"IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"}},
		AdminConsent: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	client := h.Graph.Graph

	// Certificates & secrets > New client secret: "OpenFire Mail", 24 months.
	pw := models.NewPasswordCredential()
	name := "OpenFire Mail"
	end := h.Clock.Now().Add(730 * 24 * time.Hour)
	pw.SetDisplayName(&name)
	pw.SetEndDateTime(&end)
	body := applications.NewItemAddPasswordPostRequestBody()
	body.SetPasswordCredential(pw)
	if _, err := client.Applications().ByApplicationId(ids.ObjectID).AddPassword().Post(ctx, body, nil); err != nil {
		t.Fatalf("add password: %v", err)
	}

	// Enterprise application > Properties > Assignment required, then Users and groups > Add.
	sp := models.NewServicePrincipal()
	required := true
	sp.SetAppRoleAssignmentRequired(&required)
	if _, err := client.ServicePrincipals().ByServicePrincipalId(ids.ServicePrincipalID).Patch(ctx, sp, nil); err != nil {
		t.Fatalf("require assignment: %v", err)
	}
	jm, _ := h.Tenant.UserID("jm@" + domain)
	jojo, _ := h.Tenant.UserID("jojo@" + domain)
	compta, _ := h.Tenant.GroupID("Comptabilité")
	for _, principal := range []string{jm, jojo, compta} {
		a := models.NewAppRoleAssignment()
		p, r, role := uuid.MustParse(principal), uuid.MustParse(ids.ServicePrincipalID), uuid.UUID{}
		a.SetPrincipalId(&p)
		a.SetResourceId(&r)
		a.SetAppRoleId(&role)
		if _, err := client.ServicePrincipals().ByServicePrincipalId(ids.ServicePrincipalID).AppRoleAssignedTo().Post(ctx, a, nil); err != nil {
			t.Fatalf("assign %s: %v", principal, err)
		}
	}

	// Admin center > jm > Mail > Send as permissions: Josiane and the accounting group.
	for _, trustee := range []string{"jojo@" + domain, "compta@" + domain} {
		if err := h.Exchange.AddSendAs(ctx, "jm@"+domain, trustee); err != nil {
			t.Fatalf("Send-As for %s: %v", trustee, err)
		}
	}
	return ids
}

// exportAndPlan exports q, loads the manifest as provision validate would, and plans it
// against the same tenant.
func exportAndPlan(t *testing.T, h *simtest.Fixture, q export.Query) (*manifests.Document, []byte, *provision.Plan) {
	t.Helper()
	ctx := context.Background()
	snap, err := export.Read(ctx, h.Graph, h.Exchange, q)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	snap.TenantID = h.Tenant.TenantID()
	out, err := export.Render(export.Build(snap, h.Clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	docs, diags := manifests.Load("exported.yaml", out, func(string) (string, bool) { return "", false })
	if diags.HasErrors() || len(docs) != 1 {
		t.Fatalf("the exported manifest does not validate: %v\n%s", diags, out)
	}
	engine := &provision.Engine{Graph: h.Graph, Exchange: h.Exchange}
	p, err := engine.Plan(ctx, docs)
	if err != nil {
		t.Fatalf("plan the exported manifest: %v\n%s", err, out)
	}
	return docs[0], out, p
}

func TestExportOfAPortalSetupPlansEmpty(t *testing.T) {
	h := simtest.Start(t)
	ids := portalOpenFire(t, h)
	compta, _ := h.Tenant.GroupID("Comptabilité")
	required := true
	want := manifests.Application{
		Name: "OpenFire", AppID: ids.AppID, Audience: manifests.MultipleOrgs,
		RedirectURIs: manifests.RedirectURIs{Web: []string{"https://mabase.openfire.fr/microsoft_outlook/confirm"}},
		Permissions: []manifests.Permission{
			{API: "Microsoft Graph", Delegated: []string{"User.Read", "User.Read.All", "Mail.Send", "Mail.Send.Shared",
				"Mail.ReadWrite", "offline_access", "SMTP.Send", "POP.AccessAsUser.All", "IMAP.AccessAsUser.All"}},
			{API: "Office 365 Exchange Online", Application: []string{"IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"}},
		},
		AdminConsent: true,
		Assignments: &manifests.Assignments{Required: &required,
			Users: []string{"jm@" + domain, "jojo@" + domain}, Groups: []string{compta}},
	}
	wantSendAs := []manifests.SendAs{{Mailbox: "jm@" + domain, Trustees: []string{"compta@" + domain, "jojo@" + domain}}}

	for _, tc := range []struct {
		reason string
		query  export.Query
	}{
		{reason: "by client id", query: export.Query{AppID: ids.AppID, Mailboxes: []string{"jm@" + domain}}},
		{reason: "by display name", query: export.Query{Name: "OpenFire", Mailboxes: []string{"jm@" + domain}}},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			doc, out, p := exportAndPlan(t, h, tc.query)
			ignore := cmpopts.IgnoreFields(manifests.Document{}, "Source")
			// The tenant's order of APIs and names is kept; planning compares them as sets.
			sortLists := cmpopts.SortSlices(func(a, b string) bool { return a < b })
			sortAPIs := cmpopts.SortSlices(func(a, b manifests.Permission) bool { return a.API < b.API })
			if diff := cmp.Diff(want, doc.Application, sortLists, sortAPIs); diff != "" {
				t.Errorf("exported application -want +got:\n%s\n%s", diff, out)
			}
			if diff := cmp.Diff(wantSendAs, doc.SendAs, ignore); diff != "" {
				t.Errorf("exported sendAs -want +got:\n%s", diff)
			}
			if doc.Tenant != h.Tenant.TenantID() {
				t.Errorf("tenant = %q, want %q", doc.Tenant, h.Tenant.TenantID())
			}
			var changes []string
			for _, c := range p.Changes {
				changes = append(changes, string(c.Action)+" "+c.Address)
			}
			if diff := cmp.Diff([]string(nil), changes); diff != "" {
				t.Errorf("plan of the exported manifest is not empty -want +got:\n%s\n%s", diff, out)
			}
			for _, wantText := range []string{"#   - name: OpenFire Mail", "#     lifetime: 730d", "none can be exported", "# Comptabilité"} {
				if !strings.Contains(string(out), wantText) {
					t.Errorf("the manifest lacks %q:\n%s", wantText, out)
				}
			}
		})
	}
}

func TestExportOfPartialConsentKeepsConsentAlone(t *testing.T) {
	h := simtest.Start(t)
	ids := portalOpenFire(t, h)
	if err := h.Tenant.RemoveGrantScope(ids.AppID, manifests.MicrosoftGraphAppID, "Mail.ReadWrite"); err != nil {
		t.Fatal(err)
	}
	doc, out, p := exportAndPlan(t, h, export.Query{AppID: ids.AppID})
	if doc.Application.AdminConsent {
		t.Errorf("adminConsent = true for a tenant missing consent to Mail.ReadWrite:\n%s", out)
	}
	if !strings.Contains(string(out), "consented [") || !strings.Contains(string(out), "Set adminConsent: true") {
		t.Errorf("the manifest does not say how consent differs:\n%s", out)
	}
	if !p.Empty() {
		t.Errorf("plan of the exported manifest has %d changes, want none:\n%s", len(p.Changes), out)
	}
}

func TestExportOfAnUnknownApplication(t *testing.T) {
	h := simtest.Start(t)
	for _, q := range []export.Query{{AppID: uuid.NewString()}, {Name: "Nobody"}} {
		if _, err := export.Read(context.Background(), h.Graph, h.Exchange, q); !errors.Is(err, export.ErrNotFound) {
			t.Errorf("read %+v: error %v, want ErrNotFound", q, err)
		}
	}
}

func TestExportRoundTrips(t *testing.T) {
	h := simtest.Start(t)
	ids := portalOpenFire(t, h)
	h.Tenant.ResetStats()
	before := len(h.Tenant.RequestLog())
	if _, err := export.Read(context.Background(), h.Graph, h.Exchange, export.Query{AppID: ids.AppID, Mailboxes: []string{"jm@" + domain}}); err != nil {
		t.Fatal(err)
	}
	graphCalls, exchangeCalls := 0, 0
	for _, r := range h.Tenant.RequestLog()[before:] {
		switch {
		case r.Batch: // an item of a $batch: no round trip of its own
		case strings.HasPrefix(r.Path, "/v1.0/"):
			graphCalls++
		case strings.HasPrefix(r.Path, "/exchange/"):
			exchangeCalls++
		}
	}
	// The engine's complete observation in $batch rounds: the application and the users
	// named (the mailbox); its service principal and requested APIs, with Send-As from
	// Exchange alongside; its grants, app role assignments and assignments; the users and
	// groups assigned. Four round trips; Exchange: Get-RecipientPermission for the mailbox,
	// Get-Recipient for the trustees it prints by name (the group), and one $batch for the
	// mailbox side (transport config, the registration, the mailbox's CAS and permissions).
	if graphCalls != 4 || exchangeCalls > 4 {
		t.Errorf("export read took %d Graph and %d Exchange requests, want 4 and at most 4", graphCalls, exchangeCalls)
	}
}

// TestExportWritesTheMailboxSideBack: the mailbox side an administrator made by hand (the
// application registered in Exchange, FullAccess on jm's mailbox, SMTP AUTH turned on for it)
// is exported as mailboxes entries, and the exported manifest plans empty.
func TestExportWritesTheMailboxSideBack(t *testing.T) {
	h := simtest.Start(t)
	ids := portalOpenFire(t, h)
	ctx := context.Background()
	if _, err := h.Exchange.NewServicePrincipal(ctx, ids.AppID, ids.ServicePrincipalID, "OpenFire"); err != nil {
		t.Fatal(err)
	}
	if err := h.Exchange.AddFullAccess(ctx, "jm@"+domain, ids.ServicePrincipalID); err != nil {
		t.Fatal(err)
	}
	if err := h.Exchange.SetSMTPAuth(ctx, "jm@"+domain, exchange.SMTPAuthEnabled); err != nil {
		t.Fatal(err)
	}
	doc, out, p := exportAndPlan(t, h, export.Query{AppID: ids.AppID, Mailboxes: []string{"jm@" + domain, "jojo@" + domain}})
	want := []manifests.Mailbox{
		{Address: "jm@" + domain, SMTPAuth: manifests.SMTPAuthEnabled, AppAccess: true},
		{Address: "jojo@" + domain, SMTPAuth: manifests.SMTPAuthOrganization},
	}
	if diff := cmp.Diff(want, doc.Mailboxes); diff != "" {
		t.Errorf("exported mailboxes -want +got:\n%s\n%s", diff, out)
	}
	if !p.Empty() {
		t.Errorf("plan of the exported manifest has %d changes, want none:\n%s", len(p.Changes), out)
	}
}
