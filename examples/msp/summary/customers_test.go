package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/manifests/dotenv"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/render"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/keyvaultsim"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
	"github.com/provisionhq/provision/provision/simtenant/simtest/anyhost"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
	"github.com/provisionhq/provision/provision/sink"
	"github.com/provisionhq/provision/provision/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The MSP layout, from this package's directory.
const (
	template   = "../openfire.yaml"
	tenantsDir = "../tenants"
	// templateArg is the template as the workflows name it, from the repository's root: the
	// file of each run in the reports.
	templateArg = "examples/msp/openfire.yaml"
)

// customerTenant is one customer's simulated tenant and the engine signed in to it as the
// operator, as one matrix job of the workflow has them.
type customerTenant struct {
	name   string
	sim    *simtest.Fixture
	vault  *keyvaultsim.Server
	engine *provision.Engine
	docs   []*manifests.Document
}

// loadCustomer loads the template with the customer's env file, the values coming from the
// file alone (as `provision apply TEMPLATE --env-file FILE` with nothing else set).
func loadCustomer(tb testing.TB, name string) []*manifests.Document {
	tb.Helper()
	path := filepath.Join(tenantsDir, name+".env")
	data, err := manifests.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	vars, err := dotenv.Parse(path, data)
	if err != nil {
		tb.Fatal(err)
	}
	values := map[string]string{}
	for _, v := range vars {
		values[v.Name] = v.Value
	}
	docs, diags := manifests.LoadFile(template, func(name string) (string, bool) {
		v, ok := values[name]
		return v, ok
	})
	if diags.HasErrors() {
		tb.Fatalf("load %s with %s: %v", template, path, diags)
	}
	return docs
}

// startCustomer starts the customer's simulated tenant, with its own Key Vault, at clock
// time at, and signs an engine in to it.
func startCustomer(tb testing.TB, name string, opts simtenant.Options, at time.Time) *customerTenant {
	tb.Helper()
	// FreshSignIn: the onboarding scenario moves the fake clock months ahead, which cached
	// tokens would not survive.
	sim := simtest.Start(tb, simtest.TenantOptions(opts), simtest.ClockAt(at), simtest.FreshSignIn())
	vault := keyvaultsim.New(keyvaultsim.Options{Clock: sim.Clock})
	_, vaultClient := anyhost.Serve(tb, vault.Handler())
	c := &customerTenant{name: name, sim: sim, vault: vault, docs: loadCustomer(tb, name)}
	c.engine = &provision.Engine{
		Graph:    sim.Graph,
		Exchange: sim.Exchange,
		Secrets: provision.SecretDeps{
			Sinks: func(store manifests.SecretStore) ([]sink.Sink, error) {
				return sink.FromStore(store, sink.Deps{
					KeyVaultCredential: &fixedtoken.Credential{Token: "vault-token"}, // the fake vault accepts any
					KeyVault: sink.KeyVaultOptions{Transport: vaultClient,
						Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond}},
					BaseDir: tb.TempDir(),
					Getenv:  func(string) string { return "" },
				})
			},
			Verify:        verify.ClientSecret{AuthorityHost: sim.Server.URL, Scope: sim.Server.URL + "/.default", Transport: sim.HTTPClient, Clock: sim.Clock}.Verify,
			TenantID:      sim.TenantID,
			AuthorityHost: sim.Server.URL + "/",
		},
	}
	return c
}

func (c *customerTenant) plan(tb testing.TB) *provision.Plan {
	tb.Helper()
	p, err := c.engine.Plan(context.Background(), c.docs)
	if err != nil {
		tb.Fatalf("%s: plan: %v", c.name, err)
	}
	return p
}

// job is what one matrix job of the workflow does for the customer: apply -o json, then
// plan -o json from a fresh read, both documents written to reports/<customer>/ as the CLI
// prints them. It returns the plan apply carried out, the plan after and apply's error.
func (c *customerTenant) job(tb testing.TB, reports string) (planned, after *provision.Plan, applyErr error) {
	tb.Helper()
	p := c.plan(tb)
	tenant := c.docs[0].Tenant
	applied := !p.Empty()
	var results []provision.ChangeResult
	if applied {
		var res *provision.ApplyResult
		res, applyErr = c.engine.Apply(context.Background(), p, nil)
		if res != nil {
			results = res.Results
		}
	}
	applyReport := render.NewReport([]render.Run{render.NewRun(templateArg, tenant, p, results)})
	applyReport.Applied = &applied
	after = c.plan(tb)
	afterReport := render.NewReport([]render.Run{render.NewRun(templateArg, tenant, after, nil)})
	dir := filepath.Join(reports, c.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for file, rep := range map[string]render.Report{"apply.json": applyReport, "plan.json": afterReport} {
		var b bytes.Buffer
		if err := render.WriteJSON(&b, rep); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), b.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return p, after, applyErr
}

// vaultSecret is the newest version of the OpenFire secret in the customer's vault.
func (c *customerTenant) vaultSecret(tb testing.TB) keyvaultsim.Version {
	tb.Helper()
	versions := c.vault.Versions("openfire-client-secret")
	if len(versions) == 0 {
		tb.Fatalf("%s: no openfire-client-secret in the customer's vault", c.name)
	}
	return versions[len(versions)-1]
}

// lines renders a plan's changes as "glyph address", the form the tests compare.
func lines(p *provision.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, string(c.Action)+" "+c.Address)
	}
	return out
}

// onboarding is the first apply for a customer: everything the template describes, addressed
// with the customer's own mailboxes (a plan sorts them).
func onboarding(admin, sender1, sender2 string) []string {
	out := []string{
		`+ application["OpenFire"]`,
		`+ application["OpenFire"].service_principal`,
		`+ application["OpenFire"].consent["Microsoft Graph"].delegated`,
		`+ application["OpenFire"].consent["Office 365 Exchange Online"].delegated`,
		`+ application["OpenFire"].consent["Office 365 Exchange Online"].role["IMAP.AccessAsApp"]`,
		`+ application["OpenFire"].consent["Office 365 Exchange Online"].role["POP.AccessAsApp"]`,
		`+ application["OpenFire"].consent["Office 365 Exchange Online"].role["SMTP.SendAsApp"]`,
		`+ application["OpenFire"].secret["OpenFire Mail"]`,
	}
	users := []string{admin, sender1, sender2}
	slices.Sort(users)
	for _, u := range users {
		out = append(out, `+ application["OpenFire"].assignment.user["`+u+`"]`)
	}
	trustees := []string{sender1, sender2}
	slices.Sort(trustees)
	for _, u := range trustees {
		out = append(out, `+ send_as["`+admin+`"].trustee["`+u+`"]`)
	}
	return append(out, mailboxSide(admin, sender1, sender2)...)
}

// mailboxSide is the template's mailbox side for a customer who has none yet: SMTP AUTH on
// for every mailbox that logs in, the registration in Exchange, FullAccess on the reference
// mailbox.
func mailboxSide(admin, sender1, sender2 string) []string {
	var out []string
	mailboxes := []string{admin, sender1, sender2}
	slices.Sort(mailboxes)
	for _, m := range mailboxes {
		out = append(out, `~ mailbox["`+m+`"].smtp_auth`)
	}
	return append(out, `+ application["OpenFire"].exchange_service_principal`, `+ mailbox["`+admin+`"].full_access`)
}

// TestOneTemplateThreeTenants runs the MSP example as the matrix workflow does: one job per
// env file of examples/msp/tenants, each against its own tenant (three simulated tenants with
// their own ids and domains), then the summary job over the jobs' JSON reports. The three
// customers are the three situations an MSP meets: a customer new to OpenFire (contoso), one
// who followed the portal procedure by hand long ago (fabrikam), and one onboarded by
// provision 160 days ago whose rotation is now due but whose Key Vault refuses the new value
// (northwind). The next run, once the vault is fixed, finishes northwind's job.
func TestOneTemplateThreeTenants(t *testing.T) {
	epoch := simtest.Epoch()
	reports := t.TempDir()

	envs, err := filepath.Glob(filepath.Join(tenantsDir, "*.env"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range envs {
		names = append(names, strings.TrimSuffix(filepath.Base(e), ".env"))
	}
	if diff := cmp.Diff([]string{"contoso", "fabrikam", "northwind"}, names); diff != "" {
		t.Fatalf("customers of examples/msp/tenants (-want +got):\n%s", diff)
	}

	contoso := startCustomer(t, "contoso", simtenant.Options{TenantID: "3c1a5f0e-8d2b-4e7a-9b61-0f4d2c8a7e15", Domain: "contoso.onmicrosoft.com"}, epoch)
	fabrikam := startCustomer(t, "fabrikam", simtenant.Options{TenantID: "9e4b2d71-6a3c-4f08-8b15-2c7e9d0a4f63", Domain: "fabrikam.onmicrosoft.com"}, epoch)
	northwind := startCustomer(t, "northwind", simtenant.Options{TenantID: "b7d05e3a-1f94-4c62-a8e0-5d3f6b2c9a81", Domain: "northwind.onmicrosoft.com"}, epoch.AddDate(0, 0, -160))
	customers := []*customerTenant{contoso, fabrikam, northwind}

	// The template names the customer's tenant: the CLI refuses to run a file whose tenant id
	// is not the signed-in tenant's, so this is what keeps each job on its own customer.
	for _, c := range customers {
		if got := c.docs[0].Tenant; got != c.sim.TenantID {
			t.Errorf("%s: the template's tenant is %q, want the customer's tenant %s", c.name, got, c.sim.TenantID)
		}
	}

	// Fabrikam's administrator followed the portal procedure: the app, its Graph delegated
	// scopes and the Exchange roles, consented, but no unique name and no Exchange delegated
	// scopes, no assignments and no Send-As.
	if _, err := fabrikam.sim.Tenant.SeedPortalApp(simtenant.PortalApp{
		DisplayName:    "OpenFire",
		SignInAudience: "AzureADMultipleOrgs",
		RedirectURIs:   []string{"https://fabrikam.openfire.fr/microsoft_outlook/confirm"},
		Delegated: map[string][]string{graphAppID: {"User.Read", "User.Read.All", "Mail.Send", "Mail.Send.Shared",
			"Mail.ReadWrite", "offline_access", "SMTP.Send", "POP.AccessAsUser.All", "IMAP.AccessAsUser.All"}},
		Application:  map[string][]string{exchangeAppID: {"IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"}},
		AdminConsent: true,
	}); err != nil {
		t.Fatal(err)
	}
	// Northwind was onboarded 160 days ago; today its 180-day secret is due for rotation, and
	// its vault refuses writes (an access policy changed on the customer's side).
	if got, want := lines(northwind.plan(t)), onboarding("contact@northwind.onmicrosoft.com", "admin@northwind.onmicrosoft.com", "jm@northwind.onmicrosoft.com"); !cmp.Equal(want, got) {
		t.Fatalf("northwind: onboarding plan (-want +got):\n%s", cmp.Diff(want, got))
	}
	if _, err := northwind.engine.Apply(context.Background(), northwind.plan(t), nil); err != nil {
		t.Fatalf("northwind: onboarding apply: %v", err)
	}
	onboarded := northwind.vaultSecret(t)
	northwind.sim.Clock.Set(epoch)
	northwind.vault.InjectFault(keyvaultsim.Fault{Status: 403, Count: 100})

	// The matrix: one job per customer, each planned and applied against its own tenant.
	type jobResult struct {
		planned  []string
		applyErr bool
		after    []string
	}
	want := map[string]jobResult{
		"contoso": {planned: onboarding("admin@contoso.onmicrosoft.com", "jm@contoso.onmicrosoft.com", "jojo@contoso.onmicrosoft.com")},
		"fabrikam": {planned: append([]string{
			`> application["OpenFire"]`,
			`+ application["OpenFire"].consent["Office 365 Exchange Online"].delegated`,
			`+ application["OpenFire"].secret["OpenFire Mail"]`,
			`+ application["OpenFire"].assignment.user["contact@fabrikam.onmicrosoft.com"]`,
			`+ application["OpenFire"].assignment.user["jm@fabrikam.onmicrosoft.com"]`,
			`+ application["OpenFire"].assignment.user["jojo@fabrikam.onmicrosoft.com"]`,
			`+ send_as["jm@fabrikam.onmicrosoft.com"].trustee["contact@fabrikam.onmicrosoft.com"]`,
			`+ send_as["jm@fabrikam.onmicrosoft.com"].trustee["jojo@fabrikam.onmicrosoft.com"]`,
		}, mailboxSide("jm@fabrikam.onmicrosoft.com", "contact@fabrikam.onmicrosoft.com", "jojo@fabrikam.onmicrosoft.com")...)},
		"northwind": {
			planned:  []string{`± application["OpenFire"].secret["OpenFire Mail"]`},
			applyErr: true,
			after:    []string{`± application["OpenFire"].secret["OpenFire Mail"]`},
		},
	}
	got := map[string]jobResult{}
	for _, c := range customers {
		p, after, applyErr := c.job(t, reports)
		got[c.name] = jobResult{planned: lines(p), applyErr: applyErr != nil, after: lines(after)}
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(jobResult{})); diff != "" {
		t.Errorf("the matrix jobs (-want +got):\n%s", diff)
	}

	// Each customer's secret is in that customer's vault, made for that customer's tenant.
	for _, c := range []*customerTenant{contoso, fabrikam} {
		if got := c.vaultSecret(t).Tags["tenantId"]; got != c.sim.TenantID {
			t.Errorf("%s: the vault's secret is for tenant %q, want %s", c.name, got, c.sim.TenantID)
		}
	}
	if got := northwind.vaultSecret(t); got.Version != onboarded.Version {
		t.Errorf("northwind: the refused rotation left vault version %s, want the onboarding's %s", got.Version, onboarded.Version)
	}

	// The summary job, over the reports as the workflow downloads them. Every secret value any
	// vault holds is searched for in the reports first: none may carry one.
	var values []string
	for _, c := range customers {
		for _, v := range c.vault.Versions("openfire-client-secret") {
			values = append(values, v.Value)
		}
	}
	assertNoValueIn(t, reports, values)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-customers", tenantsDir, reports}, &stdout, &stderr); code != 0 {
		t.Fatalf("summary exited %d: %s", code, stderr.String())
	}
	// Key ids are the tenant's random ones.
	golden(t, "three-customers.md", keyID.ReplaceAllString(stdout.String(), "keyId KEY-ID"))

	// The next scheduled run, with the vault fixed, finishes northwind: the rotation goes
	// through and every customer plans empty.
	northwind.vault.ClearFaults()
	if _, after, applyErr := northwind.job(t, t.TempDir()); applyErr != nil || !after.Empty() {
		t.Errorf("northwind, next run: apply error %v, plan after %q; want none and empty", applyErr, lines(after))
	}
	if got := northwind.vaultSecret(t); got.Version == onboarded.Version || got.Tags["tenantId"] != northwind.sim.TenantID {
		t.Errorf("northwind, next run: vault version %s for tenant %q, want a new version for %s", got.Version, got.Tags["tenantId"], northwind.sim.TenantID)
	}
	for _, c := range customers {
		if p := c.plan(t); !p.Empty() {
			t.Errorf("%s: plan after the runs is not empty: %q", c.name, lines(p))
		}
	}
}

// keyID matches a credential's key id in a plan's warning.
var keyID = regexp.MustCompile(`keyId [0-9a-f-]{36}`)

// The resource applications of the portal procedure's permissions.
const (
	graphAppID    = "00000003-0000-0000-c000-000000000000"
	exchangeAppID = "00000002-0000-0ff1-ce00-000000000000"
)

// assertNoValueIn fails if any file under dir contains one of the values.
func assertNoValueIn(tb testing.TB, dir string, values []string) {
	tb.Helper()
	if len(values) == 0 {
		tb.Fatal("no secret values to look for")
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(values, func(v string) bool { return v != "" && bytes.Contains(data, []byte(v)) }) {
			tb.Errorf("%s contains a secret value", path)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(tb testing.TB, name, got string) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		tb.Errorf("%s (-want +got):\n%s", path, diff)
	}
}
