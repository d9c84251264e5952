// Package exchangesim is an in-process fake of the Exchange Online admin endpoint
// POST /adminapi/beta/{tenantId}/InvokeCommand, limited to the cmdlets provision runs: for
// Send-As, Get-RecipientPermission, Add-RecipientPermission, Remove-RecipientPermission and
// Get-Recipient; for app-only mail access, New-/Get-/Remove-ServicePrincipal,
// Add-/Get-/Remove-MailboxPermission, Get-/Set-CASMailbox and Get-TransportConfig. It
// reproduces the wire shapes described in shared/reference/exchange.md and mailbox.md (success
// envelope with @adminapi.warnings, the three error-detail shapes, NUL-byte 403s, plain-text
// concurrency throttling, front-door redirects) so that the real client in provision/exchange
// can be tested over HTTP. The simulated tenant mounts it and supplies the directory and the
// authenticated caller; the fake keeps the ACEs, the service principal pointers and the
// client access settings, and tells the simulated mail listeners (package mailsim) what a
// login depends on (MailboxAccess).
package exchangesim

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/provisionhq/provision/provision/clock"
)

// Recipient is a directory object as Exchange sees it. The simulated tenant builds it from
// its users and groups.
type Recipient struct {
	Identity                  string // what Exchange prints as Identity (often the Name); "" means Name
	Name                      string
	DisplayName               string
	PrimarySmtpAddress        string
	ExternalDirectoryObjectId string // the Entra object id
	RecipientType             string // UserMailbox, MailUser, User, MailUniversalSecurityGroup, ...
	RecipientTypeDetails      string // UserMailbox, SharedMailbox, ...
	Guid                      string // the Exchange object guid
	// UserPrincipalName is optional: Get-RecipientPermission prints a user trustee by UPN, and
	// falls back to PrimarySmtpAddress here when it is empty.
	UserPrincipalName string
}

// Directory finds recipients. identity is whatever a cmdlet parameter received: a UPN, an
// SMTP address, a name or an object id. Implementations must be safe for concurrent use.
type Directory interface {
	FindRecipient(identity string) (Recipient, bool)
}

// Caller is who sent a request, as the simulated tenant established from the bearer token.
type Caller struct {
	Authenticated  bool // a valid token for the Exchange audience
	ManageAsApp    bool // the token carries Exchange.ManageAsApp (app-only) or Exchange.Manage (delegated)
	RecipientAdmin bool // Exchange Recipient Administrator, Exchange Administrator or Global Administrator
	// ExchangeAdmin is Exchange Administrator or Global Administrator: the Organization
	// Management role group, whose Role Management and View-Only Configuration roles the
	// service principal cmdlets and Get-TransportConfig need (mailbox.md §1.13).
	ExchangeAdmin bool
	Name          string // for logs only
}

// Options configures a Server.
type Options struct {
	// Clock paces Faults.Latency; nil means the wall clock.
	Clock clock.Clock
	// Faults are the initial faults; SetFaults changes them later.
	Faults Faults
	// TenantIDs lists the {tenantId} path values accepted (GUID, initial domain, ...).
	// Empty accepts any.
	TenantIDs []string
	// ServerName is the domain controller named in not-found errors.
	ServerName string
}

// ErrorShape selects how a cmdlet error is encoded, one per shape of exchange.md §1.6.
type ErrorShape int

// The error encodings seen from the real service.
const (
	// ShapeExceptionID puts "ExID|Type|text" in details[0].message and the text again in
	// innererror.internalexception (the captured envelope).
	ShapeExceptionID ErrorShape = iota
	// ShapeTypePipe puts "|Type|text" in details[0].message and nothing in innererror.
	ShapeTypePipe
	// ShapeJSONDetail puts a JSON string {"Message","TypeName","InnerError"} in details[0].message.
	ShapeJSONDetail
	// ShapeInnerOnly has no details, only innererror.internalexception.
	ShapeInnerOnly
)

// Faults are switchable misbehaviours. Counted faults (Throttle, ConcurrencyThrottle,
// ServerErrors) apply to the next N requests, in that order, and count down.
type Faults struct {
	// Latency is added to every request through Options.Clock.
	Latency time.Duration
	// Throttle answers the next N requests with 429.
	Throttle int
	// RetryAfter is sent as Retry-After (whole seconds, at least 1) on those 429s; 0 omits it.
	RetryAfter time.Duration
	// ConcurrencyThrottle answers the next N requests with the plain-text
	// "maximum number of concurrent requests" body.
	ConcurrencyThrottle int
	// ConcurrencyStatus is the status of that plain-text answer; 0 means 429. The reference
	// does not say which status carries it, only that clients match the text.
	ConcurrencyStatus int
	// MaxConcurrent > 0 makes requests beyond that many in flight get the plain-text
	// concurrency answer, like the per-tenant budget behind the REST front end.
	MaxConcurrent int
	// ServerErrors answers the next N requests with ServerErrorStatus.
	ServerErrors int
	// ServerErrorStatus is the 5xx used by ServerErrors; 0 means 503.
	ServerErrorStatus int
	// ErrorShape selects the encoding of cmdlet errors.
	ErrorShape ErrorShape
	// NotFoundAs404 answers unknown objects with 404 and error.code "NotFound" instead of 400.
	NotFoundAs404 bool
	// ForbiddenEmptyBody sends an empty 403 body instead of a run of NUL bytes.
	ForbiddenEmptyBody bool
	// ForbiddenDiagnostics, when set, is sent as x-ms-diagnostics on 403 answers.
	ForbiddenDiagnostics string
	// RedirectTo, a base URL such as https://127.0.0.1:4431, makes requests that arrive on
	// any other host answer 302 to the same path and query there (a regional backend).
	RedirectTo string
	// UnknownIdentityListsAll makes Get-RecipientPermission, Get-MailboxPermission and
	// Get-ServicePrincipal with an unknown Identity return every row of the tenant, as the
	// cmdlet documentation warns, instead of an error.
	UnknownIdentityListsAll bool
	// ServicePrincipalLag is how long a pointer New-ServicePrincipal just created stays
	// unknown to Add-MailboxPermission -User ("wasn't found"), as on a backend it has not
	// reached yet (mailbox.md §1.4).
	ServicePrincipalLag time.Duration
	// PrincipalUser selects how Get-MailboxPermission prints a service principal in User;
	// the real form was never captured (mailbox.md §2).
	PrincipalUser PrincipalForm
	// NoBatch makes the $batch route answer 404, as a front door without it would; clients
	// must then fall back to one request a cmdlet.
	NoBatch bool
	// AccessRightsAsString prints Get-MailboxPermission's AccessRights as one
	// comma-separated string ("FullAccess, ReadPermission") instead of an array, the other
	// shape clients have met (mailbox.md §1.5).
	AccessRightsAsString bool
}

// PrincipalForm is a way to print a service principal as the User of a mailbox ACE.
type PrincipalForm int

// The forms a client must recognise as its own service principal.
const (
	PrincipalByObjectID    PrincipalForm = iota // the Entra object id it was registered with
	PrincipalByDisplayName                      // its DisplayName
	PrincipalByAppID                            // its AppId
)

// Stats counts what the server received.
type Stats struct {
	Requests    int            // every request, faulted or not
	ByCmdlet    map[string]int // requests that reached a cmdlet, by canonical name
	MaxInFlight int            // the most requests served at the same time
	Redirects   int
	Batches     int // $batch requests answered; their cmdlets count in ByCmdlet
	Throttled   int // 429s and plain-text throttles
	Faulted     int // 5xx from ServerErrors
}

// Call records one request that reached a cmdlet, for tests that check what the client sent.
type Call struct {
	Cmdlet     string
	Parameters map[string]any
	Anchor     string // X-AnchorMailbox
	Headers    http.Header
	Status     int
}

// Server is the fake endpoint. It is safe for concurrent use.
type Server struct {
	dir   Directory
	clock clock.Clock
	opts  Options

	mu       sync.Mutex
	state    *State
	faults   Faults
	inFlight int
	stats    Stats
	calls    []Call
}

// New returns a server that keeps its Send-As ACEs in state (shared with the caller, which
// persists it; read it through Snapshot while the server runs).
func New(dir Directory, state *State, opts Options) *Server {
	if state == nil {
		state = &State{}
	}
	c := opts.Clock
	c = clock.Or(c)
	if opts.ServerName == "" {
		opts.ServerName = "AM0PR01A002DC03.EURPRD01.PROD.OUTLOOK.COM"
	}
	return &Server{dir: dir, clock: c, opts: opts, state: state, faults: opts.Faults,
		stats: Stats{ByCmdlet: map[string]int{}}}
}

// SetFaults replaces the current faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// Faults returns the current faults, with counted faults as far as they have counted down.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByCmdlet = make(map[string]int, len(s.stats.ByCmdlet))
	for k, v := range s.stats.ByCmdlet {
		st.ByCmdlet[k] = v
	}
	return st
}

// Calls returns the requests that reached a cmdlet, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// ResetStats zeroes the counters and forgets recorded calls.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByCmdlet: map[string]int{}}
	s.calls = nil
}

const concurrencyText = "You have reached the maximum number of concurrent requests per tenant. Please wait and try again"

// ServeInvokeCommand answers one POST .../adminapi/beta/{tenantId}/InvokeCommand from caller.
func (s *Server) ServeInvokeCommand(w http.ResponseWriter, r *http.Request, caller Caller) {
	s.mu.Lock()
	s.inFlight++
	s.stats.Requests++
	if s.inFlight > s.stats.MaxInFlight {
		s.stats.MaxInFlight = s.inFlight
	}
	latency := s.faults.Latency
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	w.Header().Set("request-id", requestID(r))
	if latency > 0 {
		if err := s.clock.Sleep(r.Context(), latency); err != nil {
			return
		}
	}
	if s.redirect(w, r) {
		return
	}
	if s.gatewayFault(w) {
		return
	}
	if !s.tenantAccepted(r.URL.Path) {
		writeODataError(w, http.StatusNotFound, "NotFound", "The tenant in the request URL was not found.", nil)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeODataError(w, http.StatusMethodNotAllowed, "BadRequest", "The HTTP method '"+r.Method+"' is not allowed for InvokeCommand.", nil)
		return
	}
	if !caller.Authenticated || !caller.ManageAsApp {
		// 401 both without a token and without the app role: graph2otel measured 401 until
		// Exchange.ManageAsApp was granted, then 403 until a directory role was added.
		w.Header().Set("WWW-Authenticate", `Bearer client_id="00000002-0000-0ff1-ce00-000000000000", token_types="app_asserted_user_v1 service_asserted_app_v1", error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if !caller.RecipientAdmin {
		s.forbidden(w)
		return
	}
	if isBatchPath(r.URL.Path) {
		s.serveBatch(w, r, caller)
		return
	}
	in, problem := readInput(r)
	if problem != "" {
		writeODataError(w, http.StatusBadRequest, "BadRequest", problem, nil)
		return
	}
	s.serveCmdlet(w, r, in, caller)
}

// serveCmdlet runs one decoded CmdletInput for an authenticated caller and records it.
func (s *Server) serveCmdlet(w http.ResponseWriter, r *http.Request, in input, caller Caller) {
	cmd, ok := lookupCmdlet(in.name)
	if !ok || (cmd.orgAdmin && !caller.ExchangeAdmin) {
		// An unknown or unauthorised cmdlet is answered like a missing role: Exchange RBAC
		// leaves the cmdlets of roles the caller lacks out of its session altogether.
		s.forbidden(w)
		return
	}
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	s.run(rec, r, cmd, in)
	s.mu.Lock()
	s.stats.ByCmdlet[cmd.name]++
	s.calls = append(s.calls, Call{Cmdlet: cmd.name, Parameters: in.params, Anchor: r.Header.Get("X-AnchorMailbox"),
		Headers: redactedHeaders(r.Header), Status: rec.status})
	s.mu.Unlock()
}

// redirect answers 302 to Faults.RedirectTo when the request arrived on another host.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	to := s.faults.RedirectTo
	s.mu.Unlock()
	if to == "" {
		return false
	}
	target, err := url.Parse(to)
	if err != nil || strings.EqualFold(target.Host, r.Host) {
		return false
	}
	s.mu.Lock()
	s.stats.Redirects++
	s.mu.Unlock()
	loc := *target
	loc.Path = strings.TrimSuffix(target.Path, "/") + r.URL.Path
	loc.RawQuery = r.URL.RawQuery
	http.SetCookie(w, &http.Cookie{Name: "X-BackEndCookie", Value: "sim-backend", Path: "/", Secure: true, HttpOnly: true})
	w.Header().Set("Location", loc.String())
	w.WriteHeader(http.StatusFound)
	return true
}

// gatewayFault applies counted faults and the concurrency budget; it reports whether it answered.
func (s *Server) gatewayFault(w http.ResponseWriter) bool {
	s.mu.Lock()
	f := &s.faults
	switch {
	case f.Throttle > 0:
		f.Throttle--
		s.stats.Throttled++
		retry := f.RetryAfter
		s.mu.Unlock()
		if retry > 0 {
			secs := int((retry + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		writeODataError(w, http.StatusTooManyRequests, "TooManyRequests", "The request was throttled. Please retry later.", nil)
		return true
	case f.ConcurrencyThrottle > 0 || (f.MaxConcurrent > 0 && s.inFlight > f.MaxConcurrent):
		if f.ConcurrencyThrottle > 0 {
			f.ConcurrencyThrottle--
		}
		s.stats.Throttled++
		status := f.ConcurrencyStatus
		s.mu.Unlock()
		if status == 0 {
			status = http.StatusTooManyRequests
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, concurrencyText)
		return true
	case f.ServerErrors > 0:
		f.ServerErrors--
		s.stats.Faulted++
		status := f.ServerErrorStatus
		s.mu.Unlock()
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		writeODataError(w, status, "InternalServerError", "The service is temporarily unavailable.", nil)
		return true
	}
	s.mu.Unlock()
	return false
}

func (s *Server) forbidden(w http.ResponseWriter) {
	s.mu.Lock()
	empty, diag := s.faults.ForbiddenEmptyBody, s.faults.ForbiddenDiagnostics
	s.mu.Unlock()
	if diag != "" {
		w.Header().Set("x-ms-diagnostics", diag)
	}
	w.WriteHeader(http.StatusForbidden)
	if !empty {
		_, _ = w.Write(make([]byte, 1024))
	}
}

func (s *Server) tenantAccepted(path string) bool {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// adminapi/{beta|v1.0}/{tenant}/InvokeCommand, or its sibling $batch
	if len(parts) < 4 || parts[0] != "adminapi" || !(strings.EqualFold(parts[len(parts)-1], "InvokeCommand") || isBatchPath(path)) {
		return false
	}
	if len(s.opts.TenantIDs) == 0 {
		return true
	}
	for _, t := range s.opts.TenantIDs {
		if strings.EqualFold(t, parts[2]) {
			return true
		}
	}
	return false
}

// input is a decoded CmdletInput.
type input struct {
	name   string
	params map[string]any
}

// readInput decodes the CmdletInput envelope; a non-empty string is the wire message of a 400.
func readInput(r *http.Request) (input, string) {
	var body io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return input{}, fmt.Sprintf("The request body is not valid gzip: %v", err)
		}
		defer zr.Close()
		body = zr
	}
	raw, err := io.ReadAll(io.LimitReader(body, 1<<20))
	if err != nil {
		return input{}, fmt.Sprintf("The request body could not be read: %v", err)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil {
		return input{}, fmt.Sprintf("The request body is not valid JSON: %v", err)
	}
	ci, ok := lookupFold(env, "CmdletInput")
	if !ok {
		return input{}, "The parameter 'CmdletInput' is missing from the request body."
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(ci, &fields); err != nil || fields == nil {
		return input{}, "The parameter 'CmdletInput' is not a valid Exchange.CmdletInvokeInputType."
	}
	var in input
	if n, ok := lookupFold(fields, "CmdletName"); ok {
		_ = json.Unmarshal(n, &in.name)
	}
	if in.name == "" {
		return input{}, "The property 'CmdletName' of CmdletInput is required."
	}
	in.params = map[string]any{}
	if p, ok := lookupFold(fields, "Parameters"); ok {
		dec := json.NewDecoder(bytes.NewReader(p))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return input{}, "The property 'Parameters' is not a valid Exchange.GenericHashTable."
		}
		if m != nil {
			in.params = m
		}
	}
	return in, ""
}

func lookupFold(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func redactedHeaders(h http.Header) http.Header {
	c := h.Clone()
	if c.Get("Authorization") != "" {
		c.Set("Authorization", "Bearer (redacted)")
	}
	return c
}

func requestID(r *http.Request) string {
	if id := r.Header.Get("client-request-id"); id != "" {
		return id
	}
	return "00000000-0000-0000-0000-000000000000"
}

// recorder remembers the status a cmdlet answered with.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
