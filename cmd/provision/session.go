package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/graph"
)

// session is a signed-in connection to a tenant, real or simulated: what plan, apply,
// rotate and doctor talk to.
type session struct {
	endpoints  credential.Endpoints
	credential *credential.Credential
	graph      *graph.Client
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
	return &provision.Engine{Graph: s.graph}
}

// connect signs in to the tenant the flags point at. With --simulate it first starts the
// simulated tenant and points the ordinary credential chain at it, so the same code path
// runs against both.
func (f *factory) connect(ctx context.Context, g *globalOptions) (*session, error) {
	getenv := f.getenv
	s := &session{}
	if g.simulate.enabled {
		sim, err := f.startSimulator(ctx, g.simulate.stateFile)
		if err != nil {
			return nil, err
		}
		s.close = sim.Close
		s.transport = sim.transport
		getenv = sim.getenv
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
	ok = true
	return s, nil
}
