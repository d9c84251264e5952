package credential

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

// Environment variables that choose endpoints (DESIGN.md §4).
const (
	EnvGraphEndpoint    = "PROVISION_GRAPH_ENDPOINT"
	EnvExchangeEndpoint = "PROVISION_EXCHANGE_ENDPOINT"
	EnvAuthorityHost    = "AZURE_AUTHORITY_HOST"
	EnvSMTPEndpoint     = "PROVISION_SMTP_ENDPOINT"
	EnvIMAPEndpoint     = "PROVISION_IMAP_ENDPOINT"
	EnvPOPEndpoint      = "PROVISION_POP_ENDPOINT"
)

// Default endpoints: the public cloud.
const (
	DefaultGraph     = "https://graph.microsoft.com"
	DefaultExchange  = "https://outlook.office365.com"
	DefaultAuthority = "https://login.microsoftonline.com/"
)

// Default mail endpoints of Exchange Online, as host:port: SMTP submission with STARTTLS, IMAP
// and POP over implicit TLS. The one definition: package verify takes them from here.
const (
	DefaultSMTP = "smtp.office365.com:587"
	DefaultIMAP = "outlook.office365.com:993"
	DefaultPOP  = "outlook.office365.com:995"
)

// Endpoints are the services provision talks to. Graph and Exchange have no trailing slash
// (paths and scopes are appended to them); Authority has one, as azidentity writes it. SMTP,
// IMAP and POP are the mail protocols' host:port, where provision verify tries its logins.
type Endpoints struct {
	Graph     string
	Exchange  string
	Authority string
	SMTP      string
	IMAP      string
	POP       string
}

// EndpointsFromEnv reads the endpoints through getenv, applies the defaults and normalises
// them. A value that is not an absolute https URL (http is allowed for loopback test servers,
// except for the authority, which azidentity only reaches over https) is an error naming the
// variable.
func EndpointsFromEnv(getenv func(string) string) (Endpoints, error) {
	pick := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	graph, err := normaliseService(EnvGraphEndpoint, pick(EnvGraphEndpoint, DefaultGraph), "/v1.0", "/beta")
	if err != nil {
		return Endpoints{}, err
	}
	exchange, err := normaliseService(EnvExchangeEndpoint, pick(EnvExchangeEndpoint, DefaultExchange))
	if err != nil {
		return Endpoints{}, err
	}
	authority, err := normaliseAuthority(pick(EnvAuthorityHost, DefaultAuthority))
	if err != nil {
		return Endpoints{}, err
	}
	e := Endpoints{Graph: graph, Exchange: exchange, Authority: authority}
	for _, m := range []struct {
		name, def string
		to        *string
	}{{EnvSMTPEndpoint, DefaultSMTP, &e.SMTP}, {EnvIMAPEndpoint, DefaultIMAP, &e.IMAP}, {EnvPOPEndpoint, DefaultPOP, &e.POP}} {
		if *m.to, err = parseHostPort(m.name, pick(m.name, m.def)); err != nil {
			return Endpoints{}, err
		}
	}
	return e, nil
}

// parseHostPort checks a mail endpoint: host:port, as a mail client is configured with it
// (no scheme: the protocol decides between STARTTLS and implicit TLS).
func parseHostPort(name, raw string) (string, error) {
	host, port, err := net.SplitHostPort(raw)
	if err != nil || host == "" || strings.Contains(host, "/") {
		return "", fmt.Errorf("read %s: %q is not host:port such as smtp.office365.com:587", name, raw)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("read %s: %q has no valid port (1 to 65535)", name, raw)
	}
	return net.JoinHostPort(host, port), nil
}

// normaliseService checks a service base URL and strips trailing slashes and the given API
// version suffixes, since users paste https://graph.microsoft.com/v1.0 as often as the root.
func normaliseService(name, raw string, versionSuffixes ...string) (string, error) {
	u, err := parseEndpoint(name, raw, true)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(u.String(), "/")
	for _, v := range versionSuffixes {
		s = strings.TrimSuffix(s, v)
	}
	return strings.TrimRight(s, "/"), nil
}

// normaliseAuthority checks the authority host URL and gives it exactly one trailing slash.
func normaliseAuthority(raw string) (string, error) {
	u, err := parseEndpoint(EnvAuthorityHost, raw, false)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(u.String(), "/") + "/", nil
}

// parseEndpoint parses raw as an absolute URL without query or fragment.
func parseEndpoint(name, raw string, allowLoopbackHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("read %s: %q is not an absolute https URL", name, raw)
	}
	if u.Scheme == "http" && !(allowLoopbackHTTP && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("read %s: %q must use https (http is only allowed for loopback addresses)", name, raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("read %s: %q must not have a query or fragment", name, raw)
	}
	return u, nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// GraphScope is the app-only/.default scope of the Graph endpoint.
func (e Endpoints) GraphScope() string { return e.Graph + "/.default" }

// ExchangeScope is the .default scope of the Exchange endpoint.
func (e Endpoints) ExchangeScope() string { return e.Exchange + "/.default" }

// AuthorityHostname is the host name of the authority URL, without port.
func (e Endpoints) AuthorityHostname() string {
	u, err := url.Parse(e.Authority)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// Cloud is the azcore cloud configuration pointing at the authority.
func (e Endpoints) Cloud() cloud.Configuration {
	authority := e.Authority
	if authority == "" {
		authority = DefaultAuthority
	}
	return cloud.Configuration{ActiveDirectoryAuthorityHost: authority}
}

// DisableInstanceDiscovery reports whether credentials must skip MSAL instance discovery: for
// any authority that is not a public Microsoft one, since discovery asks login.microsoftonline.com
// about the host and would reject a private or test authority.
func (e Endpoints) DisableInstanceDiscovery() bool {
	return !IsPublicAuthority(e.AuthorityHostname())
}

// IsPublicAuthority reports whether host is one of Microsoft's own Entra authority hosts (the
// public cloud, US Government and China clouds, and the other hosts MSAL trusts for instance
// discovery). azcore/cloud names three; MSAL's trusted list is the complete one, so it is used.
func IsPublicAuthority(host string) bool {
	switch strings.ToLower(strings.TrimSuffix(host, ".")) {
	case "login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net",
		"login.microsoftonline.us", "login-us.microsoftonline.com", "login.usgovcloudapi.net",
		"login.chinacloudapi.cn", "login.partner.microsoftonline.cn",
		"login.microsoftonline.de",
		"login.sovcloud-identity.fr", "login.sovcloud-identity.de", "login.sovcloud-identity.sg":
		return true
	}
	return false
}
