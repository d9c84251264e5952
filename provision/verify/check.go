package verify

import (
	"context"
	"crypto/tls"
	"net"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/retry"
	"github.com/provisionhq/provision/provision/sensitive"
)

// ReportVersion is the version of the JSON form of a Report.
const ReportVersion = 1

// Default mail endpoints of Exchange Online (DESIGN.md §4), defined once in package
// credential, which reads PROVISION_SMTP_ENDPOINT and the others.
const (
	DefaultSMTPEndpoint = credential.DefaultSMTP
	DefaultIMAPEndpoint = credential.DefaultIMAP
	DefaultPOPEndpoint  = credential.DefaultPOP
)

// The Office 365 Exchange Online application roles that allow app-only mail logins.
const (
	RoleSMTP = "SMTP.SendAsApp"
	RoleIMAP = "IMAP.AccessAsApp"
	RolePOP  = "POP.AccessAsApp"
)

// Application is the application verify signs in as, and what its manifest declares.
type Application struct {
	// TenantID and ClientID identify the application; Secret is the client secret its sinks
	// hold. The secret never appears in a Report or an error.
	TenantID, ClientID string
	Secret             sensitive.String
	// GraphRoles and ExchangeRoles are the application permissions the manifest declares on
	// Microsoft Graph and on Office 365 Exchange Online; the tokens must carry them.
	GraphRoles, ExchangeRoles []string
	// ConsentGranted says whether the tenant shows admin consent for them; when it does not, a
	// missing role is explained as "consent pending?".
	ConsentGranted bool
	// Mailboxes are the mailboxes with appAccess: true, where logins are tried.
	Mailboxes []string
}

// Endpoints are where the checks go. Empty fields take the public cloud's values.
type Endpoints struct {
	// AuthorityHost is the identity platform (AZURE_AUTHORITY_HOST).
	AuthorityHost string
	// Graph and Exchange are the resources the tokens are for (<endpoint>/.default).
	Graph, Exchange string
	// SMTP, IMAP and POP are host:port (PROVISION_SMTP_ENDPOINT, …).
	SMTP, IMAP, POP string
}

// Protocols selects the mail logins to try (--smtp, --imap, --pop).
type Protocols struct{ SMTP, IMAP, POP bool }

// any reports whether a protocol is selected.
func (p Protocols) any() bool { return p.SMTP || p.IMAP || p.POP }

// ExchangeReader reads the Exchange side of mail access, to explain a refused login: what
// the login's reply never says. *exchange.Client, signed in as the operator, satisfies it.
type ExchangeReader interface {
	ServicePrincipal(ctx context.Context, appID string) (exchange.ServicePrincipal, bool, error)
	MailboxStates(ctx context.Context, mailboxes []string) ([]exchange.MailboxState, error)
	TransportConfig(ctx context.Context) (exchange.TransportConfig, error)
}

// Checker proves that an application can do its mail job: tokens for Graph and Exchange that
// carry the declared roles, then XOAUTH2 logins that stop before anything is sent or read.
type Checker struct {
	Endpoints Endpoints
	// Protocols are the logins to try; the zero value tries those the declared Exchange
	// roles allow (SMTP.SendAsApp, IMAP.AccessAsApp, POP.AccessAsApp).
	Protocols Protocols
	// Transport sends the token requests; nil means azcore's default.
	Transport policy.Transporter
	// TLS is the base of the mail connections' TLS config (ServerName is set per endpoint);
	// nil means the system roots, which honour SSL_CERT_FILE.
	TLS *tls.Config
	// Dialer opens the mail connections; nil means a net.Dialer.
	Dialer *net.Dialer
	// Clock paces the retries; nil means the wall clock.
	Clock clock.Clock
	// Retry bounds both waits: for a new secret to reach the identity platform, and for
	// Exchange to apply a registration or a grant that is in place; zero fields take the
	// Default* values.
	Retry retry.Policy
	// Exchange, when set, is read to name the cause of a refused login (service principal
	// missing or registered with the wrong object id, no FullAccess, SMTP AUTH off, or all in
	// place: propagation). Without it the cause is given as the list of candidates.
	Exchange ExchangeReader
}

// Status is the outcome of one check.
type Status string

// The outcomes.
const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped" // not tried: what it needs failed first
)

// Cause names why a check failed; its values are stable (scripts read them).
type Cause string

// The causes verify can name.
const (
	CauseSignIn             Cause = "sign_in_failed"                    // no token: the secret, the app or the tenant
	CauseRoleMissing        Cause = "role_missing"                      // the token lacks a declared role
	CauseSMTPAuthDisabled   Cause = "smtp_auth_disabled"                // SMTP AUTH off for the mailbox or the organisation
	CauseProtocolDisabled   Cause = "protocol_disabled"                 // IMAP or POP off for the mailbox
	CauseNoServicePrincipal Cause = "service_principal_not_registered"  // New-ServicePrincipal never ran
	CauseWrongObjectID      Cause = "service_principal_wrong_object_id" // registered with the app registration's object id
	CauseNoFullAccess       Cause = "full_access_missing"               // no FullAccess on the mailbox
	CauseFullAccessDenied   Cause = "full_access_denied"                // a Deny FullAccess entry overrides it
	CauseMailboxNotFound    Cause = "mailbox_not_found"                 // no such mailbox in Exchange
	CausePropagation        Cause = "propagation_pending"               // everything in place; Exchange not done applying it
	CauseNotAuthorized      Cause = "not_authorized"                    // refused; the Exchange side could not be read to say why
	CauseConnection         Cause = "connection_failed"                 // the endpoint could not be reached or TLS failed
	CauseProtocolError      Cause = "protocol_error"                    // an answer that is not the service's
	CauseNoExchangeToken    Cause = "no_exchange_token"                 // skipped: the Exchange token check failed
	CauseNoXOAUTH2          Cause = "xoauth2_not_offered"               // the server does not offer XOAUTH2
)

// Check is the result of one check, in a stable JSON form.
type Check struct {
	// ID is stable: "token:graph", "token:exchange", "smtp:<mailbox>", "imap:<mailbox>", "pop:<mailbox>".
	ID string `json:"id"`
	// Kind is token, smtp, imap or pop.
	Kind string `json:"kind"`
	// Target is the resource endpoint (tokens) or the mailbox (logins).
	Target string `json:"target"`
	Status Status `json:"status"`
	Cause  Cause  `json:"cause,omitempty"`
	// Detail is what was observed: the server's reply, the platform's error code.
	Detail string `json:"detail,omitempty"`
	// Explanation says what the cause means; Fix what to run or change.
	Explanation string `json:"explanation,omitempty"`
	Fix         string `json:"fix,omitempty"`
	// MissingRoles are the declared roles a token lacks.
	MissingRoles []string `json:"missingRoles,omitempty"`
	// Attempts counts the tries when verify waited (a new secret, propagation).
	Attempts int `json:"attempts,omitempty"`
}

// Report is every check of one application.
type Report struct {
	Version  int     `json:"version"`
	TenantID string  `json:"tenantId"`
	ClientID string  `json:"clientId"`
	Checks   []Check `json:"checks"`
}

// Passed reports whether every check passed (what exit code 0 means).
func (r Report) Passed() bool {
	for _, c := range r.Checks {
		if c.Status != Passed {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Run runs every check for app and returns them all; it fails no check silently and stops
// at none, so the report says everything that is wrong. Nothing is ever sent or read.
func (c Checker) Run(ctx context.Context, app Application) Report {
	r := &run{Checker: c.withDefaults(), app: app}
	report := Report{Version: ReportVersion, TenantID: app.TenantID, ClientID: app.ClientID}
	report.Checks = append(report.Checks, r.tokenCheck(ctx, "graph", r.Endpoints.Graph, app.GraphRoles))
	exo := r.tokenCheck(ctx, "exchange", r.Endpoints.Exchange, app.ExchangeRoles)
	report.Checks = append(report.Checks, exo)
	protocols := r.Protocols
	if !protocols.any() {
		protocols = Protocols{SMTP: hasRole(app.ExchangeRoles, RoleSMTP), IMAP: hasRole(app.ExchangeRoles, RoleIMAP), POP: hasRole(app.ExchangeRoles, RolePOP)}
	}
	for _, mbx := range app.Mailboxes {
		for _, p := range []struct {
			on bool
			pr protocol
		}{{protocols.SMTP, smtpProtocol}, {protocols.IMAP, imapProtocol}, {protocols.POP, popProtocol}} {
			if p.on {
				report.Checks = append(report.Checks, r.mailCheck(ctx, p.pr, mbx, r.tokens["exchange"] != ""))
			}
		}
	}
	for i := range report.Checks {
		report.Checks[i] = r.scrubCheck(report.Checks[i])
	}
	return report
}

func (c Checker) withDefaults() Checker {
	c.Clock = clock.Or(c.Clock)
	c.Retry = c.Retry.Or(RetryPolicy())
	e := &c.Endpoints
	e.Graph = strings.TrimSuffix(firstOf(e.Graph, credential.DefaultGraph), "/")
	e.Exchange = strings.TrimSuffix(firstOf(e.Exchange, credential.DefaultExchange), "/")
	e.SMTP = firstOf(e.SMTP, DefaultSMTPEndpoint)
	e.IMAP = firstOf(e.IMAP, DefaultIMAPEndpoint)
	e.POP = firstOf(e.POP, DefaultPOPEndpoint)
	if c.Dialer == nil {
		c.Dialer = &net.Dialer{}
	}
	return c
}

func firstOf(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return strings.TrimSpace(v)
}

func hasRole(roles []string, role string) bool {
	for _, r := range roles {
		if strings.EqualFold(r, role) {
			return true
		}
	}
	return false
}

// run is the state of one Run: the credential, the tokens, what was read of Exchange.
type run struct {
	Checker
	app    Application
	cred   *azidentity.ClientSecretCredential
	tokens map[string]string // by kind: graph, exchange
	claims map[string]tokenClaims
	exo    *exchangeView
}

// scrubCheck masks the secret and the tokens in every text of a check.
func (r *run) scrubCheck(c Check) Check {
	mask := func(s string) string {
		if !r.app.Secret.IsZero() {
			s = strings.ReplaceAll(s, r.app.Secret.Reveal(), sensitive.Mask)
		}
		for _, t := range r.tokens {
			if t != "" {
				s = strings.ReplaceAll(s, t, sensitive.Mask)
			}
		}
		return s
	}
	c.Detail, c.Explanation, c.Fix = mask(c.Detail), mask(c.Explanation), mask(c.Fix)
	return c
}
