package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
)

// portalState writes the state file of a simulated tenant in which an administrator made
// the OpenFire setup by hand (registration, permissions, consent, Send-As), and returns the
// application's client id.
func portalState(t *testing.T, path string) string {
	t.Helper()
	tenant, err := simtenant.New(simtenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tenant.SeedPortalApp(simtenant.PortalApp{
		DisplayName:    "OpenFire",
		SignInAudience: "AzureADMultipleOrgs",
		RedirectURIs:   []string{"https://mabase.openfire.fr/microsoft_outlook/confirm"},
		Delegated:      map[string][]string{manifests.MicrosoftGraphAppID: {"User.Read", "Mail.Send", "offline_access", "SMTP.Send"}},
		Application:    map[string][]string{manifests.ExchangeOnlineAppID: {"SMTP.SendAsApp"}},
		AdminConsent:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.Exchange().Seed("jm@"+simtenant.DefaultDomain, exchangesim.Seed{Trustee: "jojo@" + simtenant.DefaultDomain}); err != nil {
		t.Fatal(err)
	}
	saveTenant(t, tenant, path)
	return ids.AppID
}

// saveTenant writes tenant's state where --simulate=path reads it.
func saveTenant(t *testing.T, tenant *simtenant.Tenant, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.Save(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestExportThenPlanIsEmpty(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "tenant.json")
	appID := portalState(t, state)
	manifest := filepath.Join(dir, "openfire.yaml")
	c := &cli{}

	if code := c.run(t, "export", "--app-id", appID, "--mailbox", "jm@"+simtenant.DefaultDomain, "-f", manifest, "--simulate="+state); code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, c.stderr.String())
	}
	if !strings.Contains(c.stderr.String(), "Wrote "+manifest) {
		t.Errorf("export does not say where it wrote: %q", c.stderr.String())
	}
	if code := c.run(t, "validate", manifest); code != exitOK {
		t.Fatalf("validate the exported manifest: exit %d\n%s", code, c.stderr.String())
	}
	if code := c.run(t, "plan", manifest, "--simulate="+state, "--detailed-exitcode"); code != exitOK {
		data, _ := os.ReadFile(manifest)
		t.Fatalf("plan of the exported manifest: exit %d, want 0 (no changes)\n%s%s\n%s", code, c.stdout.String(), c.stderr.String(), data)
	}

	// By name, to stdout, as JSON.
	if code := c.run(t, "export", "--name", "OpenFire", "-o", "json", "--simulate="+state); code != exitOK {
		t.Fatalf("export -o json: exit %d\n%s", code, c.stderr.String())
	}
	var out exportJSON
	if err := json.Unmarshal(c.stdout.Bytes(), &out); err != nil {
		t.Fatalf("export -o json is not JSON: %v\n%s", err, c.stdout.String())
	}
	if out.Manifest == nil || out.Manifest.Application.AppID != appID || !out.Manifest.Application.AdminConsent || len(out.Manifest.SendAs) != 0 {
		t.Errorf("export -o json manifest = %+v, want appId %s with adminConsent and no sendAs (no --mailbox)", out.Manifest, appID)
	}
}

func TestExportOfAnUnknownApplicationFails(t *testing.T) {
	state := filepath.Join(t.TempDir(), "tenant.json")
	portalState(t, state)
	c := &cli{}
	if code := c.run(t, "export", "--name", "Nobody", "--simulate="+state); code != exitError || !strings.Contains(c.stderr.String(), "no such application") {
		t.Errorf("export of an unknown name: exit %d, stderr %q; want 1 and a message", code, c.stderr.String())
	}
}
