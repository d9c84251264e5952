// Package simtenant is a simulated Microsoft Entra tenant: an in-process fake of the parts of
// Microsoft Graph v1.0, the identity platform and the Exchange Online admin API that provision
// uses, served over real HTTP. It answers with the status codes, JSON shapes, error bodies,
// paging and eventual-consistency behaviour recorded in the reference, enforces the permissions
// the real service requires, can inject faults, and counts every request so tests and benchmarks
// can state how many round trips a job took.
package simtenant

import (
	"bytes"
	"compress/gzip"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/authority"
)

// Defaults of a new tenant: the seed procedure's tenant.
const (
	DefaultTenantID = "68f7df0e-12c5-46b9-bf29-cc8fbc288f29"
	DefaultDomain   = "office.openfire.pro"
	// DefaultPageSize is small so that every client exercises @odata.nextLink paging.
	DefaultPageSize = 5
	jsonContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
	maxBodyBytes    = 4 << 20
)

// Options configures a simulated tenant.
type Options struct {
	// Domain is the tenant's primary (verified) domain and the UPN suffix of the seeded users
	// and mailboxes; default DefaultDomain.
	Domain string
	// TenantID is the tenant's id; default TenantIDFor(Domain).
	TenantID string
	// PageSize bounds every page of a collection (the service may return fewer items than $top).
	PageSize int
	Clock    clock.Clock // default clock.Real; replication lag and secret expiry are measured on it
	Faults   Faults
	// DuplicateGrantStatus is the status of a duplicate oauth2PermissionGrant: 409 (default) or
	// 400, both observed from the real service over time.
	DuplicateGrantStatus int
	// SigningKey signs the identity platform's tokens; nil generates one (see
	// authority.Config.SigningKey).
	SigningKey *rsa.PrivateKey
}

// Tenant is one simulated tenant. It is safe for concurrent use.
type Tenant struct {
	mu        sync.Mutex
	opts      Options
	clock     clock.Clock
	kinds     *kinds
	dir       *directory
	faults    faultState
	stats     statsState
	verifier  tokenVerifier
	authority *authority.Authority
	exchange  exchangeMount
	hosts     knownHosts
	vaults    vaults
	onWrite   func() // called after each successful write, outside the lock (Listen persists state)
}

// New returns a tenant seeded with the Microsoft Graph and Office 365 Exchange Online service
// principals, the operator identity, users, mailboxes and groups.
func New(opts Options) (*Tenant, error) {
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	opts.Domain = strings.ToLower(opts.Domain)
	if err := checkDomain(opts.Domain); err != nil {
		return nil, fmt.Errorf("new tenant: %w", err)
	}
	if opts.TenantID == "" {
		opts.TenantID = TenantIDFor(opts.Domain)
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	opts.Clock = clock.Or(opts.Clock)
	if opts.DuplicateGrantStatus == 0 {
		opts.DuplicateGrantStatus = http.StatusConflict
	}
	ks, err := loadKinds()
	if err != nil {
		return nil, fmt.Errorf("new tenant: %w", err)
	}
	t := &Tenant{opts: opts, clock: opts.Clock, kinds: ks, dir: newDirectory(opts.TenantID, opts.Domain)}
	t.faults.set(opts.Faults)
	t.stats.reset()
	if err := t.seed(); err != nil {
		return nil, fmt.Errorf("new tenant: %w", err)
	}
	if err := t.mountAuthority(); err != nil {
		return nil, fmt.Errorf("new tenant: %w", err)
	}
	if err := t.mountExchange(); err != nil {
		return nil, fmt.Errorf("new tenant: %w", err)
	}
	return t, nil
}

// TenantIDFor returns the id of the simulated tenant whose primary domain is domain: the seed
// procedure's tenant id for DefaultDomain, else a name-based UUID of the domain, so that one
// domain always gets the same id (and the same seeded object ids, which derive from it).
func TenantIDFor(domain string) string {
	domain = strings.ToLower(domain)
	if domain == DefaultDomain {
		return DefaultTenantID
	}
	return uuid.NewSHA1(uuid.NameSpaceDNS, []byte("simtenant:"+domain)).String()
}

// checkDomain accepts a DNS name of at least two labels, as a verified domain is.
func checkDomain(domain string) error {
	labels := strings.Split(domain, ".")
	ok := len(labels) >= 2 && len(domain) <= 253
	for _, l := range labels {
		ok = ok && l != "" && len(l) <= 63 && !strings.HasPrefix(l, "-") && !strings.HasSuffix(l, "-") &&
			strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
	}
	if !ok {
		return fmt.Errorf("domain %q: want a DNS name such as contoso.onmicrosoft.com", domain)
	}
	return nil
}

// Domain returns the tenant's primary domain.
func (t *Tenant) Domain() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dir.Domain
}

// TenantID returns the tenant's id.
func (t *Tenant) TenantID() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dir.TenantID
}

// request is one Graph operation: a plain HTTP request or one inner request of a $batch.
type request struct {
	method          string
	prefix          string // "/v1.0", or the Exchange admin prefix
	path            string // relative to prefix, starting with '/'
	query           url.Values
	header          http.Header
	body            []byte
	base            string // scheme://host/v1.0 the client used
	now             time.Time
	requestID       string
	clientRequestID string
	pageSize        int
	caller          *caller
}

// Handler serves Graph under /v1.0/ (and the few /beta calls other tools make on every run),
// the identity platform under /{tenant}/ and /common/, the Exchange admin API under
// /exchange/adminapi/beta/{tenant}/InvokeCommand, the Azure Resource Manager metadata document
// at /metadata/endpoints, and Key Vault for requests addressed to a vault's host name. Any other
// request gets Graph's JSON error envelope.
func (t *Tenant) Handler() http.Handler {
	return http.HandlerFunc(t.serveHTTP)
}

func (t *Tenant) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if t.serveKeyVault(w, r) {
		return
	}
	p := r.URL.Path
	switch {
	case p == "/v1.0" || strings.HasPrefix(p, "/v1.0/"):
		t.hosts.add("graph", "https://"+r.Host)
		t.serveGraph(w, r, "/v1.0")
	case p == betaPrefix || strings.HasPrefix(p, betaPrefix+"/"):
		t.hosts.add("graph", "https://"+r.Host)
		t.serveGraph(w, r, betaPrefix)
	case isExchangePath(p):
		t.serveExchange(w, r)
	case p == cloudMetadataPath:
		t.serveCloudMetadata(w, r)
	case t.servesAuthority(r):
		// A token request names its resource by URL: remember this host's Graph and Exchange
		// base URLs so that the token carries the roles for them.
		t.hosts.add("graph", "https://"+r.Host)
		t.hosts.add("exchange", "https://"+r.Host+exchangePrefix)
		t.serveAuthority(w, r)
	default:
		t.serveUnknown(w, r)
	}
}

// serveUnknown answers a request for no route of the tenant as Graph answers an unknown
// version segment: 400 with the JSON error envelope, never a plain-text 404. A path of the
// identity platform's shape says which request the simulated one does not serve.
func (t *Tenant) serveUnknown(w http.ResponseWriter, r *http.Request) {
	rq, _ := t.newRequest(r, "")
	first, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	msg := "Invalid version: " + first
	if strings.HasPrefix(rest, "oauth2/") || strings.Contains(rest, "discovery/") || strings.Contains(rest, ".well-known/") {
		msg = fmt.Sprintf("The simulated identity platform does not serve %s %s.", r.Method, r.URL.Path)
	}
	resp := rq.graphError(http.StatusBadRequest, "BadRequest", msg)
	t.record(rq, resp, false, true)
	writeResponse(w, rq, resp)
}

// newRequest reads an incoming HTTP request into a Graph request, gunzipping the body as the
// SDK's compression middleware sends it.
func (t *Tenant) newRequest(r *http.Request, prefix string) (*request, error) {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	rq := &request{
		method:          r.Method,
		prefix:          prefix,
		path:            strings.TrimPrefix(r.URL.Path, prefix),
		header:          r.Header,
		base:            scheme + "://" + r.Host + prefix,
		now:             t.clock.Now(),
		requestID:       uuid.NewString(),
		clientRequestID: r.Header.Get("client-request-id"),
		pageSize:        t.opts.PageSize,
	}
	if rq.clientRequestID == "" {
		rq.clientRequestID = rq.requestID
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return rq, fmt.Errorf("parse query: %w", err)
	}
	rq.query = q
	var body io.Reader = http.MaxBytesReader(nil, r.Body, maxBodyBytes)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return rq, fmt.Errorf("read gzip body: %w", err)
		}
		defer zr.Close()
		body = zr
	}
	if rq.body, err = io.ReadAll(body); err != nil {
		return rq, fmt.Errorf("read body: %w", err)
	}
	return rq, nil
}

// serveGraph serves one Graph request under prefix, /v1.0 or /beta.
func (t *Tenant) serveGraph(w http.ResponseWriter, r *http.Request, prefix string) {
	rq, err := t.newRequest(r, prefix)
	batch := rq.path == "/$batch"
	if t.outerFaults(w, r, rq) {
		return
	}
	if err != nil {
		resp := rq.badRequest("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		t.record(rq, resp, false, true)
		writeResponse(w, rq, resp)
		return
	}
	c, resp := t.authenticate(rq, t.graphAudiences(r))
	if resp != nil {
		t.record(rq, resp, false, true)
		writeResponse(w, rq, resp)
		return
	}
	rq.caller = c
	if batch {
		resp = t.batch(rq)
		t.record(rq, resp, false, true)
	} else {
		resp = t.operation(rq, true)
	}
	writeResponse(w, rq, resp)
}

// operation runs one Graph operation with its faults, counting it.
func (t *Tenant) operation(rq *request, outer bool) *response {
	if resp := t.operationFault(rq); resp != nil {
		t.record(rq, resp, !outer, outer)
		return resp
	}
	t.mu.Lock()
	t.pickReplica()
	resp := t.dispatch(rq)
	t.mu.Unlock()
	t.record(rq, resp, !outer, outer)
	if rq.method != http.MethodGet && resp.status < 300 && t.onWrite != nil {
		t.onWrite()
	}
	return t.answerFault(rq, resp, outer)
}

func newBody(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

func writeResponse(w http.ResponseWriter, rq *request, resp *response) {
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	h.Set("request-id", rq.requestID)
	h.Set("client-request-id", rq.clientRequestID)
	h.Set("x-ms-resource-unit", "1")
	if resp.body == nil && resp.text != "" {
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "text/plain")
		}
		w.WriteHeader(resp.status)
		_, _ = io.WriteString(w, resp.text)
		return
	}
	if resp.body == nil {
		w.WriteHeader(resp.status)
		return
	}
	h.Set("Content-Type", jsonContentType)
	w.WriteHeader(resp.status)
	_ = json.NewEncoder(w).Encode(resp.body)
}

// decodeBody parses a JSON object body; an empty body is an empty object.
func (rq *request) decodeBody() (map[string]any, *response) {
	if len(bytes.TrimSpace(rq.body)) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(rq.body, &m); err != nil {
		return nil, rq.badRequest("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	return m, nil
}

// decodeEntity reads a create or update body of an entity of kind k: JSON, with only the
// properties the entity type has.
func (rq *request) decodeEntity(k *kind) (map[string]any, *response) {
	body, errResp := rq.decodeBody()
	if errResp != nil {
		return nil, errResp
	}
	if errResp := rq.checkProps(k, body); errResp != nil {
		return nil, errResp
	}
	return body, nil
}

// checkProps refuses properties the entity type does not have, as the service does.
func (rq *request) checkProps(k *kind, body map[string]any) *response {
	for name := range body {
		if strings.HasPrefix(name, "@") || strings.Contains(name, "@odata.") {
			continue
		}
		if _, ok := k.props[strings.ToLower(name)]; !ok {
			if _, beta := rq.betaProperty(k, name); beta {
				continue
			}
			return rq.badRequest(fmt.Sprintf("Property '%s' does not exist on type 'microsoft.graph.%s'.", name, k.typeName))
		}
	}
	return nil
}

// knownHosts remembers the URLs the tenant is reached at, which are also token audiences.
type knownHosts struct {
	mu   sync.Mutex
	urls map[string]map[string]bool // api → URLs
}

func (h *knownHosts) add(api, u string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.urls == nil {
		h.urls = map[string]map[string]bool{}
	}
	if h.urls[api] == nil {
		h.urls[api] = map[string]bool{}
	}
	h.urls[api][u] = true
}

func (h *knownHosts) list(api string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for u := range h.urls[api] {
		out = append(out, u)
	}
	return out
}

// graphAudiences are the audiences a Graph token may carry: the Graph app id, its public
// resource URL, and the URL the client reached this tenant at.
func (t *Tenant) graphAudiences(r *http.Request) []string {
	return []string{graphAppID, graphResourceURL, graphResourceURL + "/", "https://" + r.Host, "https://" + r.Host + "/"}
}
