package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/sink"
	"github.com/provisionhq/provision/provision/verify"
)

// session is a signed-in connection to a tenant, real or simulated: what plan, apply,
// rotate and doctor talk to.
type session struct {
	endpoints  credential.Endpoints
	credential *credential.Credential
	graph      *graph.Client
	exchange   *exchange.Client
	secrets    provision.SecretDeps
	// observeProgress reports long reads (Send-As of many mailboxes) on stderr.
	observeProgress func(what string, done, total int)
	// transport carries every request of the session (and trusts the simulated tenant's CA
	// when simulating).
	transport *http.Transport
}

// Close lets go of the session's idle connections. The simulated tenant, shared by the
// command's sessions, is stopped by the factory.
func (s *session) Close() error {
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	return nil
}

// engine returns the reconciler bound to this session.
func (s *session) engine() *provision.Engine {
	return &provision.Engine{Graph: s.graph, Exchange: s.exchange, Secrets: s.secrets, ObserveProgress: s.observeProgress}
}

// connect signs in to tenant (the manifest's tenant value; "" means the credential's own)
// with the credential the flags and environment choose. With --simulate it first starts the
// simulated tenant (once per command) and points the ordinary credential chain at it, so the
// same code path runs against both.
func (f *factory) connect(ctx context.Context, g *globalOptions, tenant string) (*session, error) {
	getenv := f.getenv
	s := &session{}
	if g.simulate.enabled {
		sim, err := f.simulator(ctx, g)
		if err != nil {
			return nil, err
		}
		s.transport = sim.transport
		getenv = sim.getenv(f.lookupEnv)
	}
	ok := false
	defer func() {
		if !ok {
			_ = s.Close()
		}
	}()

	method, err := credential.ParseMethod(g.auth)
	if err != nil {
		return nil, err
	}
	endpoints, err := credential.EndpointsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	s.endpoints = endpoints
	copts := credential.Options{Method: method, Endpoints: endpoints, Getenv: getenv, Prompt: f.errOut, TenantID: tenant}
	if s.transport == nil {
		if s.transport, err = f.newTransport(); err != nil {
			return nil, err
		}
	}
	// Assignments and Send-As run several requests at once: keep that many connections warm
	// instead of paying a TLS handshake per request.
	s.transport.MaxIdleConnsPerHost = 16
	rt := http.RoundTripper(s.transport)
	if g.simulate.enabled {
		copts.Transport = &http.Client{Transport: s.transport}
	}
	cred, err := credential.New(ctx, copts)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	s.credential = cred
	var requestLog io.Writer
	if g.verbose {
		requestLog = f.errOut
	}
	client, err := graph.NewClient(graph.Options{
		BaseURL:    endpoints.Graph,
		Credential: cred,
		Scopes:     []string{endpoints.GraphScope()},
		Transport:  rt,
		Clock:      f.clock,
		RequestLog: requestLog,
	})
	if err != nil {
		return nil, fmt.Errorf("build Graph client: %w", err)
	}
	s.graph = client

	// The token says which tenant the credential really signed in to: the Azure CLI and
	// managed identities do not say it up front, and a manifest's tenant must match it.
	tenantID, err := s.tokenTenant(ctx)
	if err != nil {
		return nil, err
	}
	if manifests.IsGUID(tenant) && !strings.EqualFold(tenant, tenantID) {
		return nil, fmt.Errorf("the manifest's tenant %s is not the signed-in tenant %s: sign in to %s (AZURE_TENANT_ID, az login --tenant) or correct the manifest", tenant, tenantID, tenant)
	}
	exo, err := exchange.New(exchange.Options{
		Endpoint:       endpoints.Exchange,
		TenantID:       tenantID,
		Credential:     cred,
		HTTPClient:     &http.Client{Transport: rt},
		Clock:          f.clock,
		RequestLog:     requestLog,
		MaxConcurrency: provision.DefaultExchangeConcurrency,
	})
	if err != nil {
		return nil, fmt.Errorf("build Exchange admin client: %w", err)
	}
	s.exchange = exo
	s.secrets = f.secretDeps(cred, endpoints, tenantID, s.transport)
	s.observeProgress = newProgress(f.out, f.errOut, f.isTerminal()).count
	ok = true
	return s, nil
}

// tokenTenant reads the tenant id from a Graph access token of the session's credential. It
// asks for the token as the Graph SDK does (continuous access evaluation on), so the
// credential's cache hands the same token to the Graph client instead of fetching a second.
func (s *session) tokenTenant(ctx context.Context) (string, error) {
	tok, err := s.credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.endpoints.GraphScope()}, EnableCAE: true})
	if err != nil {
		return "", fmt.Errorf("sign in (set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, use workload or managed identity, or run az login; --simulate needs no Azure account): %w", err)
	}
	id, err := credential.Identify(tok.Token)
	if err != nil {
		return "", fmt.Errorf("read the tenant from the access token: %w", err)
	}
	return id.TenantID, nil
}

// secretDeps says where new secrets go and how they are checked: the manifest's sinks (Key
// Vault signed in with the session's credential) and a client-credentials sign-in with the
// new secret against the session's authority.
func (f *factory) secretDeps(cred *credential.Credential, endpoints credential.Endpoints, tenantID string, tr *http.Transport) provision.SecretDeps {
	transporter := &http.Client{Transport: tr}
	verifier := verify.ClientSecret{
		AuthorityHost: endpoints.Authority,
		Scope:         endpoints.GraphScope(),
		Transport:     transporter,
		Clock:         f.clock,
	}
	return provision.SecretDeps{
		Sinks: func(store manifests.SecretStore) ([]sink.Sink, error) {
			return sink.FromStore(store, sink.Deps{
				KeyVaultCredential: cred,
				KeyVault:           sink.KeyVaultOptions{Transport: transporter},
				Getenv:             f.getenv,
				Stdout:             f.out,
			})
		},
		Verify:        verifier.Verify,
		TenantID:      tenantID,
		AuthorityHost: endpoints.Authority,
		MailScope:     endpoints.ExchangeScope(),
	}
}
