// Package keyvaultsim is a fake Azure Key Vault that answers the secrets REST API the way the
// azsecrets client drives it, over real HTTP: the bearer challenge on an unauthenticated first
// request, set (a new version each time), get latest or by version, update attributes, paged
// version and secret lists with absolute nextLinks, the required api-version parameter,
// Key Vault's error envelope and switchable throttling and server faults. Tests run the real
// azsecrets client against it; the simulated tenant can mount its Handler next to Graph.
package keyvaultsim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/provisionhq/provision/provision/clock"
)

// Defaults used when Options leave a field empty.
const (
	DefaultAuthorityHost = "https://login.microsoftonline.com"
	DefaultTenantID      = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	DefaultResource      = "https://vault.azure.net"
	// DefaultPageSize is Key Vault's own page size (and the largest maxresults it accepts).
	DefaultPageSize = 25
)

// Limits Key Vault enforces on a secret.
const (
	MaxValueBytes       = 25 * 1024
	MaxTags             = 15
	MaxContentTypeChars = 255
	// RecoveryLevel is what a vault with soft delete (mandatory since 2025) and without purge
	// protection reports for every secret.
	RecoveryLevel   = "Recoverable+Purgeable"
	RecoverableDays = 90
)

// errNotFound says a secret or version does not exist.
var errNotFound = errors.New("secret not found")

// validName is Key Vault's rule for object names: 1–127 letters, digits and dashes.
func validName(name string) bool {
	if name == "" || len(name) > 127 {
		return false
	}
	for _, c := range name {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Options configures a Server. The zero value is a usable public-cloud lookalike.
type Options struct {
	// AuthorityHost and TenantID make the challenge's authorization URI,
	// <AuthorityHost>/<TenantID>; azsecrets takes the tenant from its last path segment.
	AuthorityHost string
	TenantID      string
	// Resource is the token audience the challenge names; azsecrets asks for <Resource>/.default
	// and, unless verification is disabled, requires the vault host to end in ".<resource host>".
	Resource string
	// ScopeChallenge answers with the newer scope="<resource>/.default" form instead of resource=.
	ScopeChallenge bool
	// Verify checks a bearer token; nil accepts any non-empty one. The simulated tenant plugs its
	// authority's verification in here.
	Verify func(token string) error
	// Clock stamps created/updated; default the wall clock.
	Clock clock.Clock
	// PageSize is used when a list request carries no maxresults; default 25. Tests set it
	// small to exercise paging.
	PageSize int
	// State is loaded at start, as saved by (*Server).State.
	State *State
}

// Fault makes the next Count authenticated requests fail with Status (429, 500, 503...).
// RetryAfter goes out as Retry-After in whole seconds, as Key Vault sends it; a sub-second
// value is sent as retry-after-ms too (an extension azcore honours) so tests never wait seconds.
type Fault struct {
	Status     int
	RetryAfter time.Duration
	Count      int
}

// State is the vault's content, for persistence between runs. It holds secret values in the
// clear: it is the fake vault's own storage.
type State struct {
	Secrets []SecretState `json:"secrets"`
}

// SecretState is one secret and its versions, oldest first.
type SecretState struct {
	Name     string    `json:"name"`
	Versions []Version `json:"versions"`
}

// Version is one version of a secret as the vault stores it.
type Version struct {
	Version     string            `json:"version"`
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	NotBefore   *time.Time        `json:"notBefore,omitempty"`
	Expires     *time.Time        `json:"expires,omitempty"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
}

// Server is the fake vault. It is safe for concurrent use.
type Server struct {
	opts Options

	mu       sync.Mutex
	secrets  map[string]*SecretState // by lower-case name: Key Vault names are case-insensitive
	faults   []Fault
	requests int
}

// New returns a Server with opts' defaults filled in and opts.State loaded.
func New(opts Options) *Server {
	if opts.AuthorityHost == "" {
		opts.AuthorityHost = DefaultAuthorityHost
	}
	opts.AuthorityHost = strings.TrimSuffix(opts.AuthorityHost, "/")
	if opts.TenantID == "" {
		opts.TenantID = DefaultTenantID
	}
	if opts.Resource == "" {
		opts.Resource = DefaultResource
	}
	opts.Clock = clock.Or(opts.Clock)
	if opts.PageSize <= 0 || opts.PageSize > DefaultPageSize {
		opts.PageSize = DefaultPageSize
	}
	s := &Server{opts: opts, secrets: map[string]*SecretState{}}
	if opts.State != nil {
		for _, sec := range opts.State.Secrets {
			c := copySecret(sec)
			s.secrets[strings.ToLower(sec.Name)] = &c
		}
	}
	return s
}

// Handler serves the Key Vault data plane for secrets.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// InjectFault queues f; faults apply in the order given, each to Count requests.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Count > 0 {
		s.faults = append(s.faults, f)
	}
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests is how many requests the server has answered, challenges and faults included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Versions returns copies of the versions of the secret name, oldest first (nil if none).
func (s *Server) Versions(name string) []Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[strings.ToLower(name)]
	if !ok {
		return nil
	}
	return copySecret(*sec).Versions
}

// State returns a copy of the vault's content, secrets sorted by name.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Secrets: []SecretState{}}
	for _, sec := range s.secrets {
		st.Secrets = append(st.Secrets, copySecret(*sec))
	}
	sort.Slice(st.Secrets, func(i, j int) bool { return st.Secrets[i].Name < st.Secrets[j].Name })
	return st
}

func copySecret(sec SecretState) SecretState {
	out := SecretState{Name: sec.Name, Versions: make([]Version, len(sec.Versions))}
	for i, v := range sec.Versions {
		if v.Tags != nil {
			tags := make(map[string]string, len(v.Tags))
			for k, t := range v.Tags {
				tags[k] = t
			}
			v.Tags = tags
		}
		if v.NotBefore != nil {
			t := *v.NotBefore
			v.NotBefore = &t
		}
		if v.Expires != nil {
			t := *v.Expires
			v.Expires = &t
		}
		out.Versions[i] = v
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	w.Header().Set("x-ms-request-id", newID())
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, http.StatusBadRequest, "BadParameter", "The request URI does not contain an api-version query parameter.", "")
		return
	}
	if !s.authorized(w, r) {
		return
	}
	if s.fault(w) {
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if parts[0] != "secrets" || len(parts) > 3 {
		writeError(w, http.StatusNotFound, "NotFound", "The requested path "+r.URL.Path+" is not served by this vault.", "")
		return
	}
	switch {
	case len(parts) == 1 && r.Method == http.MethodGet:
		s.listSecrets(w, r)
	case len(parts) == 2 && r.Method == http.MethodPut:
		s.set(w, r, parts[1])
	case len(parts) == 2 && r.Method == http.MethodGet:
		s.get(w, r, parts[1], "")
	case len(parts) == 3 && parts[2] == "versions" && r.Method == http.MethodGet:
		s.listVersions(w, r, parts[1])
	case len(parts) == 3 && r.Method == http.MethodGet:
		s.get(w, r, parts[1], parts[2])
	case len(parts) == 3 && r.Method == http.MethodPatch && parts[2] != "":
		s.update(w, r, parts[1], parts[2])
	default:
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The method "+r.Method+" is not allowed on "+r.URL.Path+".", "")
	}
}

// authorized answers the challenge for a request without an acceptable bearer token. Key Vault
// answers every unauthenticated request with 401 and the authority/resource to get a token for;
// azsecrets sends its first request bare (body removed) precisely to elicit this.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	msg := ""
	switch {
	case !ok || token == "":
		msg = "AKV10000: Request is missing a Bearer or PoP token."
	case s.opts.Verify != nil:
		if err := s.opts.Verify(token); err != nil {
			msg = "AKV10032: Invalid token: " + err.Error()
		}
	}
	if msg == "" {
		return true
	}
	authority := s.opts.AuthorityHost + "/" + s.opts.TenantID
	challenge := fmt.Sprintf(`Bearer authorization="%s", resource="%s"`, authority, s.opts.Resource)
	if s.opts.ScopeChallenge {
		challenge = fmt.Sprintf(`Bearer authorization="%s", scope="%s/.default"`, authority, s.opts.Resource)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, "Unauthorized", msg, "")
	return false
}

func (s *Server) fault(w http.ResponseWriter) bool {
	s.mu.Lock()
	if len(s.faults) == 0 {
		s.mu.Unlock()
		return false
	}
	f := s.faults[0]
	s.faults[0].Count--
	if s.faults[0].Count <= 0 {
		s.faults = s.faults[1:]
	}
	s.mu.Unlock()
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
		if f.RetryAfter < time.Second {
			w.Header().Set("retry-after-ms", strconv.FormatInt(f.RetryAfter.Milliseconds(), 10))
		}
	}
	switch {
	case f.Status == http.StatusTooManyRequests:
		writeError(w, f.Status, "Throttled", "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached", "")
	case f.Status >= 500:
		writeError(w, f.Status, "InternalServerError", "The service encountered an internal error; retry the request.", "")
	default:
		writeError(w, f.Status, http.StatusText(f.Status), "Injected fault.", "")
	}
	return true
}

// setRequest is the body of PUT /secrets/{name}.
type setRequest struct {
	Value       *string            `json:"value"`
	ContentType *string            `json:"contentType"`
	Attributes  *attributes        `json:"attributes"`
	Tags        map[string]*string `json:"tags"`
}

// attributes is Key Vault's SecretAttributes on the wire: times are Unix seconds.
type attributes struct {
	Enabled         *bool   `json:"enabled,omitempty"`
	NotBefore       *int64  `json:"nbf,omitempty"`
	Expires         *int64  `json:"exp,omitempty"`
	Created         *int64  `json:"created,omitempty"`
	Updated         *int64  `json:"updated,omitempty"`
	RecoveryLevel   *string `json:"recoveryLevel,omitempty"`
	RecoverableDays *int    `json:"recoverableDays,omitempty"`
}

// bundle is Key Vault's SecretBundle (value present) or SecretItem (value absent).
type bundle struct {
	Value       *string           `json:"value,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	ID          string            `json:"id"`
	Attributes  attributes        `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
}

func (s *Server) set(w http.ResponseWriter, r *http.Request, name string) {
	if !validName(name) {
		writeError(w, http.StatusBadRequest, "BadParameter", "The request URI contains an invalid name: "+name, "")
		return
	}
	var req setRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "BadParameter", "The request body is not a valid secret set request.", "")
		return
	}
	if req.Value == nil {
		writeError(w, http.StatusBadRequest, "BadParameter", "Property value is required.", "")
		return
	}
	if len(*req.Value) > MaxValueBytes {
		writeError(w, http.StatusBadRequest, "BadParameter", "Secret value exceeds the maximum size of 25600 bytes.", "")
		return
	}
	v, problem := newVersion(req.ContentType, req.Attributes, req.Tags, s.opts.Clock.Now())
	if problem != "" {
		writeError(w, http.StatusBadRequest, "BadParameter", problem, "")
		return
	}
	v.Value = *req.Value
	s.mu.Lock()
	sec, ok := s.secrets[strings.ToLower(name)]
	if !ok {
		sec = &SecretState{Name: name}
		s.secrets[strings.ToLower(name)] = sec
	}
	sec.Versions = append(sec.Versions, v)
	out := toBundle(baseURL(r), sec.Name, v, true)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// newVersion builds a version from a set request, or returns the problem Key Vault would report.
func newVersion(contentType *string, attrs *attributes, tags map[string]*string, now time.Time) (Version, string) {
	now = now.UTC().Truncate(time.Second)
	v := Version{Version: newID(), Enabled: true, Created: now, Updated: now}
	if contentType != nil {
		if len(*contentType) > MaxContentTypeChars {
			return Version{}, "Property contentType exceeds 255 characters."
		}
		v.ContentType = *contentType
	}
	if problem := applyTags(&v, tags); problem != "" {
		return Version{}, problem
	}
	applyAttributes(&v, attrs)
	return v, ""
}

// applyTags replaces v's tags, or returns the problem Key Vault would report.
func applyTags(v *Version, tags map[string]*string) string {
	if tags == nil {
		return ""
	}
	if len(tags) > MaxTags {
		return fmt.Sprintf("A secret may carry at most %d tags.", MaxTags)
	}
	v.Tags = map[string]string{}
	for k, t := range tags {
		if t != nil {
			v.Tags[k] = *t
		}
	}
	return ""
}

func applyAttributes(v *Version, attrs *attributes) {
	if attrs == nil {
		return
	}
	if attrs.Enabled != nil {
		v.Enabled = *attrs.Enabled
	}
	if attrs.NotBefore != nil {
		t := time.Unix(*attrs.NotBefore, 0).UTC()
		v.NotBefore = &t
	}
	if attrs.Expires != nil {
		t := time.Unix(*attrs.Expires, 0).UTC()
		v.Expires = &t
	}
}

// find returns the named version, or the newest one when version is empty.
func (s *Server) find(name, version string) (string, Version, error) {
	sec, ok := s.secrets[strings.ToLower(name)]
	if !ok || len(sec.Versions) == 0 {
		return "", Version{}, errNotFound
	}
	if version == "" {
		return sec.Name, sec.Versions[len(sec.Versions)-1], nil
	}
	for _, v := range sec.Versions {
		if v.Version == strings.ToLower(version) {
			return sec.Name, v, nil
		}
	}
	return "", Version{}, errNotFound
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, name, version string) {
	s.mu.Lock()
	stored, v, err := s.find(name, version)
	s.mu.Unlock()
	if err != nil {
		writeNotFound(w, name, version)
		return
	}
	if !v.Enabled {
		// Key Vault refuses to read a disabled version; exp and nbf are not enforced on get.
		writeError(w, http.StatusForbidden, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
		return
	}
	writeJSON(w, http.StatusOK, toBundle(baseURL(r), stored, v, true))
}

// updateRequest is the body of PATCH /secrets/{name}/{version}.
type updateRequest struct {
	ContentType *string            `json:"contentType"`
	Attributes  *attributes        `json:"attributes"`
	Tags        map[string]*string `json:"tags"`
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, name, version string) {
	var req updateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "BadParameter", "The request body is not a valid secret update request.", "")
		return
	}
	if req.ContentType != nil && len(*req.ContentType) > MaxContentTypeChars {
		writeError(w, http.StatusBadRequest, "BadParameter", "Property contentType exceeds 255 characters.", "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[strings.ToLower(name)]
	if !ok {
		writeNotFound(w, name, version)
		return
	}
	for i := range sec.Versions {
		v := &sec.Versions[i]
		if v.Version != strings.ToLower(version) {
			continue
		}
		if problem := applyTags(v, req.Tags); problem != "" {
			writeError(w, http.StatusBadRequest, "BadParameter", problem, "")
			return
		}
		if req.ContentType != nil {
			v.ContentType = *req.ContentType
		}
		applyAttributes(v, req.Attributes)
		v.Updated = s.opts.Clock.Now().UTC().Truncate(time.Second)
		writeJSON(w, http.StatusOK, toBundle(baseURL(r), sec.Name, *v, false))
		return
	}
	writeNotFound(w, name, version)
}

// listPage is Key Vault's SecretListResult.
type listPage struct {
	Value    []bundle `json:"value"`
	NextLink *string  `json:"nextLink"`
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request, name string) {
	offset, size, ok := s.paging(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	sec, found := s.secrets[strings.ToLower(name)]
	var items []bundle
	if found {
		for _, v := range sec.Versions {
			items = append(items, toBundle(baseURL(r), sec.Name, v, false))
		}
	}
	s.mu.Unlock()
	if !found {
		writeNotFound(w, name, "")
		return
	}
	writePage(w, r, items, offset, size)
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
	offset, size, ok := s.paging(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	var items []bundle
	for _, sec := range s.secrets {
		if len(sec.Versions) == 0 {
			continue
		}
		b := toBundle(baseURL(r), sec.Name, sec.Versions[len(sec.Versions)-1], false)
		b.ID = baseURL(r) + "/secrets/" + sec.Name
		items = append(items, b)
	}
	s.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	writePage(w, r, items, offset, size)
}

// paging reads maxresults (1–25, as Key Vault allows) and the $skiptoken this server issued.
func (s *Server) paging(w http.ResponseWriter, r *http.Request) (offset, size int, ok bool) {
	q := r.URL.Query()
	size = s.opts.PageSize
	if m := q.Get("maxresults"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > DefaultPageSize {
			writeError(w, http.StatusBadRequest, "BadParameter", "maxresults must be between 1 and 25.", "")
			return 0, 0, false
		}
		size = n
	}
	if t := q.Get("$skiptoken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "BadParameter", "The $skiptoken is not valid.", "")
			return 0, 0, false
		}
		offset = n
	}
	return offset, size, true
}

func writePage(w http.ResponseWriter, r *http.Request, items []bundle, offset, size int) {
	page := listPage{Value: []bundle{}}
	if offset < len(items) {
		end := min(offset+size, len(items))
		page.Value = items[offset:end]
		if end < len(items) {
			q := url.Values{}
			q.Set("api-version", r.URL.Query().Get("api-version"))
			q.Set("$skiptoken", strconv.Itoa(end))
			q.Set("maxresults", strconv.Itoa(size))
			next := baseURL(r) + r.URL.Path + "?" + q.Encode()
			page.NextLink = &next
		}
	}
	writeJSON(w, http.StatusOK, page)
}

func toBundle(base, name string, v Version, withValue bool) bundle {
	created, updated := v.Created.Unix(), v.Updated.Unix()
	enabled := v.Enabled
	level, days := RecoveryLevel, RecoverableDays
	b := bundle{
		ContentType: v.ContentType,
		ID:          base + "/secrets/" + name + "/" + v.Version,
		Attributes: attributes{
			Enabled: &enabled, Created: &created, Updated: &updated,
			RecoveryLevel: &level, RecoverableDays: &days,
		},
		Tags: v.Tags,
	}
	if v.NotBefore != nil {
		n := v.NotBefore.Unix()
		b.Attributes.NotBefore = &n
	}
	if v.Expires != nil {
		e := v.Expires.Unix()
		b.Attributes.Expires = &e
	}
	if withValue {
		value := v.Value
		b.Value = &value
	}
	return b
}

// baseURL is the vault URL the client used, which Key Vault echoes in every id and nextLink.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func writeNotFound(w http.ResponseWriter, name, version string) {
	what := name
	if version != "" {
		what = name + "/" + version
	}
	writeError(w, http.StatusNotFound, "SecretNotFound",
		"A secret with (name/id) "+what+" was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.", "")
}

// errorBody is Key Vault's error envelope.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string       `json:"code"`
	Message    string       `json:"message"`
	InnerError *errorDetail `json:"innererror,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, message, inner string) {
	body := errorBody{Error: errorDetail{Code: code, Message: message}}
	if inner != "" {
		body.Error.InnerError = &errorDetail{Code: inner}
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newID is a version id as Key Vault makes them: 32 lower-case hex digits.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
