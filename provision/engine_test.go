package provision_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/keyvaultsim"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
	"github.com/provisionhq/provision/provision/simtenant/simtest/anyhost"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
	"github.com/provisionhq/provision/provision/sink"
	"github.com/provisionhq/provision/provision/verify"
)

// fixture is a simulated tenant over TLS and an engine whose real Graph client signs in to
// it as the operator, everything on one fake clock.
type fixture struct {
	tenant *simtenant.Tenant
	engine *provision.Engine
	clock  *clock.Fake
}

func newFixture(tb testing.TB, faults simtenant.Faults) *fixture {
	tb.Helper()
	return newFixtureWith(tb, simtenant.Options{Faults: faults})
}

// newFixtureWith is newFixture with every tenant option (a small page size, …) and any more
// simtest options (a handler between server and tenant, …); the clock is always the
// fixture's fake one.
func newFixtureWith(tb testing.TB, opts simtenant.Options, more ...simtest.Option) *fixture {
	tb.Helper()
	sim := simtest.Start(tb, append([]simtest.Option{simtest.TenantOptions(opts)}, more...)...)
	return &fixture{tenant: sim.Tenant, engine: newEngine(tb, sim, sim.Graph, sim.Exchange, sim.Clock), clock: sim.Clock}
}

// newEngine is a fixture's engine: gc and xc talk to sim, new secrets go to a temporary
// directory or a fake Key Vault and are verified against sim's authority, waiting on clk.
func newEngine(tb testing.TB, sim *simtest.Fixture, gc *graph.Client, xc *exchange.Client, clk clock.Clock) *provision.Engine {
	tb.Helper()
	// The sinks' base directory, one level down, so that a path like the examples'
	// ../openfire-credentials.json is this engine's own too (fixtures made in one test or
	// benchmark iterations would share tb.TempDir's parent).
	dir := filepath.Join(tb.TempDir(), "cwd")
	if err := os.Mkdir(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	// A fake Key Vault reached under any vault's host name, for the manifests that store
	// their secret in one.
	_, vaultClient := anyhost.Serve(tb, keyvaultsim.New(keyvaultsim.Options{Clock: clk}).Handler())
	return &provision.Engine{
		Graph:    gc,
		Exchange: xc,
		Secrets: provision.SecretDeps{
			Sinks: func(store manifests.SecretStore) ([]sink.Sink, error) {
				return sink.FromStore(store, sink.Deps{BaseDir: dir, Getenv: func(string) string { return "" },
					KeyVaultCredential: &fixedtoken.Credential{Token: "vault-token"}, // the fake vault accepts any
					KeyVault:           sink.KeyVaultOptions{Transport: vaultClient}})
			},
			Verify:        verify.ClientSecret{AuthorityHost: sim.Server.URL, Scope: sim.Server.URL + "/.default", Transport: sim.HTTPClient, Clock: clk}.Verify,
			TenantID:      sim.TenantID,
			AuthorityHost: sim.Server.URL + "/",
			LockDir:       dir,
		},
	}
}

// graphRoundTrips counts the HTTP requests to Graph the tenant served: a $batch is one, its
// inner requests none; token requests and Exchange calls are not Graph.
func graphRoundTrips(tenant *simtenant.Tenant) int {
	n := 0
	for _, r := range tenant.RequestLog() {
		if !r.Batch && strings.HasPrefix(r.Path, "/v1.0/") {
			n++
		}
	}
	return n
}

// example loads a manifest of examples/ with no environment (defaults apply).
func example(tb testing.TB, name string) []*manifests.Document {
	tb.Helper()
	docs, diags := manifests.LoadFile(filepath.Join("..", "examples", name), func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		tb.Fatalf("load %s: %v", name, diags)
	}
	return docs
}

// lines renders a plan's changes as "glyph address", the form tests compare.
func lines(p *provision.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, string(c.Action)+" "+c.Address)
	}
	return out
}

func (f *fixture) plan(tb testing.TB, docs []*manifests.Document) *provision.Plan {
	tb.Helper()
	p, err := f.engine.Plan(context.Background(), docs)
	if err != nil {
		tb.Fatalf("plan: %v", err)
	}
	return p
}

func (f *fixture) apply(tb testing.TB, p *provision.Plan) {
	tb.Helper()
	if _, err := f.engine.Apply(context.Background(), p, nil); err != nil {
		tb.Fatalf("apply: %v", err)
	}
}

func TestPlanApplyPlanIsEmpty(t *testing.T) {
	cases := map[string]struct {
		reason   string
		manifest string
		want     []string
	}{
		"openfire": {
			reason:   "the whole OpenFire procedure: app, enterprise app, Graph and Exchange consent, secret, assignments, Send-As, and the mailbox side: SMTP AUTH, the Exchange registration, FullAccess",
			manifest: "openfire.yaml",
			want: []string{
				`+ application["OpenFire"]`,
				`+ application["OpenFire"].service_principal`,
				`+ application["OpenFire"].consent["Microsoft Graph"].delegated`,
				`+ application["OpenFire"].consent["Office 365 Exchange Online"].delegated`,
				`+ application["OpenFire"].consent["Office 365 Exchange Online"].role["IMAP.AccessAsApp"]`,
				`+ application["OpenFire"].consent["Office 365 Exchange Online"].role["POP.AccessAsApp"]`,
				`+ application["OpenFire"].consent["Office 365 Exchange Online"].role["SMTP.SendAsApp"]`,
				`+ application["OpenFire"].secret["OpenFire Mail"]`,
				`+ application["OpenFire"].assignment.user["jm@office.openfire.pro"]`,
				`+ application["OpenFire"].assignment.user["jojo@office.openfire.pro"]`,
				`+ send_as["jm@office.openfire.pro"].trustee["jojo@office.openfire.pro"]`,
				`~ mailbox["jm@office.openfire.pro"].smtp_auth`,
				`~ mailbox["jojo@office.openfire.pro"].smtp_auth`,
				`+ application["OpenFire"].exchange_service_principal`,
				`+ mailbox["jm@office.openfire.pro"].full_access`,
			},
		},
		"minimal": {
			reason:   "an app with one delegated permission and no consent",
			manifest: "minimal.yaml",
			want: []string{
				`+ application["Minimal Example"]`,
				`+ application["Minimal Example"].service_principal`,
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, simtenant.Faults{})
			docs := example(t, tc.manifest)
			first := f.plan(t, docs)
			if diff := cmp.Diff(tc.want, lines(first)); diff != "" {
				t.Fatalf("%s\nfirst plan -want +got:\n%s", tc.reason, diff)
			}
			f.apply(t, first)
			again := f.plan(t, docs)
			if diff := cmp.Diff([]string(nil), lines(again)); diff != "" {
				t.Errorf("%s\nplan after apply -want +got:\n%s", tc.reason, diff)
			}
		})
	}
}

func TestNoopPlanRoundTrips(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	docs := example(t, "openfire.yaml")
	f.apply(t, f.plan(t, docs))
	f.tenant.ResetStats()
	f.plan(t, docs)
	if n := graphRoundTrips(f.tenant); n > 3 {
		t.Errorf("a no-op plan of openfire.yaml took %d Graph round trips, want at most 3 (token requests and Exchange excluded): %v", n, f.tenant.Stats().ByRoute)
	}
}

// TestApplyFromEmptyRoundTrips counts what apply of openfire.yaml from empty sends to Graph:
// the upsert, the service principal, one probe of it (not one per stage that writes under
// it), the consent batch, the credentials read before addPassword, addPassword, and the
// user-assignment batch; a first delivery has nothing to retire and reads nothing more.
func TestApplyFromEmptyRoundTrips(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	p := f.plan(t, example(t, "openfire.yaml"))
	f.tenant.ResetStats()
	f.apply(t, p)
	routes := f.tenant.Stats().ByRoute
	if n := routes["GET /v1.0/servicePrincipals/{id}"]; n != 1 {
		t.Errorf("apply probed the new service principal %d times, want once: %v", n, routes)
	}
	if n := routes["GET /v1.0/applications/{id}"]; n != 1 {
		t.Errorf("apply read the application's credentials %d times, want once (before addPassword): %v", n, routes)
	}
	if n := graphRoundTrips(f.tenant); n > 7 {
		t.Errorf("apply of openfire.yaml from empty took %d Graph round trips, want at most 7: %v", n, routes)
	}
}

func TestDriftIsRepaired(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	docs := example(t, "openfire.yaml")
	f.apply(t, f.plan(t, docs))

	// Someone edits the app in the portal: another redirect URI, a scope removed from the
	// consent, an extra application permission consented.
	o := f.observedIDs(t, docs)
	ctx := context.Background()
	client := f.engine.Graph.Graph
	patch := newApplication()
	patch.SetWeb(webRedirects("https://mabase.openfire.fr/microsoft_outlook/confirm", "https://evil.example/cb"))
	if _, err := client.Applications().ByApplicationId(o.appObjectID).Patch(ctx, patch, nil); err != nil {
		t.Fatal(err)
	}
	grant := newGrant("User.Read offline_access")
	if _, err := client.Oauth2PermissionGrants().ByOAuth2PermissionGrantId(o.grantID).Patch(ctx, grant, nil); err != nil {
		t.Fatal(err)
	}
	if err := client.ServicePrincipals().ByServicePrincipalId(o.exoSPID).AppRoleAssignedTo().ByAppRoleAssignmentId(o.assignmentID).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}

	drift := f.plan(t, docs)
	want := []string{
		`~ application["OpenFire"]`,
		`~ application["OpenFire"].consent["Microsoft Graph"].delegated`,
		`+ application["OpenFire"].consent["Office 365 Exchange Online"].role["IMAP.AccessAsApp"]`,
	}
	if diff := cmp.Diff(want, lines(drift)); diff != "" {
		t.Fatalf("plan after drift -want +got:\n%s", diff)
	}
	f.apply(t, drift)
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Errorf("plan after repair -want +got:\n%s", diff)
	}
}

func TestPortalAppIsAdoptedNotDuplicated(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	ctx := context.Background()
	client := f.engine.Graph.Graph
	portal := newApplication()
	name := "OpenFire"
	portal.SetDisplayName(&name)
	made, err := client.Applications().Post(ctx, portal, nil)
	if err != nil {
		t.Fatal(err)
	}
	docs := example(t, "openfire.yaml")
	p := f.plan(t, docs)
	if len(p.Changes) == 0 || p.Changes[0].Action != provision.Adopt {
		t.Fatalf("plan of a tenant with a portal-made OpenFire app: want an adoption first, got %v", lines(p))
	}
	f.apply(t, p)
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Errorf("plan after adoption -want +got:\n%s", diff)
	}
	filter := "displayName eq 'OpenFire'"
	apps, err := client.Applications().Get(ctx, appsNamed(filter))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(apps.GetValue()); got != 1 {
		t.Errorf("applications named OpenFire after adoption: got %d, want 1 (the portal's, %s)", got, *made.GetAppId())
	}
}

func TestFaultsConverge(t *testing.T) {
	cases := map[string]struct {
		reason string
		faults simtenant.Faults
	}{
		"ReplicationLag": {
			reason: "objects invisible for 30 s after their creation: writes that reference them are retried on the fake clock",
			faults: simtenant.Faults{ReplicationLag: 30 * time.Second},
		},
		"Throttling": {
			reason: "every third operation answered 429 with Retry-After, $batch items included",
			faults: simtenant.Faults{ThrottleEvery: 3, RetryAfter: 2 * time.Second},
		},
		"ServerErrors": {
			reason: "a fifth of operations fail with 5xx",
			faults: simtenant.Faults{ServerErrorRate: 0.2, Seed: 7},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.faults)
			docs := example(t, "openfire.yaml")
			f.apply(t, f.plan(t, docs))
			failed := 0
			for _, r := range f.tenant.RequestLog() {
				if r.Status >= 400 {
					failed++
				}
			}
			if failed == 0 {
				t.Fatalf("%s\nthe tenant answered no request with an error: the fault was not exercised", tc.reason)
			}
			f.clock.Advance(time.Hour) // let replication settle before checking
			if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
				t.Errorf("%s\nplan after apply -want +got:\n%s", tc.reason, diff)
			}
		})
	}
}

func TestUnknownPermissionIsReportedAtItsLine(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	// Parse, not Load: Load's offline catalogue would catch the typo first; this is the
	// check against the tenant's own service principals.
	docs, diags := manifests.Parse("bad.yaml", []byte(strings.Join([]string{
		"apiVersion: provision/v1",
		"application:",
		"  name: Bad",
		"  permissions:",
		"    - api: Microsoft Graph",
		"      delegated: [Mail.Sned]",
	}, "\n")), func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, err := f.engine.Plan(context.Background(), docs)
	want := `bad.yaml:6:19: application.permissions[0].delegated[0]: Microsoft Graph has no delegated permission "Mail.Sned" (did you mean "Mail.Send" or "Mail.Read"?)`
	got := fmt.Sprint(err)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan error -want +got:\n%s", diff)
	}
}

func TestPlanReportsEveryManagedSecretsExpiry(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	docs := example(t, "openfire.yaml")
	if got := f.plan(t, docs).Secrets; len(got) != 1 || got[0].KeyID != "" || got[0].DaysLeft != nil {
		t.Fatalf("secrets before the first apply: %+v, want the one secret with no credential yet", got)
	}
	f.apply(t, f.plan(t, docs))
	later, err := f.engine.PlanWith(context.Background(), docs, provision.PlanOptions{Now: f.clock.Now().Add(10 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got := later.Secrets
	lifetime := int(time.Duration(docs[0].Application.Secrets[0].EffectiveLifetime()).Hours() / 24)
	if len(got) != 1 || got[0].KeyID == "" || got[0].DaysLeft == nil || *got[0].DaysLeft != lifetime-10 ||
		got[0].Address != `application["OpenFire"].secret["OpenFire Mail"]` {
		t.Errorf("secrets 10 days after apply: %+v, want OpenFire Mail with %d days left", got, lifetime-10)
	}
}
