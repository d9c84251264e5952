package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

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
	transport  *http.Transport // trusts the simulated tenant's CA when simulating
	close      func() error
}

// Close stops what the session started (the simulated tenant saves its state here).
func (s *session) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// engine returns the reconciler bound to this session.
func (s *session) engine() *provision.Engine {
	return &provision.Engine{Graph: s.graph, Exchange: s.exchange, Secrets: s.secrets}
}

// connect signs in to the tenant the flags point at. With --simulate it first starts the
// simulated tenant and points the ordinary credential chain at it, so the same code path
// runs against both.
func (f *factory) connect(ctx context.Context, g *globalOptions) (*session, error) {
	getenv := f.getenv
	s := &session{}
	if g.simulate.enabled {
		sim, err := f.startSimulator(ctx, g.simulate.stateFile, "")
		if err != nil {
			return nil, err
		}
		s.close = sim.Close
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
	copts := credential.Options{Method: method, Endpoints: endpoints, Getenv: getenv, Prompt: f.errOut}
	var rt http.RoundTripper
	if s.transport != nil {
		copts.Transport = &http.Client{Transport: s.transport}
		rt = s.transport
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

	tenantID := cred.TenantID()
	if tenantID == "" {
		// The Azure CLI and managed identities do not say their tenant up front; the token does.
		if tenantID, err = s.tokenTenant(ctx); err != nil {
			return nil, err
		}
	}
	exo, err := exchange.New(exchange.Options{
		Endpoint:   endpoints.Exchange,
		TenantID:   tenantID,
		Credential: cred,
		HTTPClient: &http.Client{Transport: rt},
		Clock:      f.clock,
		RequestLog: requestLog,
	})
	if err != nil {
		return nil, fmt.Errorf("build Exchange admin client: %w", err)
	}
	s.exchange = exo
	s.secrets = f.secretDeps(cred, endpoints, tenantID, s.transport)
	ok = true
	return s, nil
}

// tokenTenant reads the tenant id from a Graph access token of the session's credential.
func (s *session) tokenTenant(ctx context.Context) (string, error) {
	tok, err := s.credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.endpoints.GraphScope()}})
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
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
	var transporter policy.Transporter
	if tr != nil {
		transporter = &http.Client{Transport: tr}
	}
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
