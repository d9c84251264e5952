// Package exchange is a small client for the Exchange Online admin endpoint
// POST {endpoint}/adminapi/beta/{tenantId}/InvokeCommand, the REST transport the
// ExchangeOnlineManagement module itself uses. Microsoft Graph cannot read or write Send-As,
// so provision runs Get-/Add-/Remove-RecipientPermission and Get-Recipient through it.
//
// The endpoint is undocumented (see shared/reference/exchange.md), so the client is
// defensive: it parses the three error encodings seen in the wild into one *Error, explains
// the NUL-byte 403 of a caller without rights, follows the front door's redirects by hand so
// the bearer token survives a change of host, retries throttling and, for the cmdlets that may
// run twice, server errors and dropped or stalled connections, with a bounded backoff on an
// injected clock (package retry), bounds every request with deadlines (package deadline), and
// keeps few requests in flight per tenant.
package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/uuid"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/deadline"
	"github.com/provisionhq/provision/provision/httpbody"
	"github.com/provisionhq/provision/provision/retry"
)

// DefaultMaxConcurrency is the bound on requests in flight when Options.MaxConcurrency is 0.
const DefaultMaxConcurrency = 2

// RetryPolicy is the default of Options.Retry: at most five attempts per call, backoff from
// one second doubling to thirty when the server gives no Retry-After, three minutes in all (a
// longer Retry-After is not waited for).
func RetryPolicy() retry.Policy {
	return retry.Policy{MaxAttempts: 5, BaseDelay: time.Second, MaxDelay: 30 * time.Second, MaxElapsed: 3 * time.Minute, Multiplier: 2}
}

// maxRedirects bounds the hops followed by hand for one request.
const maxRedirects = 5

// clientApplication names provision in X-ClientApplication; the module sends
// "ExoManagementModule", and nobody reports that the value is enforced.
const clientApplication = "provision"

// ErrTruncated reports that the service returned a partial answer with an @odata.nextLink.
// Following the link is known to fail from outside the backend session, so callers must
// narrow the query instead (one mailbox at a time, ResultSize Unlimited).
var ErrTruncated = errors.New("exchange answer truncated: @odata.nextLink returned")

// ErrForeignRows reports that Get-RecipientPermission returned rows of a recipient other
// than the one asked for (the cmdlet lists the whole tenant for an Identity it ignores).
var ErrForeignRows = errors.New("exchange returned permissions of another recipient")

// Options configures a Client.
type Options struct {
	// Endpoint is the Exchange Online base URL (PROVISION_EXCHANGE_ENDPOINT); "" means
	// credential.DefaultExchange. It may carry a path prefix (the simulated tenant serves
	// Exchange under /exchange). Tokens are requested for "<Endpoint>/.default".
	Endpoint string
	// TenantID is the tenant GUID or its initial domain, placed in the URL path. Required.
	TenantID string
	// Credential provides bearer tokens. Required.
	Credential azcore.TokenCredential
	// HTTPClient is copied, never modified; nil means a fresh http.Client. The copy gets a
	// cookie jar (backend affinity), stops Go from following redirects itself, and sends
	// through Deadline.
	HTTPClient *http.Client
	// Clock paces retries; nil means the wall clock.
	Clock clock.Clock
	// MaxConcurrency bounds requests in flight, 1 to 3; 0 means DefaultMaxConcurrency. The
	// service's own per-tenant budget is unpublished and small.
	MaxConcurrency int
	// Retry bounds the retries of one call; zero fields take RetryPolicy's.
	Retry retry.Policy
	// MaxAttempts, when set, replaces Retry.MaxAttempts.
	//
	// Deprecated: set Retry.MaxAttempts.
	MaxAttempts int
	// Deadline bounds each request (time to the response headers, idle time while reading the
	// body) and tells its Waiting callback about answers slow to come.
	Deadline deadline.Options
	// RequestLog, when set, receives one line per HTTP exchange (never a token).
	RequestLog io.Writer
	// OnWarning, when set, receives warnings the client does not consume itself.
	OnWarning func(cmdlet, warning string)
}

// Client runs cmdlets. It is safe for concurrent use; keep one per run so the cookie jar and
// connection-id give the backend affinity that read-your-writes needs.
type Client struct {
	endpoint     *url.URL
	scope        string
	tenant       string
	cred         azcore.TokenCredential
	http         *http.Client
	clock        clock.Clock
	slots        chan struct{}
	retry        retry.Policy
	log          io.Writer
	onWarning    func(cmdlet, warning string)
	connectionID string

	mu         sync.Mutex
	pinned     *url.URL // backend origin a front-door redirect sent us to
	recipients map[string]Recipient
	logMu      sync.Mutex
}

// New validates opts and returns a Client. It does no I/O.
func New(opts Options) (*Client, error) {
	if opts.TenantID == "" {
		return nil, errors.New("create exchange client: tenant id is required")
	}
	if opts.Credential == nil {
		return nil, errors.New("create exchange client: credential is required")
	}
	raw := opts.Endpoint
	if raw == "" {
		raw = credential.DefaultExchange
	}
	ep, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil || ep.Host == "" || (ep.Scheme != "https" && ep.Scheme != "http") {
		return nil, fmt.Errorf("create exchange client: endpoint %q is not an absolute http(s) URL", raw)
	}
	conc := opts.MaxConcurrency
	if conc == 0 {
		conc = DefaultMaxConcurrency
	}
	if conc < 1 || conc > 3 {
		return nil, fmt.Errorf("create exchange client: max concurrency %d is outside 1–3", conc)
	}
	policy := opts.Retry
	if opts.MaxAttempts > 0 {
		policy.MaxAttempts = opts.MaxAttempts
	}
	c := &Client{
		endpoint:     ep,
		scope:        ep.String() + "/.default",
		tenant:       opts.TenantID,
		cred:         opts.Credential,
		clock:        clock.Or(opts.Clock),
		slots:        make(chan struct{}, conc),
		retry:        policy.Or(RetryPolicy()),
		log:          opts.RequestLog,
		onWarning:    opts.OnWarning,
		connectionID: uuid.NewString(),
		recipients:   map[string]Recipient{},
	}
	hc := &http.Client{}
	if opts.HTTPClient != nil {
		copied := *opts.HTTPClient
		hc = &copied
	}
	// A cmdlet that hangs must not hang a run: every request gets deadlines.
	hc.Transport = opts.Deadline.Wrap(hc.Transport, func(r *http.Request) string {
		return "Exchange " + firstNonEmpty(r.Header.Get("X-CmdletName"), r.Method+" "+r.URL.Path)
	})
	if hc.Jar == nil {
		jar, err := cookiejar.New(nil)
		if err != nil {
			return nil, fmt.Errorf("create exchange client: %w", err)
		}
		hc.Jar = jar
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = hc
	return c, nil
}

// Result is the success envelope of InvokeCommand.
type Result struct {
	// Values holds one JSON object per object the cmdlet emitted; absent, null and [] all
	// come back as nil.
	Values []json.RawMessage
	// Warnings are the cmdlet's WARNING: lines (@adminapi.warnings).
	Warnings []string
	// Errors are non-terminating errors (@adminapi.errors), rendered as text.
	Errors []string
}

// Invoke runs one cmdlet with params (never nil on the wire) and routes it with anchor, the
// X-AnchorMailbox value ("UPN:<mailbox>" for mailbox-bound calls). Throttled calls are always
// retried; server errors and dropped or stalled connections, after which the cmdlet may have
// run, only for the cmdlets IdempotentCmdlet lists.
func (c *Client) Invoke(ctx context.Context, cmdlet string, params map[string]any, anchor string) (Result, error) {
	return c.invoke(ctx, call{cmdlet: cmdlet, params: params, anchor: anchor, idempotent: IdempotentCmdlet(cmdlet)})
}

// IdempotentCmdlet reports whether running cmdlet twice has the effect of running it once, so
// that it may be sent again after an answer that came too late or not at all: the reads
// (Get-*), the permission changes (Add-/Remove-RecipientPermission and
// Add-/Remove-MailboxPermission answer "already there" or "not there" the second time) and
// Set-CASMailbox, which sets properties. New-ServicePrincipal and other creates are not: the
// caller looks the object up instead.
func IdempotentCmdlet(cmdlet string) bool {
	name := strings.ToLower(cmdlet)
	if strings.HasPrefix(name, "get-") {
		return true
	}
	switch name {
	case "add-recipientpermission", "remove-recipientpermission",
		"add-mailboxpermission", "remove-mailboxpermission", "set-casmailbox":
		return true
	}
	return false
}

// call is one cmdlet invocation; each call in this package says whether it is idempotent.
type call struct {
	cmdlet     string
	params     map[string]any
	anchor     string
	idempotent bool // safe to repeat after an ambiguous failure (a server error, a lost answer)
}

func (c *Client) invoke(ctx context.Context, cl call) (Result, error) {
	if cl.params == nil {
		cl.params = map[string]any{}
	}
	body, err := json.Marshal(map[string]any{"CmdletInput": map[string]any{"CmdletName": cl.cmdlet, "Parameters": cl.params}})
	if err != nil {
		return Result{}, fmt.Errorf("encode %s parameters: %w", cl.cmdlet, err)
	}
	if cl.anchor == "" {
		cl.anchor = c.systemAnchor()
	}
	var res Result
	attempts := 0
	err = retry.Do(ctx, c.clock, c.retry, func(ctx context.Context) error {
		attempts++
		var err error
		res, err = c.attempt(ctx, cl, body)
		var xerr *Error
		if errors.As(err, &xerr) {
			xerr.Attempts = attempts
		}
		return err
	}, func(err error) bool {
		var xerr *Error
		return errors.As(err, &xerr) && xerr.retryable(cl.idempotent)
	})
	var xerr *Error
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() != nil:
		return Result{}, fmt.Errorf("run %s: %w", cl.cmdlet, err)
	case errors.As(err, &xerr):
		// The last *Error says it all, its attempts included; retry.Do's wrapping adds nothing.
		return Result{}, xerr
	}
	return Result{}, err
}

// attempt sends the request once, following redirects by hand.
func (c *Client) attempt(ctx context.Context, cl call, body []byte) (Result, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("wait for a free exchange slot: %w", ctx.Err())
	}
	defer func() { <-c.slots }()

	target := c.invokeURL()
	for hop := 0; ; hop++ {
		resp, err := c.send(ctx, cl, target, body)
		if err != nil {
			return Result{}, err
		}
		if isRedirect(resp.StatusCode) {
			loc := resp.Header.Get("Location")
			drain(resp)
			next, err := c.redirectTarget(target, loc)
			if err != nil {
				return Result{}, fmt.Errorf("follow %s redirect: %w", cl.cmdlet, err)
			}
			if hop+1 >= maxRedirects {
				return Result{}, fmt.Errorf("follow %s redirect: more than %d hops", cl.cmdlet, maxRedirects)
			}
			c.pin(next)
			target = next
			continue
		}
		defer drain(resp)
		return c.decode(cl.cmdlet, resp)
	}
}

func (c *Client) send(ctx context.Context, cl call, target *url.URL, body []byte) (*http.Response, error) {
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		return nil, fmt.Errorf("get exchange token for %s: %w", c.scope, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build %s request: %w", cl.cmdlet, err)
	}
	h := req.Header
	h.Set("Authorization", "Bearer "+tok.Token)
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Accept", "application/json")
	h.Set("X-ResponseFormat", "json")
	h.Set("X-AnchorMailbox", cl.anchor)
	h.Set("X-CmdletName", cl.cmdlet)
	h.Set("X-ClientApplication", clientApplication)
	h.Set("Prefer", "odata.maxpagesize=1000")
	h.Set("connection-id", c.connectionID)
	requestID := uuid.NewString()
	h.Set("client-request-id", requestID)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.logf("POST %s %s anchor=%s -> %v", redactURL(target), cl.cmdlet, cl.anchor, err)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("send %s: %w", cl.cmdlet, ctx.Err())
		}
		// A dropped or stalled connection is as ambiguous as a 5xx: the cmdlet may have run.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text repeats the whole URL
		}
		msg := "POST " + target.Path + ": " + err.Error()
		var stalled *deadline.Error
		if errors.As(err, &stalled) {
			msg = err.Error() // it names the request already
		}
		return nil, &Error{Status: 0, Cmdlet: cl.cmdlet, Code: "Transport", Message: msg,
			RequestID: requestID, transient: true, cause: err}
	}
	c.logf("POST %s %s anchor=%s -> %d (%s) request-id=%s", redactURL(target), cl.cmdlet, cl.anchor,
		resp.StatusCode, time.Since(start).Round(time.Millisecond), firstNonEmpty(resp.Header.Get("request-id"), requestID))
	return resp, nil
}

// decode turns a final response into a Result or an *Error.
func (c *Client) decode(cmdlet string, resp *http.Response) (Result, error) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return Result{}, &Error{Status: resp.StatusCode, Cmdlet: cmdlet, Code: "Transport",
			Message: "POST " + resp.Request.URL.Path + ": read the answer: " + err.Error(), RequestID: responseRequestID(resp),
			transient: true, cause: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Result{}, parseError(cmdlet, resp, raw, c.clock.Now())
	}
	var env struct {
		Value    []json.RawMessage `json:"value"`
		Warnings []string          `json:"@adminapi.warnings"`
		Errors   []json.RawMessage `json:"@adminapi.errors"`
		NextLink string            `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		if looksThrottled(raw) {
			return Result{}, parseError(cmdlet, resp, raw, c.clock.Now())
		}
		return Result{}, &Error{Status: resp.StatusCode, Cmdlet: cmdlet, Code: "UndecodableResponse",
			Message:   "POST " + resp.Request.URL.Path + " answered with " + httpbody.Describe(resp.Header.Get("Content-Type"), raw),
			RequestID: responseRequestID(resp), transient: true}
	}
	if env.NextLink != "" {
		return Result{}, fmt.Errorf("run %s: %w", cmdlet, ErrTruncated)
	}
	res := Result{Warnings: env.Warnings}
	for _, v := range env.Value {
		if string(v) != "null" {
			res.Values = append(res.Values, v)
		}
	}
	for _, e := range env.Errors {
		var s string
		if json.Unmarshal(e, &s) != nil {
			s = string(e)
		}
		res.Errors = append(res.Errors, s)
	}
	return res, nil
}

func (c *Client) invokeURL() *url.URL {
	c.mu.Lock()
	base := c.endpoint
	if c.pinned != nil {
		base = c.pinned
	}
	c.mu.Unlock()
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + "/adminapi/beta/" + url.PathEscape(c.tenant) + "/InvokeCommand"
	u.RawQuery = ""
	return &u
}

// pin makes later calls go straight to the backend a redirect named, as the module does.
func (c *Client) pin(target *url.URL) {
	base := *target
	idx := strings.Index(base.Path, "/adminapi/")
	if idx < 0 {
		return
	}
	base.Path = base.Path[:idx]
	base.RawQuery = ""
	c.mu.Lock()
	c.pinned = &base
	c.mu.Unlock()
}

// redirectTarget resolves a Location and refuses to carry the token anywhere but the
// endpoint's host or a sibling under the same parent domain (outlook.office365.com may send
// us to a regional *.office365.com backend). Port 446, seen in Location, becomes 443.
func (c *Client) redirectTarget(from *url.URL, location string) (*url.URL, error) {
	if location == "" {
		return nil, errors.New("redirect without a Location header")
	}
	loc, err := from.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("parse Location: %w", err)
	}
	if loc.Port() == "446" {
		loc.Host = net.JoinHostPort(loc.Hostname(), "443")
	}
	if loc.Port() == "443" && loc.Scheme == "https" {
		loc.Host = loc.Hostname()
	}
	if loc.Scheme != c.endpoint.Scheme {
		return nil, fmt.Errorf("refusing to send the token to %s://%s: scheme differs from the endpoint", loc.Scheme, loc.Host)
	}
	if !sameSite(c.endpoint.Hostname(), loc.Hostname()) {
		return nil, fmt.Errorf("refusing to send the token to %s: not under the endpoint's domain", loc.Host)
	}
	return loc, nil
}

func sameSite(endpointHost, host string) bool {
	endpointHost, host = strings.ToLower(endpointHost), strings.ToLower(host)
	if host == endpointHost {
		return true
	}
	if net.ParseIP(endpointHost) != nil {
		return false
	}
	_, parent, ok := strings.Cut(endpointHost, ".")
	return ok && strings.Contains(parent, ".") && strings.HasSuffix(host, "."+parent)
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// systemAnchor routes org-level calls app-only, as the module and CIPP do.
func (c *Client) systemAnchor() string {
	return "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@" + c.tenant
}

// mailboxAnchor routes a call aimed at one mailbox to that mailbox's backend.
func (c *Client) mailboxAnchor(mailbox string) string {
	if strings.Contains(mailbox, "@") {
		return "UPN:" + mailbox
	}
	return c.systemAnchor()
}

func (c *Client) logf(format string, args ...any) {
	if c.log == nil {
		return
	}
	c.logMu.Lock()
	defer c.logMu.Unlock()
	fmt.Fprintf(c.log, "exchange: "+format+"\n", args...)
}

func (c *Client) warn(cmdlet, warning string) {
	if c.onWarning != nil {
		c.onWarning(cmdlet, warning)
	}
}

// redactURL drops the query, the only place a URL could carry something sensitive.
func redactURL(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.User = nil
	return c.String()
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
}

func responseRequestID(resp *http.Response) string {
	return firstNonEmpty(resp.Header.Get("request-id"), resp.Header.Get("x-ms-request-id"), resp.Request.Header.Get("client-request-id"))
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
