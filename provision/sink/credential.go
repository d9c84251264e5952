package sink

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/sensitive"
)

// DocumentFormat is the version of the JSON document a file and an exec sink receive. It changes
// only when a field is removed or changes meaning; new fields may appear within a version.
const DocumentFormat = 1

// Public-cloud scopes a Credential falls back to when its own are empty, derived from the one
// definition of the public cloud's endpoints in package credential.
const (
	DefaultGraphScope = credential.DefaultGraph + "/.default"
	// DefaultMailScope is the client-credentials scope for IMAP, POP and SMTP AUTH with XOAUTH2.
	DefaultMailScope = credential.DefaultExchange + "/.default"
)

// How a mail client (OpenFire's outgoing server, an IMAP poller) secures each of Exchange
// Online's mail endpoints: SMTP on submission with STARTTLS, IMAP and POP over TLS from the
// start (DESIGN.md §4). The endpoints themselves are credential's (DefaultSMTP, ...).
const (
	SMTPSecurity = "STARTTLS"
	IMAPSecurity = "SSL/TLS"
	POPSecurity  = "SSL/TLS"
)

// errNoSecret is returned for a Credential without a value: delivering it would overwrite a
// working secret with nothing.
var errNoSecret = errors.New("credential has no secret value")

// Credential is a freshly created client secret and what a consumer needs to use it. Secret is
// sensitive: printing a Credential or marshalling it with encoding/json shows "(sensitive)".
// The value leaves the process only through Document and the sinks.
type Credential struct {
	TenantID    string
	ClientID    string // the application (client) id
	KeyID       string // the password credential's keyId, to tell versions apart
	DisplayName string // the password credential's displayName: the manifest's secret name
	Secret      sensitive.String
	Hint        string // the first characters Graph reports, safe to show
	CreatedAt   time.Time
	ExpiresAt   time.Time
	// Authority is the tenant's authority, https://login.microsoftonline.com/<tenant> by default.
	Authority string
	// TokenEndpoint is where a client-credentials token is requested; <Authority>/oauth2/v2.0/token by default.
	TokenEndpoint string
	// GraphScope and MailScope are the client-credentials scopes; public-cloud defaults when empty.
	GraphScope string
	MailScope  string
	// SMTP, IMAP and POP are the mail endpoints (host:port) a consumer logs in to; Exchange
	// Online's when empty.
	SMTP, IMAP, POP string
}

// document is the JSON a file or exec sink receives. It is private so the only way to it is
// Document, the one place the value is revealed into a serialisable form on purpose.
type document struct {
	Format        int        `json:"format"`
	TenantID      string     `json:"tenantId"`
	ClientID      string     `json:"clientId"`
	Secret        string     `json:"secret"`
	KeyID         string     `json:"keyId,omitempty"`
	Name          string     `json:"name,omitempty"`
	Hint          string     `json:"hint,omitempty"`
	CreatedAt     string     `json:"createdAt,omitempty"`
	ExpiresAt     string     `json:"expiresAt"`
	Authority     string     `json:"authority"`
	TokenEndpoint string     `json:"tokenEndpoint"`
	Scopes        docScopes  `json:"scopes"`
	Mail          docServers `json:"mail"`
}

type docScopes struct {
	Graph string `json:"graph"`
	Mail  string `json:"mail"`
}

type docServers struct {
	SMTP docServer `json:"smtp"`
	IMAP docServer `json:"imap"`
	POP  docServer `json:"pop"`
}

type docServer struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"`
}

// WithDefaults returns c with empty endpoints and scopes filled in for the public cloud.
func (c Credential) WithDefaults() Credential {
	if c.Authority == "" && c.TenantID != "" {
		c.Authority = credential.DefaultAuthority + c.TenantID
	}
	c.Authority = strings.TrimSuffix(c.Authority, "/")
	if c.TokenEndpoint == "" && c.Authority != "" {
		c.TokenEndpoint = c.Authority + "/oauth2/v2.0/token"
	}
	if c.GraphScope == "" {
		c.GraphScope = DefaultGraphScope
	}
	if c.MailScope == "" {
		c.MailScope = DefaultMailScope
	}
	c.SMTP = cmp.Or(c.SMTP, credential.DefaultSMTP)
	c.IMAP = cmp.Or(c.IMAP, credential.DefaultIMAP)
	c.POP = cmp.Or(c.POP, credential.DefaultPOP)
	return c
}

// endpoint is the host:port a document's server names; "" when it names none.
func (s docServer) endpoint() string {
	if s.Host == "" {
		return ""
	}
	if s.Port == 0 {
		return s.Host
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// server is the document's form of a host:port endpoint.
func server(endpoint, security string) docServer {
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return docServer{Host: endpoint, Security: security}
	}
	n, _ := strconv.Atoi(port)
	return docServer{Host: host, Port: n, Security: security}
}

// Validate reports what a sink needs and c lacks.
func (c Credential) Validate() error {
	var missing []string
	if c.Secret.IsZero() {
		return errNoSecret
	}
	if c.TenantID == "" {
		missing = append(missing, "tenant id")
	}
	if c.ClientID == "" {
		missing = append(missing, "client id")
	}
	if c.ExpiresAt.IsZero() {
		missing = append(missing, "expiry")
	}
	if len(missing) > 0 {
		return fmt.Errorf("credential has no %s", strings.Join(missing, ", "))
	}
	return nil
}

// Document returns the credential as indented JSON with the secret value in the clear. This is
// the payload of the file sink and of an exec sink's stdin, and the one place provision writes
// the value into a document on purpose.
func (c Credential) Document() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.WithDefaults()
	d := document{
		Format:        DocumentFormat,
		TenantID:      c.TenantID,
		ClientID:      c.ClientID,
		Secret:        c.Secret.Reveal(),
		KeyID:         c.KeyID,
		Name:          c.DisplayName,
		Hint:          c.Hint,
		ExpiresAt:     c.ExpiresAt.UTC().Format(time.RFC3339),
		Authority:     c.Authority,
		TokenEndpoint: c.TokenEndpoint,
		Scopes:        docScopes{Graph: c.GraphScope, Mail: c.MailScope},
		Mail: docServers{
			SMTP: server(c.SMTP, SMTPSecurity),
			IMAP: server(c.IMAP, IMAPSecurity),
			POP:  server(c.POP, POPSecurity),
		},
	}
	if !c.CreatedAt.IsZero() {
		d.CreatedAt = c.CreatedAt.UTC().Format(time.RFC3339)
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		// Nothing in document can fail to marshal; the error text cannot hold the value.
		return nil, fmt.Errorf("marshal credential document: %w", err)
	}
	return append(data, '\n'), nil
}
