package credential

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/simtenant/authority"
	"github.com/provisionhq/provision/provision/simtenant/simtest/clientproof"
)

const (
	tenantID   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientID   = "11111111-2222-3333-4444-555555555555"
	spID       = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	goodSecret = "s3cr3t~value"
	// tenantDomain is the fake tenant's domain, as a manifest's tenant: names it.
	tenantDomain = "contoso.example"
)

func TestParseMethod(t *testing.T) {
	tests := []struct {
		in, reason string
		want       Method
		wantErr    bool
	}{
		{in: "", reason: "no flag means the chain", want: Default},
		{in: "default", reason: "the chain has a name too", want: Default},
		{in: "env", reason: "plain value", want: Env},
		{in: " Workload ", reason: "case and spaces are forgiven", want: Workload},
		{in: "managed", reason: "plain value", want: Managed},
		{in: "cli", reason: "plain value", want: CLI},
		{in: "device", reason: "plain value", want: Device},
		{in: "browser", reason: "plain value", want: Browser},
		{in: "msi", reason: "unknown values are errors", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseMethod(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseMethod(%q) err = %v, wantErr %v (%s)", tc.in, err, tc.wantErr, tc.reason)
			continue
		}
		if tc.wantErr {
			for _, m := range Methods() {
				if !strings.Contains(err.Error(), string(m)) {
					t.Errorf("error %q does not list %q", err, m)
				}
			}
			continue
		}
		if got != tc.want {
			t.Errorf("ParseMethod(%q) = %q, want %q (%s)", tc.in, got, tc.want, tc.reason)
		}
	}
}

func TestEndpointsFromEnv(t *testing.T) {
	tests := []struct {
		name, reason string
		env          map[string]string
		want         Endpoints
		wantScopes   [2]string
		noDiscovery  bool
		wantErr      string
	}{
		{name: "defaults", reason: "nothing set is the public cloud", env: nil,
			want:       publicMail(Endpoints{Graph: "https://graph.microsoft.com", Exchange: "https://outlook.office365.com", Authority: "https://login.microsoftonline.com/"}),
			wantScopes: [2]string{"https://graph.microsoft.com/.default", "https://outlook.office365.com/.default"}},
		{name: "us government", reason: "national cloud endpoints keep instance discovery",
			env: map[string]string{EnvGraphEndpoint: "https://graph.microsoft.us/", EnvExchangeEndpoint: "https://outlook.office365.us/",
				EnvAuthorityHost: "https://login.microsoftonline.us"},
			want:       publicMail(Endpoints{Graph: "https://graph.microsoft.us", Exchange: "https://outlook.office365.us", Authority: "https://login.microsoftonline.us/"}),
			wantScopes: [2]string{"https://graph.microsoft.us/.default", "https://outlook.office365.us/.default"}},
		{name: "graph with version", reason: "a pasted /v1.0 suffix is not part of the base or the scope",
			env:        map[string]string{EnvGraphEndpoint: "https://graph.microsoft.com/v1.0/"},
			want:       publicMail(Endpoints{Graph: "https://graph.microsoft.com", Exchange: "https://outlook.office365.com", Authority: "https://login.microsoftonline.com/"}),
			wantScopes: [2]string{"https://graph.microsoft.com/.default", "https://outlook.office365.com/.default"}},
		{name: "simulator", reason: "a loopback authority is private: no instance discovery; loopback http is fine for services",
			env: map[string]string{EnvGraphEndpoint: "http://127.0.0.1:8443", EnvAuthorityHost: "https://127.0.0.1:9443//"},
			want: publicMail(Endpoints{Graph: "http://127.0.0.1:8443", Exchange: "https://outlook.office365.com",
				Authority: "https://127.0.0.1:9443/"}),
			wantScopes:  [2]string{"http://127.0.0.1:8443/.default", "https://outlook.office365.com/.default"},
			noDiscovery: true},
		{name: "mail endpoints", reason: "the simulated tenant's mail listeners, host:port (an IPv6 literal keeps its brackets)",
			env: map[string]string{EnvSMTPEndpoint: "127.0.0.1:2525", EnvIMAPEndpoint: " [::1]:1993 ", EnvPOPEndpoint: "localhost:1995"},
			want: Endpoints{Graph: "https://graph.microsoft.com", Exchange: "https://outlook.office365.com", Authority: "https://login.microsoftonline.com/",
				SMTP: "127.0.0.1:2525", IMAP: "[::1]:1993", POP: "localhost:1995"},
			wantScopes: [2]string{"https://graph.microsoft.com/.default", "https://outlook.office365.com/.default"}},
		{name: "mail endpoint with a scheme", reason: "the protocol decides the TLS mode, a URL is a mistake",
			env: map[string]string{EnvSMTPEndpoint: "smtp://smtp.office365.com:587"}, wantErr: EnvSMTPEndpoint},
		{name: "mail endpoint without a port", reason: "there is no default port to guess",
			env: map[string]string{EnvIMAPEndpoint: "outlook.office365.com"}, wantErr: EnvIMAPEndpoint},
		{name: "mail endpoint with a bad port", reason: "ports stop at 65535",
			env: map[string]string{EnvPOPEndpoint: "outlook.office365.com:99999"}, wantErr: EnvPOPEndpoint},
		{name: "http authority", reason: "azidentity refuses http authorities, say so early",
			env: map[string]string{EnvAuthorityHost: "http://127.0.0.1:9443"}, wantErr: EnvAuthorityHost},
		{name: "remote http graph", reason: "tokens must not travel in clear text",
			env: map[string]string{EnvGraphEndpoint: "http://graph.example.com"}, wantErr: EnvGraphEndpoint},
		{name: "relative", reason: "a host without scheme is a typo",
			env: map[string]string{EnvExchangeEndpoint: "outlook.office365.com"}, wantErr: EnvExchangeEndpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EndpointsFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want mention of %s (%s)", err, tc.wantErr, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("EndpointsFromEnv: %v (%s)", err, tc.reason)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("endpoints (-want +got) (%s):\n%s", tc.reason, diff)
			}
			if diff := cmp.Diff(tc.wantScopes, [2]string{got.GraphScope(), got.ExchangeScope()}); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
			if got.DisableInstanceDiscovery() != tc.noDiscovery {
				t.Errorf("DisableInstanceDiscovery = %v, want %v (%s)", got.DisableInstanceDiscovery(), tc.noDiscovery, tc.reason)
			}
		})
	}
}

// publicMail gives e Exchange Online's mail endpoints, the defaults.
func publicMail(e Endpoints) Endpoints {
	e.SMTP, e.IMAP, e.POP = DefaultSMTP, DefaultIMAP, DefaultPOP
	return e
}

func TestIsPublicAuthority(t *testing.T) {
	for host, want := range map[string]bool{
		"login.microsoftonline.com": true, "LOGIN.MICROSOFTONLINE.COM": true, "login.microsoftonline.us": true,
		"login.chinacloudapi.cn": true, "login.partner.microsoftonline.cn": true,
		"127.0.0.1": false, "login.example.com": false, "microsoftonline.com": false,
	} {
		if got := IsPublicAuthority(host); got != want {
			t.Errorf("IsPublicAuthority(%q) = %v, want %v", host, got, want)
		}
	}
}

// fakeIdentity is the fake authority over TLS with one secret client and one certificate client.
type fakeIdentity struct {
	auth      *authority.Authority
	srv       *httptest.Server
	endpoints Endpoints
	certFile  string
}

func newFakeIdentity(t *testing.T) fakeIdentity {
	t.Helper()
	cert, key := clientproof.Certificate(t, "provision-ci")
	certPEM := clientproof.PEM(t, cert, key)
	auth, err := authority.New(authority.Config{
		TenantID: tenantID,
		Domains:  []string{tenantDomain},
		Lookup: func(id string) (authority.Client, bool) {
			if id != clientID {
				return authority.Client{}, false
			}
			return authority.Client{ClientID: clientID, ObjectID: spID, AllowAssertion: true,
				CheckSecret:  func(s string) bool { return s == goodSecret },
				Certificates: []*x509.Certificate{cert},
				Roles:        map[string][]string{"https://graph.microsoft.com": {"Application.ReadWrite.OwnedBy"}}}, true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(auth.Handler())
	t.Cleanup(srv.Close)
	certFile := filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ep, err := EndpointsFromEnv(func(k string) string {
		if k == EnvAuthorityHost {
			return srv.URL
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return fakeIdentity{auth: auth, srv: srv, endpoints: ep, certFile: certFile}
}

func TestNewGetsTokensFromAuthority(t *testing.T) {
	f := newFakeIdentity(t)
	federated := filepath.Join(t.TempDir(), "federated")
	if err := os.WriteFile(federated, []byte(federatedJWT(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{EnvTenantID: tenantID, EnvClientID: clientID}
	tests := []struct {
		name, reason string
		method       Method
		env          map[string]string
		wantACR      string
	}{
		{name: "env secret", reason: "AZURE_CLIENT_SECRET builds a client secret credential", method: Env,
			env: map[string]string{EnvClientSecret: goodSecret}, wantACR: "1"},
		{name: "env certificate", reason: "AZURE_CLIENT_CERTIFICATE_PATH builds a certificate credential", method: Env,
			env: map[string]string{EnvCertificatePath: f.certFile}, wantACR: "2"},
		{name: "workload", reason: "AZURE_FEDERATED_TOKEN_FILE builds a workload identity credential", method: Workload,
			env: map[string]string{EnvFederatedTokenFile: federated}, wantACR: "2"},
		{name: "chain picks env", reason: "the chain's first configured source wins", method: Default,
			env: map[string]string{EnvClientSecret: goodSecret}, wantACR: "1"},
		{name: "chain falls to workload", reason: "without a secret, the chain reaches workload identity", method: Default,
			env: map[string]string{EnvFederatedTokenFile: federated}, wantACR: "2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			cred, err := New(context.Background(), Options{Method: tc.method, Endpoints: f.endpoints,
				Getenv: func(k string) string { return env[k] }, Transport: f.srv.Client()})
			if err != nil {
				t.Fatalf("New: %v (%s)", err, tc.reason)
			}
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{f.endpoints.GraphScope()}})
			if err != nil {
				t.Fatalf("GetToken: %v (%s)", err, tc.reason)
			}
			claims, err := f.auth.Verify(tok.Token, "https://graph.microsoft.com")
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(tc.wantACR, claims.AppIDACR); diff != "" {
				t.Errorf("appidacr (-want +got) (%s):\n%s", tc.reason, diff)
			}
			id, err := Identify(tok.Token)
			if err != nil {
				t.Fatal(err)
			}
			want := Identity{TenantID: tenantID, AppID: clientID, ObjectID: spID, Audience: "https://graph.microsoft.com",
				AppOnly: true, Roles: []string{"Application.ReadWrite.OwnedBy"}}
			if diff := cmp.Diff(want, id); diff != "" {
				t.Errorf("Identify (-want +got):\n%s", diff)
			}
			if cred.TenantID() != tenantID || cred.ClientID() != clientID {
				t.Errorf("TenantID, ClientID = %q, %q", cred.TenantID(), cred.ClientID())
			}
		})
	}
}

func TestNewReportsMissingConfiguration(t *testing.T) {
	tests := []struct {
		name, reason string
		method       Method
		env          map[string]string
		tenant       string
		wantErr      []string
	}{
		{name: "env without secret", reason: "the missing variable is named", method: Env,
			env: map[string]string{EnvTenantID: tenantID, EnvClientID: clientID}, wantErr: []string{EnvClientSecret, EnvCertificatePath}},
		{name: "env without tenant", reason: "tenant and client are named", method: Env,
			env: map[string]string{EnvClientSecret: "x"}, wantErr: []string{EnvTenantID, EnvClientID}},
		{name: "workload without file", reason: "the token file is named", method: Workload,
			env: map[string]string{EnvClientID: clientID}, tenant: tenantID, wantErr: []string{EnvFederatedTokenFile}},
		{name: "unknown method", reason: "a bad method is explained", method: Method("msi"), wantErr: []string{"env, workload"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), Options{Method: tc.method, TenantID: tc.tenant,
				Getenv: func(k string) string { return tc.env[k] }})
			if err == nil {
				t.Fatalf("New succeeded (%s)", tc.reason)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q (%s)", err, s, tc.reason)
				}
			}
			if strings.Contains(err.Error(), "x\"") {
				t.Errorf("error shows a secret value")
			}
		})
	}
}

// TestTenantByDomainServesRequestsForItsID signs in to a tenant named by its domain, then asks
// for a token in that tenant by its id, as Key Vault's challenge does: azidentity alone refuses
// it ("isn't configured to acquire tokens for tenant …"), though it is the same tenant.
func TestTenantByDomainServesRequestsForItsID(t *testing.T) {
	f := newFakeIdentity(t)
	env := map[string]string{EnvClientID: clientID, EnvClientSecret: goodSecret}
	cred, err := New(context.Background(), Options{Method: Env, Endpoints: f.endpoints, TenantID: tenantDomain,
		Getenv: func(k string) string { return env[k] }, Transport: f.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	vault := func(tenant string) error {
		_, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}, TenantID: tenant})
		return err
	}
	if err := vault(tenantID); err == nil || !strings.Contains(err.Error(), "isn't configured to acquire tokens for tenant") {
		t.Fatalf("a request by id before any token: %v, want azidentity's refusal (the id is not known yet)", err)
	}
	if err := vault(""); err != nil {
		t.Fatalf("a token for the configured tenant: %v", err)
	}
	if err := vault(strings.ToUpper(tenantID)); err != nil {
		t.Errorf("a request by the id the tokens carry: %v, want a token", err)
	}
	other := "0b9e0c5a-1111-4222-8333-444455556666"
	if err := vault(other); err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("a request for another tenant: %v, want azidentity's refusal naming it", err)
	}
}

// refusingTransport fails every request at once, as a host without IMDS does.
type refusingTransport struct{}

func (refusingTransport) Do(*http.Request) (*http.Response, error) {
	return nil, errors.New("dial tcp 169.254.169.254:80: connect: connection refused")
}

func TestChainWithNothingConfiguredListsEverySource(t *testing.T) {
	cred, err := New(context.Background(), Options{
		Getenv:    func(k string) string { return map[string]string{"PATH": "/nonexistent"}[k] },
		Transport: refusingTransport{},
		probe:     50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{DefaultGraph + "/.default"}})
	if err == nil {
		t.Fatal("GetToken succeeded with nothing configured")
	}
	for _, s := range []string{"EnvironmentCredential", "WorkloadIdentityCredential", "ManagedIdentityCredential", "AzureCLICredential"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("chain error lacks %s:\n%v", s, err)
		}
	}
}

// federatedJWT is a GitHub-Actions-like OIDC token; the authority checks only its shape.
func federatedJWT(t *testing.T) string {
	t.Helper()
	return clientproof.UnsignedJWT(t, map[string]any{"iss": "https://token.actions.githubusercontent.com",
		"sub": "repo:org/repo:ref:refs/heads/main", "aud": "api://AzureADTokenExchange", "exp": time.Now().Add(10 * time.Minute).Unix()})
}
