package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/deadline"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/sensitive"
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
	// mailTLS is the base TLS config of verify's mail logins: the simulated tenant's CA when
	// simulating, nil (the system roots, SSL_CERT_FILE) otherwise.
	mailTLS *tls.Config
	// deadline bounds every request of the session's clients and says on stderr what a slow
	// one waits for (notices).
	deadline deadline.Options
	notices  *waitNotices
	// tenant is the manifests' tenant value the session signed in for ("" for the
	// credential's own); clock is the factory's.
	tenant string
	clock  clock.Clock
	// errOut is where progress goes (stderr).
	errOut io.Writer
}

// Close lets go of the session's idle connections and stops its notices. The simulated
// tenant, shared by the command's sessions, is stopped by the factory.
func (s *session) Close() error {
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	s.notices.Close()
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
	notices := newWaitNotices(f.errOut)
	s := &session{tenant: tenant, clock: f.clock, errOut: f.errOut, notices: notices, deadline: deadline.Options{Waiting: notices.waiting}}
	if g.simulate.enabled {
		sim, err := f.simulator(ctx, g)
		if err != nil {
			s.notices.Close()
			return nil, err
		}
		s.transport = sim.transport
		s.mailTLS = sim.transport.TLSClientConfig
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
	copts := credential.Options{Method: method, Endpoints: endpoints, Getenv: getenv, Prompt: f.errOut, TenantID: tenant, Deadline: s.deadline}
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
		Deadline:   s.deadline,
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
		Deadline:       s.deadline,
	})
	if err != nil {
		return nil, fmt.Errorf("build Exchange admin client: %w", err)
	}
	s.exchange = exo
	s.secrets = f.secretDeps(cred, endpoints, tenantID, s.transport, s.deadline)
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
func (f *factory) secretDeps(cred *credential.Credential, endpoints credential.Endpoints, tenantID string, tr *http.Transport, dl deadline.Options) provision.SecretDeps {
	transporter := &http.Client{Transport: tr}
	verifier := verify.ClientSecret{
		AuthorityHost: endpoints.Authority,
		Scope:         endpoints.GraphScope(),
		Transport:     transporter,
		Deadline:      dl,
		Clock:         f.clock,
	}
	return provision.SecretDeps{
		Sinks: func(store manifests.SecretStore) ([]sink.Sink, error) {
			return sink.FromStore(store, sink.Deps{
				KeyVaultCredential: cred,
				KeyVault:           sink.KeyVaultOptions{Transport: transporter, Deadline: dl},
				Getenv:             f.getenv,
				Stdout:             f.out,
			})
		},
		Verify:        verifier.Verify,
		TenantID:      tenantID,
		AuthorityHost: endpoints.Authority,
		MailScope:     endpoints.ExchangeScope(),
		SMTP:          endpoints.SMTP,
		IMAP:          endpoints.IMAP,
		POP:           endpoints.POP,
	}
}

// checker is verify's Checker for this session: its endpoints (the simulated tenant's mail
// listeners under --simulate), transport and deadlines, clock, and its Exchange client, signed
// in as the operator, to name the cause of a refused login.
func (s *session) checker(p verify.Protocols) verify.Checker {
	e := s.endpoints
	return verify.Checker{
		Endpoints: verify.Endpoints{AuthorityHost: e.Authority, Graph: e.Graph, Exchange: e.Exchange, SMTP: e.SMTP, IMAP: e.IMAP, POP: e.POP},
		Protocols: p,
		Transport: s.deadline.WrapDoer(&http.Client{Transport: s.transport}, func(r *http.Request) string {
			return "sign-in " + r.Method + " " + r.URL.Path
		}),
		TLS:      s.mailTLS,
		Clock:    s.clock,
		Exchange: s.exchange,
	}
}

// waitNotices says on stderr what a slow request still waits for ("still waiting for Graph
// POST /v1.0/$batch (10s)"). The deadline package calls waiting from timer goroutines, which
// must never block, so a notice is queued and one goroutine writes it; when the queue is full
// (stderr stuck) the notice is dropped: the next comes five seconds later.
type waitNotices struct {
	queue chan string
	stop  chan struct{}
	once  sync.Once
}

func newWaitNotices(w io.Writer) *waitNotices {
	n := &waitNotices{queue: make(chan string, 16), stop: make(chan struct{})}
	go func() {
		for {
			select {
			case line := <-n.queue:
				fmt.Fprintln(w, line)
			case <-n.stop:
				return
			}
		}
	}()
	return n
}

// waiting is deadline.Options.Waiting: it never blocks.
func (n *waitNotices) waiting(what string, waited time.Duration) {
	select {
	case n.queue <- fmt.Sprintf("still waiting for %s (%ds)", what, int(waited/time.Second)):
	default:
	}
}

// Close stops the writer without waiting for it (a stuck stderr must not hold the process);
// notices sent afterwards are dropped. A nil waitNotices is a no-op.
func (n *waitNotices) Close() {
	if n != nil {
		n.once.Do(func() { close(n.stop) })
	}
}

// verifyNewSecret is rotate --verify's check of a new secret: signIn's (the secret reaches the
// identity platform), then provision verify's checks for the document of the application,
// which must all pass before the engine retires anything. Passed checks are reported on
// stderr; failed ones make the error, which the engine reports with "nothing was retired".
func (s *session) verifyNewSecret(mc *mailCheck, signIn func(ctx context.Context, tenantID, clientID string, secret sensitive.String) error) func(ctx context.Context, tenantID, clientID string, secret sensitive.String) error {
	return func(ctx context.Context, tenantID, clientID string, secret sensitive.String) error {
		if err := signIn(ctx, tenantID, clientID, secret); err != nil {
			return err
		}
		doc, err := s.documentOf(ctx, mc.docs, clientID)
		if err != nil {
			return fmt.Errorf("verify the new secret: %w", err)
		}
		rep := s.checker(verify.Protocols{}).Run(ctx, checkedApplication(doc, tenantID, clientID, secret))
		var ids, failures []string
		for _, c := range rep.Checks {
			ids = append(ids, c.ID)
			if c.Status != verify.Passed {
				f := fmt.Sprintf("%s %s, %s: %s", c.ID, c.Status, c.Cause, c.Explanation)
				if c.Fix != "" {
					f += " (fix: " + c.Fix + ")"
				}
				failures = append(failures, f)
			}
		}
		if len(failures) > 0 {
			return fmt.Errorf("the new secret of application %q does not pass provision verify: %s", doc.Application.Name, strings.Join(failures, "; "))
		}
		fmt.Fprintf(s.errOut, "verified the new secret of application %q: %s passed\n", doc.Application.Name, strings.Join(ids, ", "))
		return nil
	}
}
