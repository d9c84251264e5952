package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant"
)

// markWriter collects what a running command writes and closes seen once it contains mark.
type markWriter struct {
	mu   sync.Mutex
	b    strings.Builder
	mark string
	seen chan struct{}
}

func newMarkWriter(mark string) *markWriter {
	return &markWriter{mark: mark, seen: make(chan struct{})}
}

func (w *markWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.b.String(), w.mark)
	n, err := w.b.Write(p)
	if !had && strings.Contains(w.b.String(), w.mark) {
		close(w.seen)
	}
	return n, err
}

func (w *markWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// serveUntilReady runs `simulate serve` with args until it says it is serving, then stops it,
// returning its stdout and stderr.
func serveUntilReady(t *testing.T, env map[string]string, args ...string) (string, string) {
	t.Helper()
	work := t.TempDir()
	stdout, stderr := newMarkWriter(""), newMarkWriter("press Ctrl-C to stop")
	f := &factory{in: strings.NewReader(""), out: stdout, errOut: stderr, isTerminal: func() bool { return false },
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		clock:     clock.Real{}, workDir: os.Getwd, cacheDir: func() (string, error) { return work, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- run(ctx, append([]string{"simulate", "serve"}, args...), f) }()
	select {
	case <-stderr.seen:
	case code := <-done:
		cancel()
		t.Fatalf("simulate serve exited %d before serving; stderr:\n%s", code, stderr.String())
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("simulate serve: exit %d; stderr:\n%s", code, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// exports reads `export NAME='value'` lines.
func exports(t *testing.T, out string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		kv, ok := strings.CutPrefix(line, "export ")
		name, value, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 {
			t.Fatalf("not an export line: %q", line)
		}
		env[name] = strings.Trim(value, "'")
	}
	return env
}

func TestSimulateServeChoosesTheTenantAndListsWhoIsInIt(t *testing.T) {
	cases := []struct {
		reason string
		env    map[string]string
		args   []string
		domain string
	}{
		{"the seed procedure's tenant by default", nil, nil, simtenant.DefaultDomain},
		{"--tenant chooses a new tenant's domain", nil, []string{"--tenant", "contoso.onmicrosoft.com"}, "contoso.onmicrosoft.com"},
		{"so does PROVISION_SIMULATE_TENANT", map[string]string{envSimulateTenant: "fabrikam.onmicrosoft.com"}, nil, "fabrikam.onmicrosoft.com"},
		{"--tenant wins over the variable", map[string]string{envSimulateTenant: "fabrikam.onmicrosoft.com"}, []string{"--tenant", "contoso.onmicrosoft.com"}, "contoso.onmicrosoft.com"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "tenant.json")
			stdout, stderr := serveUntilReady(t, tc.env, append([]string{"--state", state}, tc.args...)...)
			env := exports(t, stdout)
			host := strings.TrimPrefix(env["PROVISION_GRAPH_ENDPOINT"], "https://")
			want := map[string]string{
				"AZURE_TENANT_ID":             simtenant.TenantIDFor(tc.domain),
				"ARM_METADATA_HOSTNAME":       host,
				"PROVISION_KEYVAULT_ENDPOINT": "https://" + host,
				"SSL_CERT_FILE":               filepath.Join(filepath.Dir(state), "tenant.ca.pem"),
			}
			for name, value := range want {
				if env[name] != value {
					t.Errorf("export %s=%q, want %q", name, env[name], value)
				}
			}
			// The mail listeners run on the same loopback host, on ports of their own.
			for _, name := range []string{"PROVISION_SMTP_ENDPOINT", "PROVISION_IMAP_ENDPOINT", "PROVISION_POP_ENDPOINT"} {
				if v := env[name]; !strings.HasPrefix(v, "127.0.0.1:") || v == host || !strings.Contains(stderr, v) {
					t.Errorf("export %s=%q, want a 127.0.0.1 port of its own, listed on stderr", name, v)
				}
			}
			for _, line := range []string{
				"Simulated tenant " + tc.domain + " (tenant id " + simtenant.TenantIDFor(tc.domain) + ").",
				"admin@" + tc.domain, "mailbox jm@" + tc.domain, "stagiaire@" + tc.domain, "(sign-in disabled)",
				"Comptabilité", "mail-enabled, mailbox compta@" + tc.domain, "Équipe OpenFire", "security group, no mailbox",
			} {
				if !strings.Contains(stderr, line) {
					t.Errorf("stderr lacks %q:\n%s", line, stderr)
				}
			}
			if strings.Contains(stderr, env["AZURE_CLIENT_SECRET"]) || strings.Contains(stderr, "export ") {
				t.Errorf("stderr carries the export lines or the secret:\n%s", stderr)
			}
		})
	}
}

func TestSimulateServeKeepsOneTenantPerStateFile(t *testing.T) {
	state := filepath.Join(t.TempDir(), "tenant.json")
	serveUntilReady(t, nil, "--state", state, "--tenant", "contoso.onmicrosoft.com")
	c := &cli{}
	code := c.run(t, "simulate", "serve", "--state", state, "--tenant", "fabrikam.onmicrosoft.com")
	if code != exitError || !strings.Contains(c.stderr.String(), "holds the simulated tenant contoso.onmicrosoft.com") {
		t.Errorf("serving contoso's state as fabrikam: exit %d, stderr %s", code, c.stderr.String())
	}
}

// TestSimulateKeepsKeyVaultSecretsInTheSimulator applies the Key Vault example: its secret
// lands in the simulated vault under the manifest's own vault URL, and nothing reaches a real one.
//
// The example names its tenant by domain (tenant: office.openfire.pro) while the vault's
// challenge names it by id, as the real vault's does: the credential serves that request as
// one for its own tenant, where azidentity alone would refuse it (ClientSecretCredential isn't
// configured to acquire tokens for tenant …).
func TestSimulateKeepsKeyVaultSecretsInTheSimulator(t *testing.T) {
	work := t.TempDir()
	state := filepath.Join(work, "tenant.json")
	manifest := copyExample(t, "openfire-keyvault.yaml", work)
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "tenant: office.openfire.pro") {
		t.Fatal("the example no longer names its tenant by domain: update this test")
	}
	chdir(t, work)
	c := &cli{}
	if code := c.run(t, "apply", "--auto-approve", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("apply: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	b, err = os.ReadFile(simtenant.KeyVaultStateFile(state))
	if err != nil {
		t.Fatal(err)
	}
	var vaults struct {
		Vaults map[string]struct {
			Secrets []struct {
				Name     string
				Versions []struct{ Tags map[string]string }
			}
		}
	}
	if err := json.Unmarshal(b, &vaults); err != nil {
		t.Fatal(err)
	}
	secrets := vaults.Vaults["openfire-kv.vault.azure.net"].Secrets
	if len(secrets) != 1 || secrets[0].Name != "openfire-client-secret" || len(secrets[0].Versions) != 1 ||
		secrets[0].Versions[0].Tags["managedBy"] != "provision" {
		t.Fatalf("simulated vault openfire-kv.vault.azure.net holds %+v, want one version of openfire-client-secret", secrets)
	}
	if code := c.run(t, "plan", "--detailed-exitcode", "--simulate="+state, manifest); code != exitOK {
		t.Errorf("plan after apply: exit %d, want 0 (no changes); stdout:\n%s", code, c.stdout.String())
	}
}

// TestSimulateTenantFromTheEnvironment runs a manifest for another tenant with --simulate
// alone: PROVISION_SIMULATE_TENANT picks the tenant, and its state file is its own.
func TestSimulateTenantFromTheEnvironment(t *testing.T) {
	work := t.TempDir()
	cache := filepath.Join(work, "cache")
	path := filepath.Join(work, "contoso.yaml")
	manifest := `apiVersion: provision/v1
tenant: contoso.onmicrosoft.com
application:
  name: Contoso Mail
  assignments:
    users: [jm@contoso.onmicrosoft.com]
`
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{envSimulateTenant: "contoso.onmicrosoft.com"}
	provision := func(args ...string) (int, string) {
		var stdout, stderr strings.Builder
		f := &factory{in: strings.NewReader(""), out: &stdout, errOut: &stderr, isTerminal: func() bool { return false },
			lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			clock:     clock.Real{}, workDir: os.Getwd, cacheDir: func() (string, error) { return cache, nil }}
		code := run(context.Background(), args, f)
		return code, stdout.String() + stderr.String()
	}
	if code, out := provision("apply", "--auto-approve", "--simulate", path); code != exitOK {
		t.Fatalf("apply for contoso: exit %d\n%s", code, out)
	}
	if code, out := provision("plan", "--detailed-exitcode", "--simulate", path); code != exitOK {
		t.Errorf("plan after apply: exit %d, want 0\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(cache, "provision", "simulated-tenant-contoso.onmicrosoft.com.json")); err != nil {
		t.Errorf("contoso's default state file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, "provision", "simulated-tenant.json")); err == nil {
		t.Error("the default tenant's state file was written for contoso")
	}
}

func TestKeyVaultEndpointRoutesAnotherShellsRuns(t *testing.T) {
	srv, err := simtenant.Listen(context.Background(), simtenant.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cases := []struct {
		reason   string
		endpoint string
		wantErr  string
	}{
		{reason: "the endpoint simulate serve prints", endpoint: srv.KeyVaultEndpoint},
		{reason: "not https", endpoint: "http://127.0.0.1:1", wantErr: "is not an https URL"},
		{reason: "a path", endpoint: "https://127.0.0.1:1/vault", wantErr: "is not an https URL"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			f := &factory{lookupEnv: func(k string) (string, bool) {
				return tc.endpoint, k == envKeyVaultEndpoint
			}}
			tr, err := f.newTransport()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), envKeyVaultEndpoint) {
					t.Fatalf("newTransport: %v, want an error naming %s that says %q", err, envKeyVaultEndpoint, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Another shell trusts the simulator's CA through SSL_CERT_FILE; here, directly.
			tr.TLSClientConfig = &tls.Config{RootCAs: srv.CAPool, MinVersion: tls.VersionTLS12}
			hc := &http.Client{Transport: tr}
			tid, cid, secret := srv.Tenant.OperatorCredentials()
			cred, err := azidentity.NewClientSecretCredential(tid, cid, secret, &azidentity.ClientSecretCredentialOptions{
				ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost}, Transport: hc},
				DisableInstanceDiscovery: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			kv, err := azsecrets.NewClient("https://contoso-kv.vault.azure.net", cred, &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc}})
			if err != nil {
				t.Fatal(err)
			}
			value := "v"
			if _, err := kv.SetSecret(context.Background(), "s", azsecrets.SetSecretParameters{Value: &value}, nil); err != nil {
				t.Fatalf("set a secret through the routed transport: %v", err)
			}
			if n := len(srv.Tenant.KeyVault("contoso-kv.vault.azure.net").Versions("s")); n != 1 {
				t.Errorf("the simulated vault holds %d versions, want 1", n)
			}
		})
	}
}
