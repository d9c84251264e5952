// Package authority is a fake Microsoft identity platform (Entra ID v2.0 endpoints) good enough
// for the real azidentity credentials to obtain app-only tokens from it: OpenID metadata, MSAL
// instance discovery, a JWKS and the client-credentials token endpoint. Tokens are RS256 JWTs
// shaped like real Graph app-only tokens (aud, iss, tid, appid, oid, roles, wids), so the
// simulated tenant can authorise each request from the token's claims, as Graph does.
//
// What it checks: the tenant in the path, the client id, the client secret (through the
// directory's CheckSecret), certificate assertions (signature against the client's registered
// certificates) and federated assertions (shape only: iss, sub, aud and expiry; the external
// issuer's signature is not verified, since the issuer is usually a test double too).
// It never logs: secrets, assertions and tokens stay inside the request and response.
package authority

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/provisionhq/provision/provision/clock"
)

// DefaultTokenLifetime is how long an issued access token is valid, as for real app-only tokens.
const DefaultTokenLifetime = time.Hour

// Client is one application that may ask for tokens, as the directory knows it.
type Client struct {
	// ClientID is the application's appId.
	ClientID string
	// ObjectID is the object id of the application's service principal in this tenant; it
	// becomes the token's oid and sub.
	ObjectID string
	// DisplayName is the application's name, used in error descriptions.
	DisplayName string
	// CheckSecret reports whether secret is one of the application's current client secrets.
	// Nil means the application has no secret.
	CheckSecret func(secret string) bool
	// AllowAssertion accepts federated client assertions (workload identity): an external JWT
	// with an issuer, a subject and the api://AzureADTokenExchange audience.
	AllowAssertion bool
	// Certificates are the application's registered certificates; a client assertion signed
	// by one of their keys authenticates the client (ClientCertificateCredential).
	Certificates []*x509.Certificate
	// Roles maps a resource (its URL such as https://graph.microsoft.com, or its appId) to the
	// app role values this client holds on it; they become the token's roles claim.
	Roles map[string][]string
	// DirectoryRoles are the Entra directory role template ids held by the client's service
	// principal; they become the token's wids claim.
	DirectoryRoles []string
}

// Config configures an Authority.
type Config struct {
	// TenantID is the directory (tenant) id: the only tenant this authority serves.
	TenantID string
	// Domains are other names the tenant answers to in paths (contoso.onmicrosoft.com).
	Domains []string
	// Lookup finds a client by its client id. It is called on every token request, so the
	// directory's current state (new secrets, new grants) is seen at once.
	Lookup func(clientID string) (Client, bool)
	// KnownResource reports whether a resource (URL or appId from the scope) exists in the
	// tenant; nil accepts every resource.
	KnownResource func(resource string) bool
	// Clock stamps iat, nbf and exp and judges expiry in Verify; nil means the wall clock.
	Clock clock.Clock
	// TokenLifetime overrides DefaultTokenLifetime when positive.
	TokenLifetime time.Duration
	// SigningKey signs the tokens; nil generates a fresh RSA-2048 key. Tests that start many
	// authorities share one key, since generating it is most of an authority's start-up.
	SigningKey *rsa.PrivateKey
}

// Authority is a running fake identity platform. It is safe for concurrent use.
type Authority struct {
	cfg     Config
	key     *rsa.PrivateKey
	keyID   string
	certDER []byte
	mux     *http.ServeMux
}

// New generates the signing key and returns an Authority for cfg.
func New(cfg Config) (*Authority, error) {
	if cfg.TenantID == "" {
		return nil, errors.New("create authority: tenant id is empty")
	}
	if cfg.Lookup == nil {
		return nil, errors.New("create authority: client lookup is nil")
	}
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	key := cfg.SigningKey
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("create authority: generate signing key: %w", err)
		}
	}
	// The JWKS publishes the key with a self-signed certificate (x5c), as Entra does, so
	// verifiers that only read certificates can use it too.
	now := cfg.Clock.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "simulated accounts.accesscontrol.windows.net"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create authority: self-sign key certificate: %w", err)
	}
	sum := sha1.Sum(der)
	a := &Authority{
		cfg:     cfg,
		key:     key,
		keyID:   base64.RawURLEncoding.EncodeToString(sum[:]),
		certDER: der,
		mux:     http.NewServeMux(),
	}
	a.mux.HandleFunc("GET /common/discovery/instance", a.serveInstanceDiscovery)
	a.mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", a.serveOpenIDConfiguration)
	a.mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", a.serveKeys)
	a.mux.HandleFunc("GET /{tenant}/discovery/keys", a.serveKeys)
	a.mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", a.serveToken)
	return a, nil
}

// TenantID returns the tenant this authority serves.
func (a *Authority) TenantID() string { return a.cfg.TenantID }

// Handler serves the identity platform endpoints:
//
//	GET  /common/discovery/instance                      MSAL instance discovery
//	GET  /{tenant}/v2.0/.well-known/openid-configuration OpenID metadata
//	GET  /{tenant}/discovery/v2.0/keys                   JWKS
//	POST /{tenant}/oauth2/v2.0/token                     client credentials grant
func (a *Authority) Handler() http.Handler { return a.mux }

// Serves reports whether r is one of the requests Handler answers (method and path).
func (a *Authority) Serves(r *http.Request) bool {
	_, pattern := a.mux.Handler(r)
	return pattern != ""
}

// resolveTenant maps a path segment (tenant id or domain) to the tenant id.
func (a *Authority) resolveTenant(segment string) (string, bool) {
	if strings.EqualFold(segment, a.cfg.TenantID) {
		return a.cfg.TenantID, true
	}
	for _, d := range a.cfg.Domains {
		if strings.EqualFold(segment, d) {
			return a.cfg.TenantID, true
		}
	}
	return "", false
}

// isMultiTenantAlias reports whether segment is one of the tenant-independent authorities,
// which serve metadata but cannot issue app-only tokens.
func isMultiTenantAlias(segment string) bool {
	switch strings.ToLower(segment) {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}

// baseURL is the authority's own scheme://host as the client reached it, so every URL in the
// metadata points back here whatever address the test server got.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// thumbprintSHA256 is the x5t#S256 value of a certificate.
func thumbprintSHA256(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// thumbprintSHA1 is the x5t value of a certificate.
func thumbprintSHA1(der []byte) string {
	sum := sha1.Sum(der)
	return base64.StdEncoding.EncodeToString(sum[:])
}
