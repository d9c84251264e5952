package mailsim_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
	"github.com/provisionhq/provision/provision/simtenant/mailsim"
)

const testTenant = "11111111-2222-3333-4444-555555555555"

// issuer is a hand-written identity platform: a JWKS for the listeners to fetch and a key
// to sign the tokens the real authority does not issue (delegated ones).
type issuer struct {
	key   *rsa.PrivateKey
	srv   *httptest.Server
	clock *clock.Fake
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, clock: clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))}
	is.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+testTenant+"/discovery/v2.0/keys" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	}))
	t.Cleanup(is.srv.Close)
	return is
}

// sign makes an RS256 token of claims, over the defaults of a delegated Exchange token.
func (is *issuer) sign(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	now := is.clock.Now()
	c := map[string]any{"aud": "https://outlook.office.com", "iss": "https://sts.windows.net/" + testTenant + "/", "tid": testTenant,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "appid": "c0ffee00-0000-4000-8000-000000000001",
		"idtyp": "user", "oid": "22222222-2222-2222-2222-222222222222", "upn": "alice@contoso.com", "scp": "SMTP.Send IMAP.AccessAsUser.All"}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	head, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	body, _ := json.Marshal(c)
	input := base64.RawURLEncoding.EncodeToString(head) + "." + base64.RawURLEncoding.EncodeToString(body)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, is.key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// staticTenant is a tenant of fixed recipients.
type staticTenant struct{ exo *exchangesim.Server }

func (staticTenant) TenantID() string                { return testTenant }
func (s staticTenant) Exchange() *exchangesim.Server { return s.exo }

func TestDelegatedLogins(t *testing.T) {
	is := newIssuer(t)
	dir := exchangesim.StaticDirectory{
		{Name: "alice", PrimarySmtpAddress: "alice@contoso.com", UserPrincipalName: "alice@contoso.com",
			ExternalDirectoryObjectId: "22222222-2222-2222-2222-222222222222", RecipientType: "UserMailbox", RecipientTypeDetails: "UserMailbox"},
		{Name: "shared", PrimarySmtpAddress: "shared@contoso.com", ExternalDirectoryObjectId: "33333333-3333-3333-3333-333333333333",
			RecipientType: "UserMailbox", RecipientTypeDetails: "SharedMailbox"},
		{Name: "sales", PrimarySmtpAddress: "sales@contoso.com", ExternalDirectoryObjectId: "44444444-4444-4444-4444-444444444444",
			RecipientType: "UserMailbox", RecipientTypeDetails: "SharedMailbox"},
	}
	exo := exchangesim.New(dir, nil, exchangesim.Options{Clock: is.clock})
	exo.SetOrganizationSMTPAuth(false)
	if err := exo.SeedMailboxPermission("shared@contoso.com", exchangesim.PermissionSeed{User: "alice@contoso.com"}); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(is.srv.Certificate())
	m, err := mailsim.Start(context.Background(), mailsim.Options{Tenant: staticTenant{exo}, AuthorityHost: is.srv.URL,
		HTTPClient: is.srv.Client(), TLS: &tls.Config{Certificates: is.srv.TLS.Certificates}, Clock: is.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}

	for _, tc := range []struct {
		reason  string
		kid     string
		claims  map[string]any
		mailbox string
		login   func(t *testing.T, m *mailsim.Server, cfg *tls.Config, user, token string) string
		want    mailsim.Reason
	}{
		{"a user signs in to their own mailbox", "k1", nil, "alice@contoso.com", smtpLogin, mailsim.Accepted},
		{"and to a shared mailbox they hold FullAccess on", "k1", nil, "shared@contoso.com", imapLogin, mailsim.Accepted},
		{"not to one they do not", "k1", nil, "sales@contoso.com", imapLogin, mailsim.NotMailboxUser},
		{"POP needs POP.AccessAsUser.All", "k1", nil, "alice@contoso.com", popLogin, mailsim.MissingScope},
		{"no pointer needed, but the scope is: none gives missing_scope", "k1", map[string]any{"scp": "Mail.Read"}, "alice@contoso.com", smtpLogin, mailsim.MissingScope},
		{"a token of another tenant", "k1", map[string]any{"tid": "99999999-2222-3333-4444-555555555555"}, "alice@contoso.com", imapLogin, mailsim.InvalidToken},
		{"an issuer that is not the tenant's", "k1", map[string]any{"iss": "https://evil.example/"}, "alice@contoso.com", imapLogin, mailsim.InvalidToken},
		{"a key the authority does not publish", "k2", nil, "alice@contoso.com", imapLogin, mailsim.InvalidToken},
		{"not valid yet", "k1", map[string]any{"nbf": is.clock.Now().Add(time.Hour).Unix()}, "alice@contoso.com", imapLogin, mailsim.InvalidToken},
		{"an app-only token without a pointer", "k1", map[string]any{"idtyp": "app", "scp": nil, "upn": nil, "roles": []string{"IMAP.AccessAsApp"}},
			"alice@contoso.com", imapLogin, mailsim.NoServicePrincipal},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			before := len(m.Attempts())
			tc.login(t, m, cfg, tc.mailbox, is.sign(t, tc.kid, tc.claims))
			got := m.Attempts()[before:]
			if diff := cmp.Diff([]mailsim.Reason{tc.want}, reasons(got)); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
		})
	}
}

func reasons(attempts []mailsim.Attempt) []mailsim.Reason {
	var out []mailsim.Reason
	for _, a := range attempts {
		out = append(out, a.Reason)
	}
	return out
}
