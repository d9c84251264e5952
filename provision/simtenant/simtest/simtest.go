// Package simtest starts a simulated tenant served over TLS and the real clients signed in to
// it (an azidentity credential, the Graph client, the Exchange client), on one fake clock. It
// is a normal package only so that the tests of several packages can share it; nothing but
// tests imports it.
//
// The internal tests of the packages it is built from (graph, exchange, simtenant and the fakes
// simtenant serves) cannot import it without an import cycle; they keep their own harnesses.
// The smaller pieces every kind of test needs live in subpackages that import nothing of
// provision's, so those tests can share them too: anyhost (a TLS test server reached under any
// host name), fixedtoken (a fixed-token credential) and clientproof (a self-signed client
// certificate, an unsigned federated token).
package simtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/mailsim"
)

// signingKey is the token signing key every fixture of a test binary shares: generating an
// RSA-2048 key is most of a tenant's start-up, and tests start hundreds of tenants. (A
// package-level value, the one in this package: test support only, and the same for every
// caller.)
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("simtest: generate the shared signing key: " + err.Error())
	}
	return key
})

// Epoch is where a fixture's fake clock starts unless ClockAt says otherwise.
func Epoch() time.Time { return time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC) }

// Fixture is a simulated tenant served over TLS and the real clients signed in to it as the
// tenant's operator (an administrator), everything on one fake clock.
type Fixture struct {
	// Tenant is the simulated tenant; tests seed it, inject faults and read its request log.
	Tenant *simtenant.Tenant
	// Server serves Tenant (through the Wrap option's handler, if any) over TLS.
	Server *httptest.Server
	// Clock is the tenant's and the clients' clock.
	Clock *clock.Fake
	// TenantID is the tenant the operator signs in to.
	TenantID string
	// Transport trusts Server's certificate; every client of the fixture sends through it.
	Transport *http.Transport
	// HTTPClient is an http.Client over Transport.
	HTTPClient *http.Client
	// Credential signs the operator in with a real azidentity credential against the tenant's
	// authority.
	Credential azcore.TokenCredential
	// Graph is the Graph client signed in with Credential.
	Graph *graph.Client
	// Exchange is the Exchange admin client for the tenant's /exchange endpoint, signed in with
	// Credential.
	Exchange *exchange.Client
	// Mail is the tenant's SMTP, IMAP and POP listeners, with the server's certificate, when
	// the Mail option is given; Transport's TLS config trusts them.
	Mail *mailsim.Server

	cfg config
}

// Option changes what Start builds.
type Option func(*config)

type config struct {
	tenant     simtenant.Options
	start      time.Time
	seed       func(testing.TB, *simtenant.Tenant)
	wrap       func(http.Handler) http.Handler
	graph      func(*graph.Options)
	exchange   func(*exchange.Options)
	signIn     *policy.RetryOptions
	freshToken bool
	mail       bool
}

// Faults injects faults into the tenant from the start.
func Faults(f simtenant.Faults) Option { return func(c *config) { c.tenant.Faults = f } }

// PageSize sets the tenant's page size; 0 keeps simtenant's small default.
func PageSize(n int) Option { return func(c *config) { c.tenant.PageSize = n } }

// TenantOptions replaces every tenant option at once; the fixture's fake clock is set over it.
func TenantOptions(o simtenant.Options) Option { return func(c *config) { c.tenant = o } }

// ClockAt starts the fake clock at t instead of Epoch.
func ClockAt(t time.Time) Option { return func(c *config) { c.start = t } }

// Seed runs on the tenant before the server starts (extra users, a portal-made app, …).
func Seed(fn func(testing.TB, *simtenant.Tenant)) Option { return func(c *config) { c.seed = fn } }

// Wrap puts a handler between the server and the tenant, for the answers the tenant does not
// model (a policy refusal, a lost response, a lagging authority).
func Wrap(fn func(tenant http.Handler) http.Handler) Option { return func(c *config) { c.wrap = fn } }

// Graph adjusts the Graph client's options (a request log, retry policies) after the
// fixture has set its endpoint, credential, transport and clock.
func Graph(fn func(*graph.Options)) Option { return func(c *config) { c.graph = fn } }

// Exchange adjusts the Exchange client's options (concurrency, attempts) after the fixture has
// set its endpoint, tenant, credential, HTTP client and clock.
func Exchange(fn func(*exchange.Options)) Option { return func(c *config) { c.exchange = fn } }

// SignInRetry sets the retries of the operator's credential (azidentity's own otherwise).
func SignInRetry(r policy.RetryOptions) Option { return func(c *config) { c.signIn = &r } }

// FreshSignIn makes Credential sign in anew for every token: azidentity caches tokens on the
// wall clock, and a test that moves the fake clock months ahead outlives the simulated
// tokens.
func FreshSignIn() Option { return func(c *config) { c.freshToken = true } }

// Mail also starts the tenant's mail listeners (Fixture.Mail), on the fixture's clock.
func Mail() Option { return func(c *config) { c.mail = true } }

// Start builds the tenant on a fake clock, serves it over TLS until the test ends, and signs
// the Graph and Exchange clients in to it as the operator.
func Start(tb testing.TB, opts ...Option) *Fixture {
	tb.Helper()
	cfg := config{start: Epoch()}
	for _, o := range opts {
		o(&cfg)
	}
	f := &Fixture{Clock: clock.NewFake(cfg.start), cfg: cfg}
	tenantOpts := cfg.tenant
	tenantOpts.Clock = f.Clock
	if tenantOpts.SigningKey == nil {
		tenantOpts.SigningKey = signingKey()
	}
	tenant, err := simtenant.New(tenantOpts)
	if err != nil {
		tb.Fatal(err)
	}
	f.Tenant = tenant
	f.TenantID = tenant.TenantID()
	if cfg.seed != nil {
		cfg.seed(tb, tenant)
	}
	var h http.Handler = tenant.Handler()
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	f.Server = httptest.NewTLSServer(h)
	tb.Cleanup(f.Server.Close)
	// Enough idle connections for the requests apply keeps in flight, as a production
	// transport would have; the default two would redo a TLS handshake per request.
	f.Transport = f.Server.Client().Transport.(*http.Transport).Clone()
	f.Transport.MaxIdleConnsPerHost = 32
	f.HTTPClient = &http.Client{Transport: f.Transport}
	if cfg.freshToken {
		f.Credential = freshCredential{f: f}
	} else {
		f.Credential = f.NewCredential(tb)
	}
	f.Graph, f.Exchange = f.Clients(tb, f.Credential)
	if cfg.mail {
		m, err := mailsim.Start(context.Background(), mailsim.Options{Tenant: tenant, AuthorityHost: f.Server.URL + "/",
			HTTPClient: f.HTTPClient, TLS: &tls.Config{Certificates: f.Server.TLS.Certificates, MinVersion: tls.VersionTLS12},
			Audiences: []string{f.Server.URL + "/exchange"}, Clock: f.Clock})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = m.Close() })
		f.Mail = m
	}
	return f
}

// NewCredential is a new operator credential, with no cached token: it sees the rights the
// operator holds now.
func (f *Fixture) NewCredential(tb testing.TB) *azidentity.ClientSecretCredential {
	tb.Helper()
	cred, err := f.operatorCredential()
	if err != nil {
		tb.Fatal(err)
	}
	return cred
}

func (f *Fixture) operatorCredential() (*azidentity.ClientSecretCredential, error) {
	tid, cid, secret := f.Tenant.OperatorCredentials()
	return f.SecretCredential(tid, cid, secret)
}

// SecretCredential is a real azidentity client secret credential against the tenant's
// authority, for any client (the operator, or an application the test registered).
func (f *Fixture) SecretCredential(tenantID, clientID, secret string) (*azidentity.ClientSecretCredential, error) {
	o := &azidentity.ClientSecretCredentialOptions{
		ClientOptions: policy.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: f.Server.URL + "/"},
			Transport: f.HTTPClient,
		},
		DisableInstanceDiscovery: true,
	}
	if f.cfg.signIn != nil {
		o.Retry = *f.cfg.signIn
	}
	return azidentity.NewClientSecretCredential(tenantID, clientID, secret, o)
}

// Clients builds a Graph and an Exchange client for the tenant signed in with cred, with the
// fixture's options: what a run builds after signing in.
func (f *Fixture) Clients(tb testing.TB, cred azcore.TokenCredential) (*graph.Client, *exchange.Client) {
	tb.Helper()
	gopts := graph.Options{BaseURL: f.Server.URL, Credential: cred, Transport: f.Transport, Clock: f.Clock}
	if f.cfg.graph != nil {
		f.cfg.graph(&gopts)
	}
	gc, err := graph.NewClient(gopts)
	if err != nil {
		tb.Fatal(err)
	}
	xopts := exchange.Options{Endpoint: f.Server.URL + "/exchange", TenantID: f.TenantID, Credential: cred,
		HTTPClient: f.HTTPClient, Clock: f.Clock}
	if f.cfg.exchange != nil {
		f.cfg.exchange(&xopts)
	}
	exo, err := exchange.New(xopts)
	if err != nil {
		tb.Fatal(err)
	}
	return gc, exo
}

// freshCredential signs the operator in with a new azidentity credential for every token.
type freshCredential struct{ f *Fixture }

func (c freshCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	cred, err := c.f.operatorCredential()
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return cred.GetToken(ctx, opts)
}
