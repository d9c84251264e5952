// Package mailsim serves the simulated tenant's mail protocols on loopback: SMTP submission
// with STARTTLS (as smtp.office365.com:587), IMAP and POP over implicit TLS (as
// outlook.office365.com:993 and :995). They accept an XOAUTH2 login exactly when Exchange
// Online would (mailbox.md §3–§5): a valid Exchange token of the tenant (signature checked
// against the authority's published keys, tenant, audience, expiry), the protocol's
// application role (SMTP.SendAsApp, IMAP.AccessAsApp, POP.AccessAsApp) or delegated scope, for
// app-only logins the application's service principal registered in Exchange with its
// enterprise application's object id and holding FullAccess on the mailbox, and the mailbox's
// protocol switched on (SMTP AUTH: the mailbox's own switch, else the organisation's). The
// Exchange side is read from the tenant's exchangesim state at each login. Failures get the
// service's replies, which do not say what is missing; Attempts tells tests.
//
// Nothing is ever sent or read: only the greeting, capability, STARTTLS, authentication and
// logout commands work; everything else answers a plausible refusal.
package mailsim

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
)

// DefaultServerName is the host the listeners name in their banners and replies, shaped like
// an Exchange Online front end.
const DefaultServerName = "AM9P192CA0001.EURP192.PROD.OUTLOOK.COM"

// idleTimeout bounds how long a connection may sit without a command, so a stuck client
// cannot hold a listener's goroutine forever.
const idleTimeout = 2 * time.Minute

// Tenant is the simulated tenant the listeners serve; *simtenant.Tenant satisfies it.
type Tenant interface {
	// TenantID is the tenant whose tokens are accepted.
	TenantID() string
	// Exchange is the tenant's Exchange state now (it changes when a state file is loaded).
	Exchange() *exchangesim.Server
}

// Options configures the listeners.
type Options struct {
	// Tenant is required.
	Tenant Tenant
	// AuthorityHost is the identity platform the tokens come from (e.g. https://127.0.0.1:4431/);
	// its keys are fetched from {AuthorityHost}{tenant}/discovery/v2.0/keys at the first login.
	// Required.
	AuthorityHost string
	// HTTPClient fetches the keys; it must trust the authority's certificate. nil means
	// http.DefaultClient.
	HTTPClient *http.Client
	// TLS holds the listeners' certificate (the simulated tenant's, so one CA covers all). Required.
	TLS *tls.Config
	// Audiences are accepted besides Exchange Online's own (https://outlook.office365.com,
	// https://outlook.office.com, its app id): the tenant's Exchange endpoint, which a token
	// requested for <PROVISION_EXCHANGE_ENDPOINT>/.default carries.
	Audiences []string
	// Clock judges token expiry and propagation; nil means the wall clock. Give the tenant's.
	Clock clock.Clock
	// PropagationDelay is how long after New-ServicePrincipal or the FullAccess grant (the
	// later of the two) app-only logins still fail, as Exchange takes up to an hour to apply
	// them (mailbox.md §5.2). Zero applies them at once.
	PropagationDelay time.Duration
	// Host is the loopback address the listeners bind; "" means 127.0.0.1.
	Host string
	// SMTPPort, IMAPPort and POPPort are the ports; 0 picks free ones.
	SMTPPort, IMAPPort, POPPort int
	// ServerName is the host named in banners; "" means DefaultServerName.
	ServerName string
}

// Protocol is one of the mail protocols.
type Protocol string

// The protocols served.
const (
	SMTP Protocol = "smtp"
	IMAP Protocol = "imap"
	POP  Protocol = "pop"
)

// Attempt is one XOAUTH2 login the listeners judged: who tried which mailbox, and the reason
// of the verdict (Accepted, or what was missing). It never holds the token.
type Attempt struct {
	Protocol Protocol
	Mailbox  string
	AppID    string // the token's client id, "" when the token did not validate
	Reason   Reason
	At       time.Time
}

// Server is the three listeners. It is safe for concurrent use.
type Server struct {
	// SMTPAddr, IMAPAddr and POPAddr are host:port, for PROVISION_SMTP_ENDPOINT,
	// PROVISION_IMAP_ENDPOINT and PROVISION_POP_ENDPOINT.
	SMTPAddr, IMAPAddr, POPAddr string

	opts      Options
	clock     clock.Clock
	keys      *keySet
	audiences []string
	listeners []net.Listener
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu       sync.Mutex
	delay    time.Duration
	conns    map[net.Conn]struct{}
	attempts []Attempt
}

// Start binds the three listeners and serves until Close.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Tenant == nil || opts.TLS == nil || opts.AuthorityHost == "" {
		return nil, errors.New("start mail listeners: tenant, TLS config and authority host are required")
	}
	opts.Clock = clock.Or(opts.Clock)
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.ServerName == "" {
		opts.ServerName = DefaultServerName
	}
	host := opts.AuthorityHost
	if !strings.HasSuffix(host, "/") {
		host += "/"
	}
	s := &Server{opts: opts, clock: opts.Clock, delay: opts.PropagationDelay, conns: map[net.Conn]struct{}{},
		keys:      &keySet{url: host + opts.Tenant.TenantID() + "/discovery/v2.0/keys", client: opts.HTTPClient},
		audiences: append([]string{"https://outlook.office365.com", "https://outlook.office.com", "00000002-0000-0ff1-ce00-000000000000"}, opts.Audiences...)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var lc net.ListenConfig
	for _, l := range []struct {
		port  int
		addr  *string
		serve func(net.Conn)
	}{{opts.SMTPPort, &s.SMTPAddr, s.serveSMTP}, {opts.IMAPPort, &s.IMAPAddr, s.serveIMAP}, {opts.POPPort, &s.POPAddr, s.servePOP}} {
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(opts.Host, fmt.Sprint(l.port)))
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("start mail listeners: %w", err)
		}
		s.listeners = append(s.listeners, ln)
		*l.addr = ln.Addr().String()
		s.wg.Add(1)
		go s.accept(ln, l.serve)
	}
	return s, nil
}

// Env returns the environment that points provision at the listeners, as NAME=value.
func (s *Server) Env() []string {
	return []string{"PROVISION_SMTP_ENDPOINT=" + s.SMTPAddr, "PROVISION_IMAP_ENDPOINT=" + s.IMAPAddr, "PROVISION_POP_ENDPOINT=" + s.POPAddr}
}

// SetPropagationDelay changes Options.PropagationDelay.
func (s *Server) SetPropagationDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Attempts returns the logins judged so far, oldest first.
func (s *Server) Attempts() []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt(nil), s.attempts...)
}

// Close stops the listeners and drops the open connections.
func (s *Server) Close() error {
	s.cancel()
	for _, ln := range s.listeners {
		_ = ln.Close()
	}
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) accept(ln net.Listener, serve func(net.Conn)) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			serve(c)
		}()
	}
}

// track swaps a connection for the TLS connection over it, so Close reaches it.
func (s *Server) track(old, replacement net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, old)
	s.conns[replacement] = struct{}{}
}

func (s *Server) record(a Attempt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.At = s.clock.Now()
	s.attempts = append(s.attempts, a)
}

// greetingTag is the bracketed base64 of the server name in UTF-16 that Exchange's IMAP and
// POP greetings end with.
func (s *Server) greetingTag() string {
	u := utf16.Encode([]rune(s.opts.ServerName))
	b := make([]byte, 0, 2*len(u))
	for _, r := range u {
		b = append(b, byte(r), byte(r>>8))
	}
	return "[" + base64.StdEncoding.EncodeToString(b) + "]"
}
