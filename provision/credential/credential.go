package credential

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/provisionhq/provision/provision/deadline"
)

// Environment variables the credentials read (the azidentity names).
const (
	EnvTenantID            = "AZURE_TENANT_ID"
	EnvClientID            = "AZURE_CLIENT_ID"
	EnvClientSecret        = "AZURE_CLIENT_SECRET"
	EnvCertificatePath     = "AZURE_CLIENT_CERTIFICATE_PATH"
	EnvCertificatePassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	EnvSendCertChain       = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"
	EnvFederatedTokenFile  = "AZURE_FEDERATED_TOKEN_FILE"
)

// managedIdentityProbe bounds the first managed identity request inside the default chain,
// where no managed identity is the common case (a laptop, a CI runner): without it the chain
// would wait for IMDS retries before reaching the Azure CLI.
const managedIdentityProbe = 2 * time.Second

// Options say how to build a credential.
type Options struct {
	// Method is the --auth value; Default builds the chain.
	Method Method
	// Endpoints give the authority host (and so the cloud); the zero value is the public cloud.
	Endpoints Endpoints
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// TenantID overrides AZURE_TENANT_ID (for example from the manifest's tenant).
	TenantID string
	// Transport replaces the HTTP transport of the credentials; nil means an http.Client over
	// a clone of http.DefaultTransport, which trusts the system roots and so honours
	// SSL_CERT_FILE and SSL_CERT_DIR. Either way it sends through Deadline.
	Transport policy.Transporter
	// Deadline bounds each request to the authority (and to a managed identity endpoint) and
	// tells its Waiting callback about answers slow to come.
	Deadline deadline.Options
	// Prompt receives the device code instructions; nil means standard error, so that stdout
	// stays clean for results.
	Prompt io.Writer

	// probe overrides managedIdentityProbe in tests.
	probe time.Duration
}

// Credential is the token credential provision signs in with, plus what is known about it
// before any token is requested.
type Credential struct {
	cred     azcore.TokenCredential
	method   Method
	tenantID string
	clientID string
	// issuedIn is the directory id of the tenant the tokens come from, read from the first
	// token; nil until one came.
	issuedIn atomic.Pointer[string]
}

var _ azcore.TokenCredential = (*Credential)(nil)

// GetToken requests a token; it is safe for concurrent use and caches tokens until shortly
// before they expire (azidentity's behaviour).
//
// A request naming a tenant (opts.TenantID, as Key Vault's challenge does, by directory id)
// is served as one for the credential's own tenant when that is the tenant its tokens come
// from: a credential configured with the tenant's domain (a manifest's tenant:
// contoso.com) would otherwise be refused by azidentity ("isn't configured to acquire tokens
// for tenant …"), though it is the same tenant. The id is learned from the first token, which
// a session always asks for before anything else (it checks the tenant with it).
func (c *Credential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if id := c.issuedIn.Load(); id != nil && opts.TenantID != "" &&
		strings.EqualFold(opts.TenantID, *id) && !strings.EqualFold(opts.TenantID, c.tenantID) {
		opts.TenantID = ""
	}
	tok, err := c.cred.GetToken(ctx, opts)
	if err == nil && opts.TenantID == "" && c.issuedIn.Load() == nil {
		if id, ierr := Identify(tok.Token); ierr == nil && id.TenantID != "" {
			c.issuedIn.CompareAndSwap(nil, &id.TenantID)
		}
	}
	return tok, err
}

// Method is the sign-in method the credential was built for.
func (c *Credential) Method() Method { return c.method }

// TenantID is the tenant the credential signs in to, from Options.TenantID or AZURE_TENANT_ID;
// empty when only a token can tell (Azure CLI, managed identity, device code). Use Identify on
// a token to learn it then.
func (c *Credential) TenantID() string { return c.tenantID }

// ClientID is the client id from AZURE_CLIENT_ID, empty when none was configured.
func (c *Credential) ClientID() string { return c.clientID }

// New builds the credential for opts.Method. Constructors do no I/O: a misconfiguration that
// only a sign-in can reveal is reported by GetToken. An explicit method whose environment
// variables are missing fails here, naming them.
func New(ctx context.Context, opts Options) (*Credential, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build credential: %w", err)
	}
	b := newBuilder(opts)
	var (
		cred azcore.TokenCredential
		err  error
	)
	switch opts.Method {
	case Default:
		cred, err = b.chain()
	case Env:
		cred, err = b.environment()
	case Workload:
		cred, err = b.workload()
	case Managed:
		cred, err = b.managed()
	case CLI:
		cred, err = b.cli()
	case Device:
		cred, err = b.device()
	case Browser:
		cred, err = b.browser()
	default:
		_, err = ParseMethod(string(opts.Method))
	}
	if err != nil {
		return nil, fmt.Errorf("build %s credential: %w", opts.Method, err)
	}
	return &Credential{cred: cred, method: opts.Method, tenantID: b.tenantID, clientID: b.clientID}, nil
}

// builder holds what every constructor shares.
type builder struct {
	opts     Options
	getenv   func(string) string
	tenantID string
	clientID string
	client   azcore.ClientOptions
	noDisc   bool
}

func newBuilder(opts Options) builder {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if opts.Endpoints.Authority == "" {
		opts.Endpoints.Authority = DefaultAuthority
	}
	tenantID := opts.TenantID
	if tenantID == "" {
		tenantID = strings.TrimSpace(getenv(EnvTenantID))
	}
	return builder{
		opts:     opts,
		getenv:   getenv,
		tenantID: tenantID,
		clientID: strings.TrimSpace(getenv(EnvClientID)),
		// Cloud is always set, so azidentity never reads AZURE_AUTHORITY_HOST behind the
		// injected getenv's back.
		client: azcore.ClientOptions{
			Cloud: opts.Endpoints.Cloud(),
			Transport: opts.Deadline.WrapDoer(opts.Transport, func(r *http.Request) string {
				return "sign-in " + r.Method + " " + r.URL.Path
			}),
			Retry: policy.RetryOptions{ShouldRetry: shouldRetry},
		},
		noDisc: opts.Endpoints.DisableInstanceDiscovery(),
	}
}

// missing returns the names whose values are empty.
func missing(pairs ...string) []string {
	var out []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			out = append(out, pairs[i])
		}
	}
	return out
}

// environment is a client secret or certificate credential from AZURE_* variables.
func (b builder) environment() (azcore.TokenCredential, error) {
	secret := b.getenv(EnvClientSecret)
	certPath := b.getenv(EnvCertificatePath)
	if m := missing(EnvTenantID, b.tenantID, EnvClientID, b.clientID); len(m) > 0 || (secret == "" && certPath == "") {
		if secret == "" && certPath == "" {
			m = append(m, EnvClientSecret+" or "+EnvCertificatePath)
		}
		return nil, fmt.Errorf("environment is incomplete: %s not set", strings.Join(m, ", "))
	}
	if secret != "" {
		return azidentity.NewClientSecretCredential(b.tenantID, b.clientID, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: b.client, DisableInstanceDiscovery: b.noDisc,
		})
	}
	data, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", EnvCertificatePath, err)
	}
	var password []byte
	if p := b.getenv(EnvCertificatePassword); p != "" {
		password = []byte(p)
	}
	certs, key, err := azidentity.ParseCertificates(data, password)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", EnvCertificatePath, err)
	}
	sendChain := strings.EqualFold(b.getenv(EnvSendCertChain), "true") || b.getenv(EnvSendCertChain) == "1"
	return azidentity.NewClientCertificateCredential(b.tenantID, b.clientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
		ClientOptions: b.client, DisableInstanceDiscovery: b.noDisc, SendCertificateChain: sendChain,
	})
}

// workload is the federated credential of GitHub Actions and Kubernetes workload identity.
func (b builder) workload() (azcore.TokenCredential, error) {
	file := b.getenv(EnvFederatedTokenFile)
	if m := missing(EnvTenantID, b.tenantID, EnvClientID, b.clientID, EnvFederatedTokenFile, file); len(m) > 0 {
		return nil, fmt.Errorf("workload identity is not configured: %s not set", strings.Join(m, ", "))
	}
	return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions: b.client, ClientID: b.clientID, TenantID: b.tenantID, TokenFilePath: file,
		DisableInstanceDiscovery: b.noDisc,
	})
}

// managed is the host's managed identity; AZURE_CLIENT_ID picks a user-assigned one.
func (b builder) managed() (azcore.TokenCredential, error) {
	// Managed identity keeps azidentity's own retry rules (IMDS answers 404/410 while starting).
	client := b.client
	client.Retry = policy.RetryOptions{}
	o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: client}
	if b.clientID != "" {
		o.ID = azidentity.ClientID(b.clientID)
	}
	return azidentity.NewManagedIdentityCredential(o)
}

// cli uses the Azure CLI's signed-in account.
func (b builder) cli() (azcore.TokenCredential, error) {
	return azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: b.tenantID})
}

// device prints a code to enter at the device login page.
func (b builder) device() (azcore.TokenCredential, error) {
	prompt := b.opts.Prompt
	if prompt == nil {
		prompt = os.Stderr
	}
	return azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{
		ClientOptions: b.client, TenantID: b.tenantID, ClientID: b.clientID, DisableInstanceDiscovery: b.noDisc,
		UserPrompt: func(_ context.Context, m azidentity.DeviceCodeMessage) error {
			_, err := fmt.Fprintln(prompt, m.Message)
			return err
		},
	})
}

// browser opens the system browser on the sign-in page.
func (b builder) browser() (azcore.TokenCredential, error) {
	return azidentity.NewInteractiveBrowserCredential(&azidentity.InteractiveBrowserCredentialOptions{
		ClientOptions: b.client, TenantID: b.tenantID, ClientID: b.clientID, DisableInstanceDiscovery: b.noDisc,
	})
}

// chain is the default: each source that is not configured reports why and lets the next try,
// and the final error lists every reason.
func (b builder) chain() (azcore.TokenCredential, error) {
	var sources []azcore.TokenCredential
	add := func(name string, build func() (azcore.TokenCredential, error)) {
		cred, err := build()
		if err != nil {
			sources = append(sources, unavailable{msg: name + ": " + err.Error()})
			return
		}
		sources = append(sources, cred)
	}
	add("EnvironmentCredential", b.environment)
	add("WorkloadIdentityCredential", b.workload)
	add("ManagedIdentityCredential", func() (azcore.TokenCredential, error) {
		cred, err := b.managed()
		if err != nil {
			return nil, err
		}
		probe := b.opts.probe
		if probe <= 0 {
			probe = managedIdentityProbe
		}
		return &probedManagedIdentity{cred: cred, probe: probe}, nil
	})
	add("AzureCLICredential", b.cli)
	return azidentity.NewChainedTokenCredential(sources, nil)
}

// unavailable is a chain member that was not configured: it lets the chain move on.
type unavailable struct{ msg string }

// GetToken always reports the source as unavailable.
func (u unavailable) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, azidentity.NewCredentialUnavailableError(u.msg)
}

// probedManagedIdentity bounds the first managed identity request, as DefaultAzureCredential
// does: if no endpoint gives an HTTP answer in time, the identity is unavailable and the chain
// moves on; once an endpoint has answered, its errors are returned as they are.
type probedManagedIdentity struct {
	cred     azcore.TokenCredential
	probe    time.Duration
	answered atomic.Bool
}

// GetToken asks the managed identity, bounding the first attempt by the probe time.
func (p *probedManagedIdentity) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if p.answered.Load() {
		return p.cred.GetToken(ctx, opts)
	}
	pctx, cancel := context.WithTimeout(ctx, p.probe)
	defer cancel()
	tok, err := p.cred.GetToken(pctx, opts)
	if err == nil {
		p.answered.Store(true)
		return tok, nil
	}
	var authErr *azidentity.AuthenticationFailedError
	if errors.As(err, &authErr) && authErr.RawResponse != nil {
		p.answered.Store(true)
		return tok, err
	}
	if ctx.Err() != nil {
		return tok, err
	}
	// No HTTP answer (refused, unreachable, timed out): there is no managed identity here.
	return azcore.AccessToken{}, azidentity.NewCredentialUnavailableError(
		"ManagedIdentityCredential: no managed identity endpoint answered: " + err.Error())
}

// shouldRetry is azcore's retry rule (transport errors and 408, 429, 500, 502, 503, 504) except
// that a certificate the system does not trust fails at once: retrying cannot fix it, and the
// default would spend ten seconds before saying so.
func shouldRetry(resp *http.Response, err error) bool {
	if err != nil {
		var certErr *tls.CertificateVerificationError
		var unknownCA x509.UnknownAuthorityError
		var hostErr x509.HostnameError
		return !(errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr))
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
