package graph

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Error is a failed Graph answer in readable form. The SDK's ODataError prints only the
// message (and panics when the body had none); Error prints
// "<status> <code>: <message> (request-id …, date …)", which is what a user and Microsoft
// support need.
type Error struct {
	Status          int
	Code            string
	Message         string
	Details         []string // "code: message" of error.details
	RequestID       string
	ClientRequestID string
	Date            string
	// RetryAfter is the Retry-After header of the answer, if any.
	RetryAfter string
	// Attempts is how many times the request was sent when the retry middleware gave up.
	Attempts int

	err error
}

// Error renders the status, code, message and the ids support asks for.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	} else if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, d := range e.Details {
		b.WriteString("; " + d)
	}
	var ids []string
	if e.RequestID != "" {
		ids = append(ids, "request-id "+e.RequestID)
	}
	if e.ClientRequestID != "" {
		ids = append(ids, "client-request-id "+e.ClientRequestID)
	}
	if e.Date != "" {
		ids = append(ids, "date "+e.Date)
	}
	if e.Attempts > 1 {
		ids = append(ids, "gave up after "+strconv.Itoa(e.Attempts)+" attempts")
	}
	if len(ids) > 0 {
		b.WriteString(" (" + strings.Join(ids, ", ") + ")")
	}
	return b.String()
}

// Unwrap returns the SDK error this was built from, if any.
func (e *Error) Unwrap() error { return e.err }

// Wrap turns an SDK error (ODataError, ApiError) into *Error, and a transport failure under
// the SDK's "Get \"https://…\": …" into the *TransportError that names the request; it leaves
// other errors, and errors that already hold an *Error, alone. Call it on what an SDK call
// returned: `if err != nil { return fmt.Errorf("create application: %w", graph.Wrap(err)) }`.
func Wrap(err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	if e, ok := AsError(err); ok {
		return e
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te
	}
	return err
}

// AsError finds the Graph answer behind err: an *Error in its chain, or an ODataError or
// ApiError from the SDK, converted.
func AsError(err error) (*Error, bool) {
	if err == nil {
		return nil, false
	}
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	var odata *odataerrors.ODataError
	if errors.As(err, &odata) {
		out := fromHeaders(odata.ResponseStatusCode, odata.ResponseHeaders, odata)
		if main := odata.GetErrorEscaped(); main != nil {
			out.Code = deref(main.GetCode())
			out.Message = deref(main.GetMessage())
			for _, d := range main.GetDetails() {
				if d == nil {
					continue
				}
				out.Details = append(out.Details, strings.TrimPrefix(deref(d.GetCode())+": "+deref(d.GetMessage()), ": "))
			}
			if inner := main.GetInnerError(); inner != nil {
				out.RequestID = firstNonEmpty(deref(inner.GetRequestId()), out.RequestID)
				out.ClientRequestID = firstNonEmpty(deref(inner.GetClientRequestId()), out.ClientRequestID)
				if d := inner.GetDate(); d != nil {
					out.Date = d.UTC().Format("2006-01-02T15:04:05Z")
				}
			}
		}
		return out, true
	}
	var api *abstractions.ApiError
	if errors.As(err, &api) {
		out := fromHeaders(api.ResponseStatusCode, api.ResponseHeaders, api)
		out.Message = api.Message
		return out, true
	}
	return nil, false
}

// fromHeaders starts an Error from the status and the response headers kiota kept.
func fromHeaders(status int, h *abstractions.ResponseHeaders, cause error) *Error {
	e := &Error{Status: status, err: cause}
	if h == nil {
		return e
	}
	get := func(k string) string {
		if v := h.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	e.RequestID = get("request-id")
	e.ClientRequestID = get("client-request-id")
	e.RetryAfter = get("Retry-After")
	if n, err := strconv.Atoi(get(AttemptsHeader)); err == nil {
		e.Attempts = n
	}
	return e
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// StatusCode is the HTTP status of the Graph answer behind err, or 0 when there was none.
func StatusCode(err error) int {
	if e, ok := AsError(err); ok {
		return e.Status
	}
	return 0
}

// text is the message and details of a Graph error, for substring matching: directory APIs
// answer many different cases with the generic Request_BadRequest code, so the message is the
// only discriminator (graph.md §2.1).
func (e *Error) text() string {
	return e.Message + "\n" + strings.Join(e.Details, "\n")
}

// IsReplicationLag reports whether err is one of the answers Entra gives while an object just
// created is not visible everywhere yet: any 404; a 400 saying a reference is not valid yet;
// the misleading 403 "must in the local tenant" on service principal creation. Callers bound
// the retry (Retry's MaxElapsed), since the 400 and 403 can also be genuine.
func IsReplicationLag(err error) bool {
	e, ok := AsError(err)
	if !ok {
		return false
	}
	switch e.Status {
	case http.StatusNotFound:
		return true
	case http.StatusBadRequest:
		return containsAny(e.text(),
			"does not reference a valid application object",
			"does not exist or one of its queried reference-property objects are not present",
			"Not a valid reference update",
			"cannot be deleted or updated unless disabled first")
	case http.StatusForbidden:
		return containsAny(e.text(), "must in the local tenant")
	}
	return false
}

// IsAlreadyExists reports whether a create failed because the object is already there:
// a duplicate app role assignment or permission grant, or any
// Request_MultipleObjectsWithSameKeyValue conflict. The engine treats it as success and
// reconciles the existing object instead.
func IsAlreadyExists(err error) bool {
	e, ok := AsError(err)
	if !ok {
		return false
	}
	return e.Code == "Request_MultipleObjectsWithSameKeyValue" || containsAny(e.text(),
		"Permission being assigned already exists on the object",
		"Permission entry already exists",
		"EntitlementGrant entry already exists")
}

// IsNotFound reports a 404.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsPasswordNotFound reports that removePassword named a keyId the application does not have
// (as 400 or 404): success for a delete, replication lag right after addPassword.
func IsPasswordNotFound(err error) bool {
	e, ok := AsError(err)
	return ok && strings.Contains(e.text(), "No password credential found with keyId")
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
