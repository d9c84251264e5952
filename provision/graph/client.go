// Package graph builds the real msgraph-sdk-go client provision talks to Microsoft Graph with,
// and the reliability layer every kind of object shares: a retry middleware that replaces the
// SDK's (throttling, server errors and dropped or stalled connections for the requests that may
// be repeated, waiting on an injected clock), per-request deadlines, a redacted request log,
// replication-lag and idempotency classification of errors with a bounded retry helper,
// $batch with per-item retries, readable errors (also for answers that are not Graph's JSON),
// permission-error explanations and a per-object writer lock.
//
// Production and tests build the same client; only the base URL, the transport and the
// credential differ, so the tests exercise the SDK exactly as it runs against Graph.
package graph

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	kiotahttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/deadline"
	"github.com/provisionhq/provision/provision/retry"
)

// APIVersion is the Graph version provision speaks; it is appended to the base URL.
const APIVersion = "/v1.0"

// Options configure a Client.
type Options struct {
	// BaseURL is the Graph endpoint without version, e.g. https://graph.microsoft.com or the
	// simulated tenant's address; the client uses BaseURL+"/v1.0". Empty means
	// credential.DefaultGraph.
	BaseURL string
	// Credential provides the bearer tokens.
	Credential azcore.TokenCredential
	// Scopes are the token scopes; empty means BaseURL+"/.default".
	Scopes []string
	// Transport sends the requests after the middleware; nil means a clone of
	// http.DefaultTransport (system roots, so SSL_CERT_FILE is honoured; proxies from the
	// environment).
	Transport http.RoundTripper
	// Clock is what retries wait on; nil means the wall clock.
	Clock clock.Clock
	// Retry governs the transport-level retries (throttling, server errors, dropped and
	// stalled connections); zero fields take TransportPolicy's.
	Retry retry.Policy
	// Replication governs Client.Retry, the replication-lag retry the engine wraps writes in;
	// zero fields take ReplicationPolicy's.
	Replication retry.Policy
	// Deadline bounds each attempt (time to the response headers, idle time while reading the
	// body) and tells its Waiting callback about answers slow to come.
	Deadline deadline.Options
	// RequestLog, when set, receives one line per request and one per response, with
	// secrets redacted (the -v flag).
	RequestLog io.Writer
}

// Client is a configured Graph client.
type Client struct {
	// Graph is the fluent msgraph-sdk-go client.
	Graph *msgraphsdk.GraphServiceClient
	// Adapter sends requests built elsewhere (page iterators, $batch, raw RequestInformation).
	Adapter *msgraphsdk.GraphRequestAdapter
	// HTTP is the middleware-wrapped HTTP client under the adapter. Requests sent with it get
	// the retries and the request log, but no bearer token.
	HTTP *http.Client
	// BaseURL is the Graph endpoint without version.
	BaseURL string

	clock       clock.Clock
	retry       retry.Policy
	replication retry.Policy
	parseNodes  serialization.ParseNodeFactory
}

// NewClient builds the Graph client: an Azure Identity authentication provider that sends
// tokens to BaseURL's host only (so national clouds and the simulator get tokens, and nothing
// else does; over https, or http on loopback), the SDK's default middleware with its retry
// handler replaced by this package's, and the adapter's base URL set to BaseURL+"/v1.0".
func NewClient(opts Options) (*Client, error) {
	if opts.Credential == nil {
		return nil, errors.New("build graph client: credential is nil")
	}
	base := strings.TrimRight(opts.BaseURL, "/")
	if base == "" {
		base = credential.DefaultGraph
	}
	base = strings.TrimSuffix(base, APIVersion)
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("build graph client: base URL %q is not an absolute http(s) URL", opts.BaseURL)
	}
	opts.Clock = clock.Or(opts.Clock)
	scopes := opts.Scopes
	if len(scopes) == 0 {
		scopes = []string{base + "/.default"}
	}
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(opts.Credential, scopes, []string{u.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("build graph client: authentication provider: %w", err)
	}
	transport := opts.Transport
	if transport == nil {
		transport = defaultTransport()
	}
	transport = opts.Deadline.Wrap(transport, func(r *http.Request) string { return "Graph " + r.Method + " " + r.URL.Path })
	transportPolicy := opts.Retry.Or(TransportPolicy())
	httpClient := &http.Client{
		Transport: kiotahttp.NewCustomTransportWithParentTransport(transport, middleware(opts, transportPolicy)...),
		// The redirect middleware follows redirects; the client itself must not.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// The registry the SDK fills with its JSON, text and form parsers; kept so $batch items
	// are parsed exactly like direct answers.
	parseNodes := serialization.DefaultParseNodeFactoryInstance
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, parseNodes, serialization.DefaultSerializationWriterFactoryInstance, httpClient)
	if err != nil {
		return nil, fmt.Errorf("build graph client: request adapter: %w", err)
	}
	// The service client captures the base URL when it is built, so set it first.
	adapter.SetBaseUrl(base + APIVersion)
	return &Client{
		Graph:       msgraphsdk.NewGraphServiceClient(adapter),
		Adapter:     adapter,
		HTTP:        httpClient,
		BaseURL:     base,
		clock:       opts.Clock,
		retry:       transportPolicy,
		replication: opts.Replication.Or(ReplicationPolicy()),
		parseNodes:  parseNodes,
	}, nil
}

// middleware is the SDK's default chain (msgraph-sdk-go-core's telemetry and URL replacement,
// then kiota's), in a fixed order, with kiota's retry handler replaced by ours and the request
// log innermost so it sees every attempt as it goes on the wire. kiota builds its default list
// from a map, in random order; a fixed order makes behaviour reproducible.
func middleware(opts Options, policy retry.Policy) []kiotahttp.Middleware {
	graphOptions := msgraphsdk.GetDefaultClientOptions()
	chain := []kiotahttp.Middleware{
		msgraphcore.NewGraphTelemetryHandler(&graphOptions),
		kiotahttp.NewUrlReplaceHandler(true, msgraphcore.ReplacementPairs),
		&retryHandler{policy: policy, clock: opts.Clock},
		kiotahttp.NewRedirectHandler(),
		kiotahttp.NewParametersNameDecodingHandler(),
		kiotahttp.NewUserAgentHandler(),
		kiotahttp.NewHeadersInspectionHandler(),
		kiotahttp.NewCompressionHandler(),
	}
	if opts.RequestLog != nil {
		chain = append(chain, newRequestLogger(opts.RequestLog, opts.Clock))
	}
	return chain
}

// defaultTransport clones http.DefaultTransport, which verifies against the system roots
// (SSL_CERT_FILE, SSL_CERT_DIR) and honours proxy variables.
func defaultTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.ForceAttemptHTTP2 = true
	return t
}
