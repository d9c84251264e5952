package simtenant

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	auth "github.com/microsoft/kiota-authentication-azure-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/provision/simtenant/mailsim"
)

// clientForServer builds the SDK client the way provision does from the Env of a Server.
func clientForServer(t *testing.T, s *Server) *msgraphsdk.GraphServiceClient {
	t.Helper()
	env := map[string]string{}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CAPool}}}
	cred, err := azidentity.NewClientSecretCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"],
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: env["AZURE_AUTHORITY_HOST"]}, Transport: httpClient},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	provider, err := auth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{env["PROVISION_GRAPH_ENDPOINT"] + "/.default"}, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(provider, nil, nil, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(env["PROVISION_GRAPH_ENDPOINT"] + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter)
}

func TestListenPersistsStateBetweenRuns(t *testing.T) {
	c := context.Background()
	stateFile := filepath.Join(t.TempDir(), "tenant.json")
	s, err := Listen(c, ListenOptions{StateFile: stateFile})
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(s.Env(), "\n")
	for _, name := range []string{"PROVISION_GRAPH_ENDPOINT=https://127.0.0.1:", "PROVISION_EXCHANGE_ENDPOINT=", "AZURE_AUTHORITY_HOST=",
		"AZURE_TENANT_ID=" + DefaultTenantID, "AZURE_CLIENT_ID=", "AZURE_CLIENT_SECRET=", "SSL_CERT_FILE=" + s.CAFile} {
		if !strings.Contains(env, name) {
			t.Errorf("Env lacks %s", name)
		}
	}
	if _, err := os.Stat(s.CAFile); err != nil || !filepath.IsAbs(s.CAFile) {
		t.Errorf("CA file %q: want an absolute path that exists (%v), since other programs read SSL_CERT_FILE from their own directory", s.CAFile, err)
	}
	a := models.NewApplication()
	a.SetDisplayName(ptr("Persisted"))
	app, err := clientForServer(t, s).Applications().Post(c, a, nil)
	if err != nil {
		t.Fatalf("create through the listener: %v", err)
	}
	info, err := os.Stat(stateFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("state file after a write: %v %v", info, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Listen(c, ListenOptions{StateFile: stateFile})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := clientForServer(t, s2).ApplicationsWithAppId(app.GetAppId()).Get(c, nil)
	if err != nil || deref(got.GetDisplayName()) != "Persisted" {
		t.Fatalf("second run does not see the app: %v %v", got, err)
	}
}

func TestListenServesKeyVaultUnderVaultNames(t *testing.T) {
	c := context.Background()
	stateFile := filepath.Join(t.TempDir(), "tenant.json")
	vaultURL := "https://openfire-kv.vault.azure.net"
	vaultClient := func(s *Server) *azsecrets.Client {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CAPool}}
		RouteKeyVault(tr, s.MetadataHost)
		hc := &http.Client{Transport: tr}
		tid, cid, secret := s.Tenant.OperatorCredentials()
		cred, err := azidentity.NewClientSecretCredential(tid, cid, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityHost}, Transport: hc},
			DisableInstanceDiscovery: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		// Challenge-resource verification stays on: the vault host is a real vault name.
		client, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc}})
		if err != nil {
			t.Fatal(err)
		}
		return client
	}
	s, err := Listen(c, ListenOptions{StateFile: stateFile})
	if err != nil {
		t.Fatal(err)
	}
	value := "s3cr3t-value"
	if _, err := vaultClient(s).SetSecret(c, "openfire-client-secret", azsecrets.SetSecretParameters{Value: &value}, nil); err != nil {
		t.Fatalf("set a secret in the simulated vault: %v", err)
	}
	if got := s.Tenant.KeyVault("openfire-kv.vault.azure.net").Versions("openfire-client-secret"); len(got) != 1 {
		t.Fatalf("the simulated vault holds %d versions, want 1", len(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(KeyVaultStateFile(stateFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("vault file: %v %v, want 0600", info, err)
	}
	if b, _ := os.ReadFile(stateFile); strings.Contains(string(b), value) {
		t.Error("the tenant state file holds a vault's secret value")
	}

	s2, err := Listen(c, ListenOptions{StateFile: stateFile})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := vaultClient(s2).GetSecret(c, "openfire-client-secret", "", nil)
	if err != nil || got.Value == nil || *got.Value != value {
		t.Fatalf("read the secret back after a restart: %v (err %v)", got.Value, err)
	}
}

func TestTenantIdentityComesFromItsDomain(t *testing.T) {
	contoso, err := New(Options{Domain: "Contoso.onmicrosoft.com"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := New(Options{Domain: "contoso.onmicrosoft.com"})
	if err != nil {
		t.Fatal(err)
	}
	fabrikam, err := New(Options{Domain: "fabrikam.onmicrosoft.com"})
	if err != nil {
		t.Fatal(err)
	}
	def, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if contoso.TenantID() != again.TenantID() || contoso.TenantID() == fabrikam.TenantID() || def.TenantID() != DefaultTenantID {
		t.Errorf("tenant ids: contoso %s and %s, fabrikam %s, default %s: want one id per domain, the seed procedure's by default",
			contoso.TenantID(), again.TenantID(), fabrikam.TenantID(), def.TenantID())
	}
	if contoso.Domain() != "contoso.onmicrosoft.com" {
		t.Errorf("domain %q, want it lower-cased", contoso.Domain())
	}
	for _, u := range contoso.Users() {
		if !strings.HasSuffix(u.UserPrincipalName, "@contoso.onmicrosoft.com") || u.Mail != "" && !strings.HasSuffix(u.Mail, "@contoso.onmicrosoft.com") {
			t.Errorf("seeded user %+v is not in the tenant's domain", u)
		}
	}
	if id, ok := again.UserID("jm@contoso.onmicrosoft.com"); !ok || id == "" {
		t.Error("no jm@contoso.onmicrosoft.com")
	}
	if id1, _ := contoso.UserID("jm@contoso.onmicrosoft.com"); id1 == mustUserID(t, def, "jm@"+DefaultDomain) {
		t.Error("two tenants share a seeded user's object id")
	}
	for _, bad := range []string{"contoso", "not a domain.com", "-x.com", "a..b"} {
		if _, err := New(Options{Domain: bad}); err == nil {
			t.Errorf("domain %q accepted", bad)
		}
	}
}

func mustUserID(t *testing.T, tn *Tenant, upn string) string {
	t.Helper()
	id, ok := tn.UserID(upn)
	if !ok {
		t.Fatalf("no user %s", upn)
	}
	return id
}

func TestListenServesOneTenantPerStateFile(t *testing.T) {
	c := context.Background()
	dir := t.TempDir()
	serve := func(state, domain string) (*Server, error) {
		return Listen(c, ListenOptions{StateFile: filepath.Join(dir, state), Options: Options{Domain: domain}})
	}
	contoso, err := serve("contoso.json", "contoso.onmicrosoft.com")
	if err != nil {
		t.Fatal(err)
	}
	fabrikam, err := serve("fabrikam.json", "fabrikam.onmicrosoft.com")
	if err != nil {
		t.Fatal(err)
	}
	// Side by side: each its own tenant, signing in its own operator, with its own CA file.
	for _, s := range []*Server{contoso, fabrikam} {
		upn := "jm@" + s.Tenant.Domain()
		u, err := clientForServer(t, s).Users().ByUserId(upn).Get(c, nil)
		if err != nil || deref(u.GetUserPrincipalName()) != upn {
			t.Fatalf("read %s through its own tenant: %v", upn, err)
		}
	}
	if contoso.CAFile == fabrikam.CAFile {
		t.Errorf("two tenants share the CA file %s", contoso.CAFile)
	}
	for _, s := range []*Server{contoso, fabrikam} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := serve("contoso.json", "fabrikam.onmicrosoft.com"); err == nil || !strings.Contains(err.Error(), "holds the simulated tenant contoso.onmicrosoft.com") {
		t.Errorf("serving contoso's state file as fabrikam: %v, want a refusal naming the state's tenant", err)
	}
	again, err := serve("contoso.json", "")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Tenant.Domain() != "contoso.onmicrosoft.com" || again.Tenant.TenantID() != TenantIDFor("contoso.onmicrosoft.com") {
		t.Errorf("state file served as %s (%s), want contoso's", again.Tenant.Domain(), again.Tenant.TenantID())
	}
}

// xoauth2 is net/smtp's XOAUTH2 in its two-step form.
type xoauth2 struct{ user, token string }

func (a xoauth2) Start(*smtp.ServerInfo) (string, []byte, error) { return "XOAUTH2", nil, nil }

func (a xoauth2) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	return []byte("user=" + a.user + "\x01auth=Bearer " + a.token + "\x01\x01"), nil
}

// TestListenServesMailWithTheTenant logs in to the listeners' SMTP with a token of the tenant's
// authority for its Exchange endpoint: STARTTLS trusts the tenant's CA, and the token is judged
// valid (the login is then refused for SMTP AUTH, off in a new tenant, not for the token).
func TestListenServesMailWithTheTenant(t *testing.T) {
	c := context.Background()
	s, err := Listen(c, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	env := strings.Join(s.Env(), "\n")
	for _, want := range []string{"PROVISION_SMTP_ENDPOINT=" + s.Mail.SMTPAddr, "PROVISION_IMAP_ENDPOINT=" + s.Mail.IMAPAddr, "PROVISION_POP_ENDPOINT=" + s.Mail.POPAddr} {
		if !strings.Contains(env, want) || !strings.Contains(want, "=127.0.0.1:") {
			t.Errorf("Env lacks %s on the tenant's loopback host:\n%s", want, env)
		}
	}
	tid, cid, secret := s.Tenant.OperatorCredentials()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CAPool}}}
	cred, err := azidentity.NewClientSecretCredential(tid, cid, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityHost}, Transport: hc},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(c, policy.TokenRequestOptions{Scopes: []string{s.ExchangeEndpoint + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := smtp.Dial(s.Mail.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.StartTLS(&tls.Config{RootCAs: s.CAPool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatalf("STARTTLS with the tenant's CA: %v", err)
	}
	mailbox := "admin@" + DefaultDomain
	err = client.Auth(xoauth2{user: mailbox, token: tok.Token})
	if err == nil || !strings.Contains(err.Error(), "SmtpClientAuthentication is disabled for the Tenant") {
		t.Fatalf("AUTH XOAUTH2 as the operator: %v, want 535 5.7.139 for the tenant's SMTP AUTH", err)
	}
	attempts := s.Mail.Attempts()
	if len(attempts) != 1 || attempts[0].Reason != mailsim.SMTPAuthDisabled || attempts[0].AppID != cid || attempts[0].Mailbox != mailbox {
		t.Errorf("attempts = %+v, want one of the operator %s (a valid token) refused for SMTP AUTH", attempts, cid)
	}
}
