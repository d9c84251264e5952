package authority

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/simtest/clientproof"
)

const (
	tenantID     = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	appID        = "11111111-2222-3333-4444-555555555555"
	spObjectID   = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	fedAppID     = "99999999-2222-3333-4444-555555555555"
	certAppID    = "88888888-2222-3333-4444-555555555555"
	graphURL     = "https://graph.microsoft.com"
	graphScope   = graphURL + "/.default"
	goodSecret   = "s3cr3t~value"
	appAdminRole = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
)

// fixture is an authority with three clients served over TLS.
type fixture struct {
	auth *Authority
	srv  *httptest.Server
	clk  *clock.Fake
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	cert, key := clientproof.Certificate(t, "client")
	clients := map[string]Client{
		appID: {ClientID: appID, ObjectID: spObjectID, DisplayName: "provision",
			CheckSecret:    func(s string) bool { return s == goodSecret },
			Roles:          map[string][]string{graphURL: {"Application.ReadWrite.OwnedBy", "Application.Read.All"}},
			DirectoryRoles: []string{appAdminRole}},
		fedAppID:  {ClientID: fedAppID, ObjectID: "fed-sp", AllowAssertion: true},
		certAppID: {ClientID: certAppID, ObjectID: "cert-sp", Certificates: []*x509.Certificate{cert}},
	}
	clk := clock.NewFake(time.Now())
	auth, err := New(Config{
		TenantID: tenantID,
		Domains:  []string{"contoso.onmicrosoft.com"},
		Lookup: func(id string) (Client, bool) {
			c, ok := clients[id]
			return c, ok
		},
		Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(auth.Handler())
	t.Cleanup(srv.Close)
	return fixture{auth: auth, srv: srv, clk: clk, cert: cert, key: key}
}

func (f fixture) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: f.srv.URL + "/"},
		Transport: f.srv.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

func (f fixture) secretCredential(t *testing.T, tenant, client, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, client, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            f.clientOptions(),
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func TestClientSecretCredentialGetsVerifiableToken(t *testing.T) {
	f := newFixture(t)
	tok, err := f.secretCredential(t, tenantID, appID, goodSecret).GetToken(context.Background(),
		policy.TokenRequestOptions{Scopes: []string{graphScope}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	got, err := f.auth.Verify(tok.Token, graphURL)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	now := f.clk.Now().Unix()
	want := Claims{
		Audience: graphURL, Issuer: "https://sts.windows.net/" + tenantID + "/", IdentityProvider: "https://sts.windows.net/" + tenantID + "/",
		IssuedAt: now, NotBefore: now, Expires: now + 3600,
		AppID: appID, AuthorizedParty: appID, AppIDACR: "1", IdentityType: "app",
		ObjectID: spObjectID, Subject: spObjectID, TenantID: tenantID,
		Roles: []string{"Application.ReadWrite.OwnedBy", "Application.Read.All"}, DirectoryRoles: []string{appAdminRole},
		Version: "1.0",
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Claims{}, "TokenID")); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if got.TokenID == "" {
		t.Error("uti is empty")
	}
	if d := time.Until(tok.ExpiresOn); d < 55*time.Minute || d > 61*time.Minute {
		t.Errorf("azidentity sees the token expire in %s, want about an hour", d)
	}
}

func TestTokenRequestFailuresUseAADSTSCodes(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, reason           string
		tenant, client, secret string
		scope                  string
		wantInError            []string
	}{
		{name: "wrong secret", reason: "a bad secret must be reported as AADSTS7000215, the code users search for",
			tenant: tenantID, client: appID, secret: "nope", scope: graphScope,
			wantInError: []string{"AADSTS7000215", "invalid_client", "401"}},
		{name: "unknown app", reason: "an unknown client id is AADSTS700016",
			tenant: tenantID, client: "00000000-1111-1111-1111-000000000000", secret: goodSecret, scope: graphScope,
			wantInError: []string{"AADSTS700016", "unauthorized_client"}},
		{name: "unknown tenant", reason: "metadata for an unknown tenant fails with AADSTS90002",
			tenant: "00000000-0000-0000-0000-000000000001", client: appID, secret: goodSecret, scope: graphScope,
			wantInError: []string{"AADSTS90002"}},
		{name: "scope without .default", reason: "client credentials need <resource>/.default",
			tenant: tenantID, client: appID, secret: goodSecret, scope: graphURL + "/User.Read",
			wantInError: []string{"AADSTS1002012", "invalid_scope"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.secretCredential(t, tc.tenant, tc.client, tc.secret).GetToken(context.Background(),
				policy.TokenRequestOptions{Scopes: []string{tc.scope}})
			if err == nil {
				t.Fatalf("GetToken succeeded; %s", tc.reason)
			}
			for _, s := range tc.wantInError {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q (%s):\n%v", s, tc.reason, err)
				}
			}
			if strings.Contains(err.Error(), tc.secret) && tc.secret != "" {
				t.Errorf("error echoes the client secret")
			}
		})
	}
}

func TestTenantByDomainAndRawErrorShape(t *testing.T) {
	f := newFixture(t)
	cred := f.secretCredential(t, "contoso.onmicrosoft.com", appID, goodSecret)
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{graphScope}}); err != nil {
		t.Fatalf("GetToken via domain: %v", err)
	}

	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/"+tenantID+"/oauth2/v2.0/token",
		strings.NewReader("grant_type=client_credentials&client_id="+appID+"&client_secret=bad&scope="+graphScope))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", "0f0f0f0f-0000-4000-8000-000000000000")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorCodes       []int  `json:"error_codes"`
		Timestamp        string `json:"timestamp"`
		TraceID          string `json:"trace_id"`
		CorrelationID    string `json:"correlation_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{7000215}, body.ErrorCodes); diff != "" {
		t.Errorf("error_codes (-want +got):\n%s", diff)
	}
	if body.CorrelationID != "0f0f0f0f-0000-4000-8000-000000000000" || body.TraceID == "" || body.Timestamp == "" ||
		body.Error != "invalid_client" || !strings.HasPrefix(body.ErrorDescription, "AADSTS7000215: ") {
		t.Errorf("error body not in the Entra shape: %+v", body)
	}
}

func TestWorkloadIdentityCredentialWithFederatedAssertion(t *testing.T) {
	f := newFixture(t)
	exp := time.Now().Add(10 * time.Minute).Unix()
	external := clientproof.UnsignedJWT(t, map[string]any{
		"iss": "https://token.actions.githubusercontent.com", "sub": "repo:org/repo:ref:refs/heads/main",
		"aud": federationAudience, "exp": exp,
	})
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(external), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, reason, client string
		wantErr              string
	}{
		{name: "federation allowed", reason: "a client that trusts the issuer gets a token", client: fedAppID},
		{name: "federation not allowed", reason: "a secret-only client must refuse assertions", client: appID, wantErr: "AADSTS70021"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
				ClientOptions: f.clientOptions(), ClientID: tc.client, TenantID: tenantID, TokenFilePath: file,
				DisableInstanceDiscovery: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{graphScope}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %s (%s)", err, tc.wantErr, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetToken: %v (%s)", err, tc.reason)
			}
			c, err := f.auth.Verify(tok.Token, graphURL)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{tc.client, "2"}, []string{c.AppID, c.AppIDACR}); diff != "" {
				t.Errorf("appid, appidacr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientCertificateCredential(t *testing.T) {
	f := newFixture(t)
	otherCert, otherKey := clientproof.Certificate(t, "client")
	tests := []struct {
		name, reason string
		cert         *x509.Certificate
		key          *rsa.PrivateKey
		wantErr      string
	}{
		{name: "registered certificate", reason: "an assertion signed by the registered key authenticates", cert: f.cert, key: f.key},
		{name: "unregistered certificate", reason: "a certificate the app does not hold must fail", cert: otherCert, key: otherKey,
			wantErr: "AADSTS700027"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := azidentity.NewClientCertificateCredential(tenantID, certAppID, []*x509.Certificate{tc.cert}, tc.key,
				&azidentity.ClientCertificateCredentialOptions{ClientOptions: f.clientOptions(), DisableInstanceDiscovery: true})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{graphScope}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %s (%s)", err, tc.wantErr, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetToken: %v (%s)", err, tc.reason)
			}
			if _, err := f.auth.Verify(tok.Token, graphURL+"/"); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	tok, err := f.secretCredential(t, tenantID, appID, goodSecret).GetToken(context.Background(),
		policy.TokenRequestOptions{Scopes: []string{graphScope}})
	if err != nil {
		t.Fatal(err)
	}
	other := newFixture(t)
	foreign, err := other.secretCredential(t, tenantID, appID, goodSecret).GetToken(context.Background(),
		policy.TokenRequestOptions{Scopes: []string{graphScope}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.Token, ".")
	tampered := parts[0] + "." + clientproof.JWTPayload(t, map[string]any{"aud": graphURL, "tid": tenantID, "exp": time.Now().Add(time.Hour).Unix()}) + "." + parts[2]

	tests := []struct {
		name, reason, token, audience, wantErr string
		advance                                time.Duration
	}{
		{name: "wrong audience", reason: "a Graph token must not open Exchange", token: tok.Token,
			audience: "https://outlook.office365.com", wantErr: "audience"},
		{name: "expired", reason: "after exp plus skew the token is dead", token: tok.Token, audience: graphURL,
			advance: 66 * time.Minute, wantErr: "expired"},
		{name: "other authority", reason: "another key id is not ours", token: foreign.Token, audience: graphURL, wantErr: "not signed"},
		{name: "tampered claims", reason: "a changed payload breaks the signature", token: tampered, audience: graphURL, wantErr: "signature"},
		{name: "garbage", reason: "not a JWT", token: "abc", audience: graphURL, wantErr: "compact"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.clk.Advance(tc.advance)
			defer f.clk.Advance(-tc.advance)
			_, err := f.auth.Verify(tc.token, tc.audience)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Verify err = %v, want it to mention %q (%s)", err, tc.wantErr, tc.reason)
			}
		})
	}
}

func TestMetadataEndpoints(t *testing.T) {
	f := newFixture(t)
	get := func(path string, v any) int {
		t.Helper()
		resp, err := f.srv.Client().Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	var oidc map[string]any
	if code := get("/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration", &oidc); code != http.StatusOK {
		t.Fatalf("openid-configuration status %d", code)
	}
	want := map[string]any{
		"issuer":         f.srv.URL + "/" + tenantID + "/v2.0",
		"token_endpoint": f.srv.URL + "/" + tenantID + "/oauth2/v2.0/token",
		"jwks_uri":       f.srv.URL + "/" + tenantID + "/discovery/v2.0/keys",
	}
	got := map[string]any{"issuer": oidc["issuer"], "token_endpoint": oidc["token_endpoint"], "jwks_uri": oidc["jwks_uri"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("openid-configuration (-want +got):\n%s", diff)
	}
	var jwks struct {
		Keys []struct{ Kty, Kid, N, E string } `json:"keys"`
	}
	get("/"+tenantID+"/discovery/v2.0/keys", &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kty != "RSA" || jwks.Keys[0].Kid == "" || jwks.Keys[0].E != "AQAB" {
		t.Errorf("jwks = %+v", jwks)
	}
	var disc struct {
		TenantDiscoveryEndpoint string `json:"tenant_discovery_endpoint"`
	}
	get("/common/discovery/instance?api-version=1.1&authorization_endpoint="+f.srv.URL+"/"+tenantID+"/oauth2/v2.0/authorize", &disc)
	if disc.TenantDiscoveryEndpoint != f.srv.URL+"/"+tenantID+"/v2.0/.well-known/openid-configuration" {
		t.Errorf("instance discovery = %q", disc.TenantDiscoveryEndpoint)
	}
}
