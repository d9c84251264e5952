package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-cmp/cmp"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/render"
	"github.com/provisionhq/provision/provision/sensitive"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/keyvaultsim"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
	"github.com/provisionhq/provision/provision/simtenant/simtest/anyhost"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
	"github.com/provisionhq/provision/provision/sink"
	"github.com/provisionhq/provision/provision/verify"
)

// secretsFixture is a simulated tenant and a fake Key Vault over TLS, an engine whose real
// Graph client signs in as the operator with a request log, and sinks rooted in a temporary
// directory; everything runs on one fake clock.
type secretsFixture struct {
	tenant   *simtenant.Tenant
	srv      *httptest.Server
	engine   *provision.Engine
	clock    *clock.Fake
	dir      string
	vault    *keyvaultsim.Server
	vaultURL string
	// requestLog receives the Graph client's -v log.
	requestLog *bytes.Buffer
	// stdout is what the sinks print (GitHub's mask command; none of these tests use it).
	stdout *bytes.Buffer
	// failVerify makes the next verification fail without asking the authority.
	failVerify bool
	// verified counts successful verifications.
	verified int
	// policy400 makes the next addPassword answer the app management policy refusal.
	policy400 bool
	// loseAnswer makes the next addPassword succeed in the tenant but reach the client as a
	// 504 from a gateway, the case where a credential exists whose value nobody received.
	loseAnswer bool
	// brokenFile holds the file sink's content while a directory stands in its way.
	brokenFile []byte
}

func newSecretsFixture(t *testing.T) *secretsFixture {
	t.Helper()
	f := &secretsFixture{dir: t.TempDir(), requestLog: &bytes.Buffer{}, stdout: &bytes.Buffer{}}
	sim := simtest.Start(t, simtest.FreshSignIn(),
		simtest.Wrap(func(http.Handler) http.Handler { return http.HandlerFunc(f.serve) }),
		simtest.Graph(func(o *graph.Options) { o.RequestLog = f.requestLog }))
	f.tenant, f.srv, f.clock = sim.Tenant, sim.Server, sim.Clock
	f.vault = keyvaultsim.New(keyvaultsim.Options{Clock: f.clock})
	vaultSrv, vaultClient := anyhost.Serve(t, f.vault.Handler())
	f.vaultURL = vaultSrv.URL

	check := verify.ClientSecret{AuthorityHost: f.srv.URL, Scope: f.srv.URL + "/.default", Transport: f.srv.Client(), Clock: f.clock}
	f.engine = &provision.Engine{Graph: sim.Graph, Exchange: sim.Exchange, Secrets: provision.SecretDeps{
		Sinks: func(store manifests.SecretStore) ([]sink.Sink, error) {
			return sink.FromStore(store, sink.Deps{
				KeyVaultCredential: &fixedtoken.Credential{Token: "vault-token"}, // the fake vault accepts any
				KeyVault: sink.KeyVaultOptions{Transport: vaultClient,
					Retry: policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond}},
				BaseDir: f.dir,
				Getenv:  func(string) string { return "" },
				Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH")} },
				Stdout:  f.stdout,
			})
		},
		Verify: func(ctx context.Context, tenantID, clientID string, s sensitive.String) error {
			if f.failVerify {
				f.failVerify = false
				return errors.New("sign in with the new secret failed after 9 attempts over 2m0s: AADSTS7000215: Invalid client secret provided.")
			}
			err := check.Verify(ctx, tenantID, clientID, s)
			if err == nil {
				f.verified++
			}
			return err
		},
		TenantID:      sim.TenantID,
		AuthorityHost: f.srv.URL,
		LockDir:       f.dir,
	}}
	return f
}

// serve is the tenant's handler, with the one answer the simulated tenant does not model: an
// app management policy refusing the requested lifetime, as the service words it.
func (f *secretsFixture) serve(w http.ResponseWriter, r *http.Request) {
	if f.policy400 && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/addPassword") {
		f.policy400 = false
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"code":"CredentialInvalidLifetimeAsPerAppPolicy","message":"Credential lifetime exceeds the max value allowed as per assigned policy 'a1b2c3d4-0000-0000-0000-000000000000'.","details":[{"code":"InvalidKeyEndDate","message":"Credential lifetime exceeds the max value allowed as per assigned policy 'a1b2c3d4-0000-0000-0000-000000000000'.","target":"EndDate"}],"innerError":{"date":"2026-11-22T09:00:00","request-id":"5a1c9f0e-0000-0000-0000-000000000001","client-request-id":"5a1c9f0e-0000-0000-0000-000000000001"}}}`)
		return
	}
	if f.loseAnswer && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/addPassword") {
		f.loseAnswer = false
		f.tenant.Handler().ServeHTTP(httptest.NewRecorder(), r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGatewayTimeout)
		_, _ = io.WriteString(w, `{"error":{"code":"UnknownError","message":"","innerError":{"date":"2026-11-22T09:00:00","request-id":"5a1c9f0e-0000-0000-0000-000000000002","client-request-id":"5a1c9f0e-0000-0000-0000-000000000002"}}}`)
		return
	}
	f.tenant.Handler().ServeHTTP(w, r)
}

// secretManifest is an application with one secret delivered to store (YAML lines under
// store:, indented by eight spaces).
func secretManifest(t *testing.T, keepPrevious int, store string) []*manifests.Document {
	t.Helper()
	src := fmt.Sprintf(`apiVersion: provision/v1
application:
  name: Mailer
  uniqueName: mailer
  redirectUris:
    web: [https://mailer.example/callback]
  secrets:
    - name: Mailer Mail
      lifetime: 180d
      rotateBefore: 30d
      keepPrevious: %d
      store:
%s
`, keepPrevious, store)
	docs, diags := manifests.Load("mailer.yaml", []byte(src), func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		t.Fatalf("load manifest: %v\n%s", diags, src)
	}
	return docs
}

const fileStore = "        file: ./creds.json"

func (f *secretsFixture) plan(t *testing.T, docs []*manifests.Document, opts provision.PlanOptions) *provision.Plan {
	t.Helper()
	p, err := f.engine.PlanWith(context.Background(), docs, opts)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

// converge plans and applies, failing the test on an error.
func (f *secretsFixture) converge(t *testing.T, docs []*manifests.Document, opts provision.PlanOptions) *provision.Plan {
	t.Helper()
	p := f.plan(t, docs, opts)
	if _, err := f.engine.Apply(context.Background(), p, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return p
}

// credential is a password credential as the tenant holds it.
type credential struct {
	Name, KeyID string
}

// appID returns the client id of the Mailer application.
func (f *secretsFixture) appID(t *testing.T) string {
	t.Helper()
	name := "mailer"
	app, err := f.engine.Graph.Graph.ApplicationsWithUniqueName(&name).Get(context.Background(), nil)
	if err != nil {
		t.Fatalf("read application: %v", err)
	}
	return *app.GetAppId()
}

func (f *secretsFixture) objectID(t *testing.T) string {
	t.Helper()
	name := "mailer"
	app, err := f.engine.Graph.Graph.ApplicationsWithUniqueName(&name).Get(context.Background(), nil)
	if err != nil {
		t.Fatalf("read application: %v", err)
	}
	return *app.GetId()
}

// credentials lists the application's password credentials, newest first as the tenant
// lists them.
func (f *secretsFixture) credentials(t *testing.T) []credential {
	t.Helper()
	app, ok := f.tenant.Application(f.appID(t))
	if !ok {
		t.Fatal("no Mailer application in the tenant")
	}
	var out []credential
	for _, pc := range app["passwordCredentials"].([]any) {
		m := pc.(map[string]any)
		name, _ := m["displayName"].(string)
		out = append(out, credential{Name: name, KeyID: m["keyId"].(string)})
	}
	return out
}

func (f *secretsFixture) keyIDs(t *testing.T, name string) []string {
	var out []string
	for _, c := range f.credentials(t) {
		if c.Name == name {
			out = append(out, c.KeyID)
		}
	}
	return out
}

// fileDocument is the part of the file sink's document the tests read.
type fileDocument struct {
	TenantID string `json:"tenantId"`
	ClientID string `json:"clientId"`
	KeyID    string `json:"keyId"`
	Secret   string `json:"secret"`
}

func (f *secretsFixture) readFile(t *testing.T) fileDocument {
	t.Helper()
	path := filepath.Join(f.dir, "creds.json")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("file sink: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("file sink mode = %v, want 0600", info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d fileDocument
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("file sink document: %v\n%s", err, b)
	}
	return d
}

// signsIn reports whether clientID signs in with secret now (no waiting for propagation).
func (f *secretsFixture) signsIn(t *testing.T, clientID, secret string) bool {
	t.Helper()
	v := verify.ClientSecret{AuthorityHost: f.srv.URL, Scope: f.srv.URL + "/.default", Transport: f.srv.Client(),
		Clock: f.clock, Retry: graph.RetryPolicy{MaxAttempts: 1}}
	return v.Verify(context.Background(), f.tenant.TenantID(), clientID, sensitive.New(secret)) == nil
}

func TestSecretCreatedDeliveredAndQuietUntilDue(t *testing.T) {
	f := newSecretsFixture(t)
	docs := secretManifest(t, 1, fileStore)

	p := f.converge(t, docs, provision.PlanOptions{})
	if diff := cmp.Diff([]string{
		`+ application["Mailer"]`,
		`+ application["Mailer"].service_principal`,
		`+ application["Mailer"].secret["Mailer Mail"]`,
	}, secretLines(p)); diff != "" {
		t.Errorf("first plan (-want +got):\n%s", diff)
	}
	appID := f.appID(t)
	doc := f.readFile(t)
	if diff := cmp.Diff(fileDocument{TenantID: f.tenant.TenantID(), ClientID: appID, KeyID: f.keyIDs(t, "Mailer Mail")[0], Secret: doc.Secret}, doc); diff != "" {
		t.Errorf("file sink document (-want +got):\n%s", diff)
	}
	if !f.signsIn(t, appID, doc.Secret) || f.verified != 1 {
		t.Errorf("the delivered secret must sign in, and apply must have verified it (verified %d times)", f.verified)
	}

	for _, advance := range []time.Duration{0, 149 * 24 * time.Hour} {
		f.clock.Advance(advance)
		p := f.plan(t, docs, provision.PlanOptions{})
		if !p.Empty() || len(p.Warnings) != 0 {
			t.Errorf("%s after creation: the secret is far from expiry, want an empty plan without warnings, got %q %+v",
				advance, secretLines(p), p.Warnings)
		}
	}
}

// secretLines renders a plan's changes as "glyph address (reason)".
func secretLines(p *provision.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		line := string(c.Action) + " " + c.Address
		if c.Kind == provision.KindSecret && c.Action != provision.Create {
			line += " (" + c.Reason + ")"
		}
		out = append(out, line)
	}
	return out
}

func TestRotationKeepsPrevious(t *testing.T) {
	cases := map[string]struct {
		reason       string
		keepPrevious int
		// wantCount is the number of credentials after the due rotation and after a forced one.
		wantCount [2]int
	}{
		"keepPrevious 0": {reason: "no overlap: the old credential goes as soon as the new one works", keepPrevious: 0, wantCount: [2]int{1, 1}},
		"keepPrevious 1": {reason: "one previous credential stays for consumers still using it", keepPrevious: 1, wantCount: [2]int{2, 2}},
		"keepPrevious 2": {reason: "two previous credentials stay", keepPrevious: 2, wantCount: [2]int{2, 3}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newSecretsFixture(t)
			docs := secretManifest(t, tc.keepPrevious, fileStore)
			f.converge(t, docs, provision.PlanOptions{})
			appID := f.appID(t)
			first := f.readFile(t)

			f.clock.Advance(151 * 24 * time.Hour) // 29 days left of 180
			p := f.converge(t, docs, provision.PlanOptions{})
			if diff := cmp.Diff([]string{`± application["Mailer"].secret["Mailer Mail"] (expires in 29d, rotateBefore is 30d)`}, secretLines(p)); diff != "" {
				t.Errorf("%s: due rotation plan (-want +got):\n%s", tc.reason, diff)
			}
			second := f.readFile(t)
			ids := f.keyIDs(t, "Mailer Mail")
			if len(ids) != tc.wantCount[0] || ids[0] != second.KeyID || second.KeyID == first.KeyID {
				t.Errorf("%s: after rotation the tenant holds %v, the file %s (was %s); want %d credentials, the file's the newest",
					tc.reason, ids, second.KeyID, first.KeyID, tc.wantCount[0])
			}
			if !f.signsIn(t, appID, second.Secret) {
				t.Errorf("%s: the rotated secret does not sign in", tc.reason)
			}
			if got, want := f.signsIn(t, appID, first.Secret), tc.keepPrevious > 0; got != want {
				t.Errorf("%s: old secret signs in = %v, want %v", tc.reason, got, want)
			}
			if p := f.plan(t, docs, provision.PlanOptions{}); !p.Empty() {
				t.Errorf("%s: plan after rotation = %q, want empty", tc.reason, secretLines(p))
			}

			p = f.converge(t, docs, provision.PlanOptions{SecretsOnly: true, ForceRotate: true})
			if len(p.Changes) != 1 || p.Changes[0].Action != provision.Rotate || !strings.HasPrefix(p.Changes[0].Reason, "rotation forced (--force); expires in 180d") {
				t.Errorf("%s: forced rotation plan = %q", tc.reason, secretLines(p))
			}
			if ids := f.keyIDs(t, "Mailer Mail"); len(ids) != tc.wantCount[1] {
				t.Errorf("%s: after a forced rotation the tenant holds %v, want %d credentials", tc.reason, ids, tc.wantCount[1])
			}
			if p := f.plan(t, docs, provision.PlanOptions{}); !p.Empty() {
				t.Errorf("%s: plan after forced rotation = %q, want empty", tc.reason, secretLines(p))
			}
		})
	}
}

// addManual adds a credential the way someone in the portal would, outside the manifest.
func (f *secretsFixture) addManual(t *testing.T, name string, lifetime time.Duration) string {
	t.Helper()
	pc := models.NewPasswordCredential()
	end := f.clock.Now().Add(lifetime)
	pc.SetDisplayName(&name)
	pc.SetEndDateTime(&end)
	body := applications.NewItemAddPasswordPostRequestBody()
	body.SetPasswordCredential(pc)
	got, err := f.engine.Graph.Graph.Applications().ByApplicationId(f.objectID(t)).AddPassword().Post(context.Background(), body, nil)
	if err != nil {
		t.Fatalf("add %s: %v", name, err)
	}
	return got.GetKeyId().String()
}

func TestOtherCredentialsUntouchedButReported(t *testing.T) {
	f := newSecretsFixture(t)
	docs := secretManifest(t, 0, fileStore)
	f.converge(t, docs, provision.PlanOptions{})
	manual := f.addManual(t, "Portal secret", 10*24*time.Hour)

	p := f.plan(t, docs, provision.PlanOptions{})
	if !p.Empty() {
		t.Errorf("a credential of another name must not be planned: %q", secretLines(p))
	}
	want := []provision.Warning{{Kind: provision.WarningExpiry, Address: `application["Mailer"]`,
		Message: fmt.Sprintf(`client secret "Portal secret" (keyId %s) expires in 10d (2026-12-02T09:00:00Z): not managed by this manifest (no secret of that name), rotate or remove it yourself`, manual)}}
	if diff := cmp.Diff(want, p.Warnings, cmpIgnoreSource()); diff != "" {
		t.Errorf("expiry warning (-want +got):\n%s", diff)
	}

	f.converge(t, docs, provision.PlanOptions{SecretsOnly: true, ForceRotate: true})
	if !slices.Contains(f.keyIDs(t, "Portal secret"), manual) {
		t.Error("a rotation with keepPrevious 0 removed a credential it does not manage")
	}

	f.clock.Advance(11 * 24 * time.Hour)
	p = f.plan(t, docs, provision.PlanOptions{})
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0].Message, "expired 1d ago") {
		t.Errorf("an expired unmanaged credential must be reported: %+v", p.Warnings)
	}
}

func cmpIgnoreSource() cmp.Option {
	return cmp.Transformer("dropSource", func(w provision.Warning) provision.Warning {
		w.Source = manifests.Pos{}
		return w
	})
}

func TestEverySinkReceivesTheSameSecret(t *testing.T) {
	f := newSecretsFixture(t)
	script := filepath.Join(f.dir, "push.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat > received.json\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	store := fmt.Sprintf("        file: ./creds.json\n        keyVault: {url: %q, name: mailer-secret}\n        exec: [./push.sh]", f.vaultURL)
	docs := secretManifest(t, 1, store)
	p := f.converge(t, docs, provision.PlanOptions{})
	var sinks any
	for _, a := range p.Changes[len(p.Changes)-1].Attrs {
		if a.Name == "sinks" {
			sinks = a.After
		}
	}
	if diff := cmp.Diff([]string{"key vault " + f.vaultURL + " secret mailer-secret", "file ./creds.json", "exec ./push.sh"}, sinks); diff != "" {
		t.Errorf("sinks in the plan (-want +got):\n%s", diff)
	}

	doc := f.readFile(t)
	b, err := os.ReadFile(filepath.Join(f.dir, "received.json"))
	if err != nil {
		t.Fatalf("exec sink: %v", err)
	}
	var got fileDocument
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(doc, got); diff != "" {
		t.Errorf("exec sink's stdin differs from the file (-file +exec):\n%s", diff)
	}
	versions := f.vault.Versions("mailer-secret")
	if len(versions) != 1 || versions[0].Value != doc.Secret || versions[0].Tags["keyId"] != doc.KeyID {
		t.Errorf("key vault holds %d versions, want one with the file's secret and keyId %s", len(versions), doc.KeyID)
	}
	if !f.signsIn(t, f.appID(t), doc.Secret) {
		t.Error("the delivered secret does not sign in")
	}
}

func TestRotationFailureSafety(t *testing.T) {
	withVault := func(f *secretsFixture) string {
		return fmt.Sprintf("        keyVault: {url: %q, name: mailer-secret}\n        file: ./creds.json", f.vaultURL)
	}
	onlyFile := func(*secretsFixture) string { return fileStore }
	fileAndExec := func(f *secretsFixture) string {
		script := filepath.Join(f.dir, "push.sh")
		if err := os.WriteFile(script, []byte("#!/bin/sh\ncat >/dev/null\ntest ! -e fail-flag\n"), 0o700); err != nil {
			panic(err)
		}
		return "        file: ./creds.json\n        exec: [./push.sh]"
	}
	breakFile := func(t *testing.T, f *secretsFixture) {
		// A directory where the file must be replaced: the rename fails, as on a read-only mount.
		path := filepath.Join(f.dir, "creds.json")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(path, "in-the-way"), 0o700); err != nil {
			t.Fatal(err)
		}
		f.brokenFile = b
	}
	cases := map[string]struct {
		reason string
		store  func(*secretsFixture) string
		inject func(t *testing.T, f *secretsFixture)
		heal   func(t *testing.T, f *secretsFixture)
		// wantErr are substrings of the apply error.
		wantErr []string
		// wantNew is whether the new credential stays in the tenant after the failure.
		wantNew bool
		// wantRetired is whether the old credential was retired despite the failure.
		wantRetired bool
		// wantFileNew is whether the file holds the new secret after the failure.
		wantFileNew bool
	}{
		"addPassword 400": {
			reason: "a refused addPassword changes nothing",
			store:  onlyFile,
			inject: func(t *testing.T, f *secretsFixture) {
				f.tenant.FailNext("POST", "/v1.0/applications/"+f.objectID(t)+"/addPassword", 1, 400)
			},
			wantErr: []string{"create secret", "400"},
		},
		"lifetime policy": {
			reason: "a tenant policy allowing a shorter lifetime is reported as such",
			store:  onlyFile,
			inject: func(_ *testing.T, f *secretsFixture) { f.policy400 = true },
			wantErr: []string{"app management policy does not allow a client secret valid for 180d",
				"Credential lifetime exceeds the max value allowed"},
		},
		"file sink fails": {
			reason:  "the new credential is removed again; the old one and the file stay",
			store:   onlyFile,
			inject:  breakFile,
			heal:    healFile,
			wantErr: []string{"write secret to file ./creds.json", "removed again"},
		},
		"exec sink fails after the file": {
			reason: "the file is reverted, then the new credential is removed",
			store:  fileAndExec,
			inject: func(t *testing.T, f *secretsFixture) {
				if err := os.WriteFile(filepath.Join(f.dir, "fail-flag"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			heal: func(t *testing.T, f *secretsFixture) {
				if err := os.Remove(filepath.Join(f.dir, "fail-flag")); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: []string{"write secret to exec ./push.sh", "removed again"},
		},
		"key vault fails first": {
			reason:  "nothing was written, the new credential is removed",
			store:   withVault,
			inject:  func(_ *testing.T, f *secretsFixture) { f.vault.InjectFault(keyvaultsim.Fault{Status: 403, Count: 10}) },
			heal:    func(_ *testing.T, f *secretsFixture) { f.vault.ClearFaults() },
			wantErr: []string{"write secret to key vault", "403", "removed again"},
		},
		"file fails after key vault": {
			reason:      "the vault's new version cannot be undone: the new credential is kept, nothing retired",
			store:       withVault,
			inject:      breakFile,
			heal:        healFile,
			wantErr:     []string{"write secret to file ./creds.json", "already hold(s) it", "rotate --force"},
			wantNew:     true,
			wantFileNew: false,
		},
		"verification fails": {
			reason:      "nothing is retired when the new secret does not sign in",
			store:       onlyFile,
			inject:      func(_ *testing.T, f *secretsFixture) { f.failVerify = true },
			wantErr:     []string{"verify new credential", "nothing was retired", "AADSTS7000215"},
			wantNew:     true,
			wantFileNew: true,
		},
		"removal fails after a sink failure": {
			reason: "the error names the keyId to remove by hand",
			store:  onlyFile,
			inject: func(t *testing.T, f *secretsFixture) {
				breakFile(t, f)
				f.tenant.FailNext("POST", "/v1.0/applications/"+f.objectID(t)+"/removePassword", 1, 400)
			},
			heal:    healFile,
			wantErr: []string{"removing it again failed too, remove credential keyId"},
			wantNew: true,
		},
		"retirement fails": {
			reason: "the new credential is delivered and verified; the old one is retired by the next run",
			store:  onlyFile,
			inject: func(t *testing.T, f *secretsFixture) {
				f.tenant.FailNext("POST", "/v1.0/applications/"+f.objectID(t)+"/removePassword", 1, 400)
			},
			wantErr:     []string{"retire credential", "delivered and verified"},
			wantNew:     true,
			wantFileNew: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newSecretsFixture(t)
			docs := secretManifest(t, 0, tc.store(f))
			f.converge(t, docs, provision.PlanOptions{})
			appID := f.appID(t)
			old := f.readFile(t)
			f.clock.Advance(160 * 24 * time.Hour)

			tc.inject(t, f)
			p := f.plan(t, docs, provision.PlanOptions{})
			_, err := f.engine.Apply(context.Background(), p, nil)
			if err == nil {
				t.Fatalf("%s: apply succeeded despite the fault", tc.reason)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: error lacks %q:\n%v", tc.reason, want, err)
				}
			}
			ids := f.keyIDs(t, "Mailer Mail")
			newKey := ""
			for _, id := range ids {
				if id != old.KeyID {
					newKey = id
				}
			}
			if got := newKey != ""; got != tc.wantNew {
				t.Errorf("%s: new credential in the tenant = %v, want %v (%v)", tc.reason, got, tc.wantNew, ids)
			}
			if got := !slices.Contains(ids, old.KeyID); got != tc.wantRetired {
				t.Errorf("%s: old credential retired = %v, want %v", tc.reason, got, tc.wantRetired)
			}
			if tc.wantNew && strings.Contains(tc.wantErr[0], "removing it again failed") && !strings.Contains(err.Error(), newKey) {
				t.Errorf("%s: the error must name the keyId %s to remove: %v", tc.reason, newKey, err)
			}
			if f.brokenFile == nil {
				doc := f.readFile(t)
				if got := doc.KeyID != old.KeyID; got != tc.wantFileNew {
					t.Errorf("%s: file holds the new secret = %v, want %v", tc.reason, got, tc.wantFileNew)
				}
				// The invariant: whatever failed, the file's secret signs in.
				if !f.signsIn(t, appID, doc.Secret) {
					t.Errorf("%s: the file's secret no longer signs in", tc.reason)
				}
			} else if !f.signsIn(t, appID, old.Secret) {
				t.Errorf("%s: the old secret, still with its consumers, no longer signs in", tc.reason)
			}
			if tc.store(f) != fileStore && strings.Contains(tc.store(f), "keyVault") {
				versions := f.vault.Versions("mailer-secret")
				if latest := versions[len(versions)-1]; !f.signsIn(t, appID, latest.Value) {
					t.Errorf("%s: the vault's latest version does not sign in", tc.reason)
				}
			}

			// Rerunning converges: once the cause is fixed, a plan and apply leave nothing to
			// do and the file's secret working. Credentials beyond keepPrevious that a failed
			// rotation left are reported and kept (a sink may still use one) until the next
			// rotation, which a forced one brings forward.
			if tc.heal != nil {
				tc.heal(t, f)
			}
			f.converge(t, docs, provision.PlanOptions{})
			p = f.plan(t, docs, provision.PlanOptions{})
			if !p.Empty() {
				t.Errorf("%s: plan after the rerun = %q, want empty", tc.reason, secretLines(p))
			}
			if doc := f.readFile(t); !f.signsIn(t, appID, doc.Secret) {
				t.Errorf("%s: after the rerun the file's secret does not sign in", tc.reason)
			}
			if ids := f.keyIDs(t, "Mailer Mail"); len(ids) > 1 {
				if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0].Message, "beyond keepPrevious 0") {
					t.Errorf("%s: %d credentials and keepPrevious 0 must be reported: %+v", tc.reason, len(ids), p.Warnings)
				}
				f.converge(t, docs, provision.PlanOptions{SecretsOnly: true, ForceRotate: true})
			}
			doc := f.readFile(t)
			if ids := f.keyIDs(t, "Mailer Mail"); len(ids) != 1 || ids[0] != doc.KeyID || !f.signsIn(t, appID, doc.Secret) {
				t.Errorf("%s: in the end the tenant holds %v and the file %s; want the file's one credential, signing in", tc.reason, ids, doc.KeyID)
			}
			if p := f.plan(t, docs, provision.PlanOptions{}); !p.Empty() || len(p.Warnings) != 0 {
				t.Errorf("%s: final plan = %q %+v, want empty and quiet", tc.reason, secretLines(p), p.Warnings)
			}
		})
	}
}

// healFile removes what breakFile put in the file's way.
func healFile(t *testing.T, f *secretsFixture) {
	t.Helper()
	path := filepath.Join(f.dir, "creds.json")
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f.brokenFile, 0o600); err != nil {
		t.Fatal(err)
	}
	f.brokenFile = nil
}

func TestRotateOnlyPlansSecrets(t *testing.T) {
	f := newSecretsFixture(t)
	docs := secretManifest(t, 1, fileStore)
	if _, err := f.engine.PlanWith(context.Background(), docs, provision.PlanOptions{SecretsOnly: true}); err == nil ||
		!strings.Contains(err.Error(), "run provision apply first") {
		t.Errorf("rotate before the application exists: error = %v, want one saying to apply first", err)
	}
	f.converge(t, docs, provision.PlanOptions{})
	if err := f.tenant.AddRedirectURI(f.appID(t), "https://drift.example/callback"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(151 * 24 * time.Hour)
	if p := f.plan(t, docs, provision.PlanOptions{}); len(p.Changes) != 2 {
		t.Errorf("a full plan must show the drift and the rotation: %q", secretLines(p))
	}
	p := f.plan(t, docs, provision.PlanOptions{SecretsOnly: true})
	if diff := cmp.Diff([]string{`± application["Mailer"].secret["Mailer Mail"] (expires in 29d, rotateBefore is 30d)`}, secretLines(p)); diff != "" {
		t.Errorf("rotate's plan shows only secrets (-want +got):\n%s", diff)
	}
	if len(p.Warnings) != 1 || p.Warnings[0].Kind != provision.WarningExpiry || !strings.HasSuffix(p.Warnings[0].Message, "the plan rotates it") {
		t.Errorf("the expiring secret must be reported with what the plan does: %+v", p.Warnings)
	}
}

// TestSecretNeverLeaks runs a creation, a rotation and a failed rotation with every output a
// user or a log can see captured, and looks for each secret value in them.
func TestSecretNeverLeaks(t *testing.T) {
	f := newSecretsFixture(t)
	script := filepath.Join(f.dir, "push.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat\necho \"got it\" >&2\nexit 0\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	docs := secretManifest(t, 1, "        file: ./creds.json\n        exec: [./push.sh]")
	var seen bytes.Buffer
	run := func(opts provision.PlanOptions) {
		p := f.plan(t, docs, opts)
		if err := render.Text(&seen, p, render.TextOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := render.JSON(&seen, p); err != nil {
			t.Fatal(err)
		}
		res, err := f.engine.Apply(context.Background(), p, func(r provision.ChangeResult) {
			fmt.Fprintf(&seen, "%+v %v\n", r, r.Err)
		})
		fmt.Fprintf(&seen, "%+v %v %#v\n", res, err, err)
		if b, jerr := json.Marshal(res); jerr == nil {
			seen.Write(b)
		}
	}
	var secrets []string
	run(provision.PlanOptions{})
	secrets = append(secrets, f.readFile(t).Secret)
	f.clock.Advance(151 * 24 * time.Hour)
	run(provision.PlanOptions{})
	secrets = append(secrets, f.readFile(t).Secret)
	f.failVerify = true
	run(provision.PlanOptions{ForceRotate: true})
	secrets = append(secrets, f.readFile(t).Secret)
	seen.Write(f.requestLog.Bytes())
	seen.Write(f.stdout.Bytes())

	if len(slices.Compact(slices.Clone(secrets))) != 3 || f.requestLog.Len() == 0 || !strings.Contains(f.requestLog.String(), "addPassword") {
		t.Fatalf("the test must see three different secrets and a request log of the addPassword calls (log %d bytes)", f.requestLog.Len())
	}
	for i, s := range secrets {
		if strings.Contains(seen.String(), s) {
			t.Errorf("secret %d appears in the output", i)
		}
	}
}

// TestOpenFireKeyVaultExampleRotates applies the Key Vault example as the README's first run
// would, then rotates it the way the scheduled workflow does.
func TestOpenFireKeyVaultExampleRotates(t *testing.T) {
	f := newSecretsFixture(t)
	docs, diags := manifests.LoadFile(filepath.Join("..", "examples", "openfire-keyvault.yaml"), func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	f.converge(t, docs, provision.PlanOptions{})
	unique := "openfire-mail"
	app, err := f.engine.Graph.Graph.ApplicationsWithUniqueName(&unique).Get(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	appID := *app.GetAppId()
	latest := func() keyvaultsim.Version {
		v := f.vault.Versions("openfire-client-secret")
		if len(v) == 0 {
			t.Fatal("nothing in the vault")
		}
		return v[len(v)-1]
	}
	first := latest()
	if !f.signsIn(t, appID, first.Value) || first.Tags["clientId"] != appID {
		t.Errorf("the vault's secret must sign in as the OpenFire app (tags %v)", first.Tags)
	}
	if p := f.plan(t, docs, provision.PlanOptions{SecretsOnly: true}); !p.Empty() {
		t.Errorf("a scheduled rotate right after apply must change nothing: %q", secretLines(p))
	}
	f.clock.Advance(151 * 24 * time.Hour)
	f.converge(t, docs, provision.PlanOptions{SecretsOnly: true})
	second := latest()
	if second.Value == first.Value || !f.signsIn(t, appID, second.Value) || !f.signsIn(t, appID, first.Value) {
		t.Error("after the rotation the vault's latest version must be a new working secret, the previous one still working (keepPrevious 1)")
	}
	if n := len(f.vault.Versions("openfire-client-secret")); n != 2 {
		t.Errorf("the vault holds %d versions, want 2", n)
	}
}

// TestRotationCost states what a due rotation costs the tenant: one addPassword, one
// removePassword per retired credential, one sign-in to verify, and the plan's reads.
func TestRotationCost(t *testing.T) {
	f := newSecretsFixture(t)
	docs := secretManifest(t, 0, fileStore)
	f.converge(t, docs, provision.PlanOptions{})
	f.clock.Advance(151 * 24 * time.Hour)
	p := f.plan(t, docs, provision.PlanOptions{SecretsOnly: true})
	if len(p.ExpiryWarnings()) != 1 {
		t.Errorf("the due secret must be an expiry warning: %+v", p.Warnings)
	}
	f.tenant.ResetStats()
	if _, err := f.engine.Apply(context.Background(), p, nil); err != nil {
		t.Fatal(err)
	}
	routes := f.tenant.Stats().ByRoute
	got := map[string]int{}
	for route, n := range routes {
		if strings.HasPrefix(route, "POST ") || strings.HasPrefix(route, "PATCH ") || strings.HasPrefix(route, "DELETE ") {
			got[route] = n
		}
	}
	want := map[string]int{
		"POST /v1.0/applications/{id}/addPassword":    1,
		"POST /v1.0/applications/{id}/removePassword": 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("writes of a rotation (-want +got):\n%s\nall routes: %v", diff, routes)
	}
}

// TestEveryExampleConverges holds the promise of examples/: every manifest there, including
// any added later, plans, applies (its secrets delivered to the fixture's file directory and
// fake Key Vault), and then plans empty.
func TestEveryExampleConverges(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f := newSecretsFixture(t)
			docs, diags := manifests.LoadFile(file, func(string) (string, bool) { return "", false })
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if p := f.converge(t, docs, provision.PlanOptions{}); p.Empty() {
				t.Fatal("the first plan of an example against an empty tenant must create something")
			}
			if p := f.plan(t, docs, provision.PlanOptions{}); !p.Empty() {
				t.Errorf("plan after apply is not empty: %q", lines(p))
			}
		})
	}
}

// TestAddPasswordWithAnUnknownOutcomeConvergesInOneRun: an addPassword answered 500 (before
// the write) or whose answer was lost after the write (a 504 from a gateway) is not a failed
// rotation: the orphan credential, if any, is found and removed, addPassword is sent again,
// and the one apply delivers a secret that signs in, leaving no credential that no sink holds.
func TestAddPasswordWithAnUnknownOutcomeConvergesInOneRun(t *testing.T) {
	for name, inject := range map[string]func(*testing.T, *secretsFixture){
		"500 before the write": func(t *testing.T, f *secretsFixture) {
			f.tenant.FailNext("POST", "/v1.0/applications/"+f.objectID(t)+"/addPassword", 1, 500)
		},
		"answer lost after the write": func(_ *testing.T, f *secretsFixture) { f.loseAnswer = true },
	} {
		t.Run(name, func(t *testing.T) {
			f := newSecretsFixture(t)
			docs := secretManifest(t, 0, fileStore)
			f.converge(t, docs, provision.PlanOptions{})
			appID := f.appID(t)
			old := f.readFile(t)
			f.clock.Advance(160 * 24 * time.Hour)
			inject(t, f)
			if _, err := f.engine.Apply(context.Background(), f.plan(t, docs, provision.PlanOptions{}), nil); err != nil {
				t.Fatalf("apply: %v", err)
			}
			doc := f.readFile(t)
			ids := f.keyIDs(t, "Mailer Mail")
			// keepPrevious 0: the delivered credential and nothing else (no orphan, the old one
			// retired once the new one was delivered and verified).
			if len(ids) != 1 || ids[0] != doc.KeyID || doc.KeyID == old.KeyID {
				t.Errorf("credentials after the rotation: %v, want only the delivered one, %s (the old was %s)", ids, doc.KeyID, old.KeyID)
			}
			if !f.signsIn(t, appID, doc.Secret) {
				t.Error("the delivered secret does not sign in")
			}
		})
	}
}
