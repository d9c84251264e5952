package exchange

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/provisionhq/provision/provision/httpbody"
	"github.com/provisionhq/provision/provision/retry"
)

// Error is a failed InvokeCommand call, whatever encoding the service used for it.
type Error struct {
	// Status is the HTTP status; 0 when no response arrived.
	Status int
	// Cmdlet is the cmdlet that failed.
	Cmdlet string
	// Code is error.code of the OData envelope ("BadRequest", "NotFound", ...), or one of
	// "Forbidden", "Unauthorized", "Throttled", "Transport", "UndecodableResponse" when the
	// body had none.
	Code string
	// Type is the .NET exception type, e.g.
	// Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException; "" if unknown.
	Type string
	// ExceptionID is the Ex…-prefixed error id when the service printed one.
	ExceptionID string
	// Message is the most specific text available: innererror.internalexception.message,
	// else the parsed details[0].message, else error.message.
	Message string
	// RequestID correlates with the service's logs.
	RequestID string
	// Diagnostics is the x-ms-diagnostics header, which carries the RBAC reason of a 403.
	Diagnostics string
	// Attempts is how many times the call was sent.
	Attempts int

	retryAfter    time.Duration
	hasRetryAfter bool
	throttled     bool
	transient     bool  // no usable answer: the connection failed, or the body did not read
	cause         error // the transport failure, when there was one
}

// Unwrap returns the transport failure behind the error, if any (a *deadline.Error for a
// stalled request, a context error).
func (e *Error) Unwrap() error { return e.cause }

// ServerWait is the Retry-After of a throttled answer, so retry.Do waits that long; a zero
// (or past) Retry-After leaves the wait to the backoff, as an absent one does.
func (e *Error) ServerWait(time.Time) (time.Duration, bool) {
	return e.retryAfter, e.retryAfter > 0
}

// Error renders the cmdlet, the message and what identifies the failure.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Cmdlet, e.Message)
	var tags []string
	if e.Type != "" {
		tags = append(tags, e.Type[strings.LastIndex(e.Type, ".")+1:])
	}
	if e.Status != 0 {
		tags = append(tags, fmt.Sprintf("HTTP %d", e.Status))
	}
	if e.Attempts > 1 {
		tags = append(tags, fmt.Sprintf("%d attempts", e.Attempts))
	}
	if e.RequestID != "" {
		tags = append(tags, "request-id "+e.RequestID)
	}
	if len(tags) > 0 {
		b.WriteString(" (" + strings.Join(tags, ", ") + ")")
	}
	return b.String()
}

// retryable reports whether sending the call again is right: throttling means the cmdlet did
// not run; other failures follow retry.OnStatus and retry.OnTransportError (server errors and
// lost answers only for idempotent calls, since the cmdlet may have run).
func (e *Error) retryable(idempotent bool) bool {
	switch {
	case e.throttled:
		return true
	case e.transient && e.cause != nil && e.Status == 0:
		return retry.OnTransportError(idempotent, e.cause)
	case e.transient:
		return idempotent
	}
	return retry.OnStatus(idempotent, e.Status, e.hasRetryAfter)
}

// IsNotFound reports whether err says an object (mailbox, trustee) does not exist.
func IsNotFound(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Status == http.StatusNotFound || strings.EqualFold(e.Code, "NotFound") ||
		strings.HasSuffix(e.Type, "ManagementObjectNotFoundException") {
		return true
	}
	m := strings.ToLower(e.Message)
	return e.Status == http.StatusBadRequest && (strings.Contains(m, "couldn't be found") || strings.Contains(m, "wasn't found"))
}

// IsForbidden reports whether err says the caller lacks a permission or role.
func IsForbidden(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// IsThrottled reports whether err is throttling that outlasted the retries.
func IsThrottled(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.throttled
}

// Messages for bodies that say nothing. The 401/403 progression was measured live:
// 401 without the app role, 403 with the app role but no directory role.
const (
	forbiddenMessage = "the signed-in identity lacks the Exchange.ManageAsApp application permission on " +
		"Office 365 Exchange Online or the Exchange Recipient Administrator (or Exchange Administrator) role; " +
		"a role granted minutes ago needs a fresh token and time to propagate"
	unauthorizedMessage = "the token was rejected: the application needs the Exchange.ManageAsApp application " +
		"permission on Office 365 Exchange Online with admin consent (the Exchange.ManageAsAppV2 look-alike does not work here), " +
		"and the token must be issued for the Exchange endpoint"
	concurrencyPhrase = "maximum number of concurrent requests"
)

// parseError reads every error encoding the service is known to use (exchange.md §1.6).
func parseError(cmdlet string, resp *http.Response, raw []byte, now time.Time) *Error {
	e := &Error{Status: resp.StatusCode, Cmdlet: cmdlet, RequestID: responseRequestID(resp),
		Diagnostics: resp.Header.Get("x-ms-diagnostics"), hasRetryAfter: resp.Header.Get("Retry-After") != ""}
	what := "POST " + resp.Request.URL.Path
	body := bytes.TrimSpace(bytes.Trim(raw, "\x00"))
	switch {
	case looksThrottled(body):
		e.Code, e.throttled = "Throttled", true
		e.Message = strings.TrimSpace(string(body))
	case len(body) == 0 || !json.Valid(body):
		e.fromStatus(what, resp.Header.Get("Content-Type"), body)
	default:
		e.fromEnvelope(what, resp.Header.Get("Content-Type"), body)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		e.throttled = true
	}
	if e.throttled || resp.StatusCode == http.StatusServiceUnavailable {
		// A Retry-After of zero (or a past date) leaves the wait to the backoff, as an absent one does.
		e.retryAfter, _ = retry.ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	if e.Diagnostics != "" && (e.Status == http.StatusForbidden || e.Status == http.StatusUnauthorized) {
		e.Message += " (x-ms-diagnostics: " + e.Diagnostics + ")"
	}
	return e
}

// fromStatus explains a response whose body is empty, NUL bytes or not JSON; what names the
// request ("POST /adminapi/beta/<tenant>/InvokeCommand").
func (e *Error) fromStatus(what, contentType string, body []byte) {
	switch e.Status {
	case http.StatusForbidden:
		e.Code, e.Message = "Forbidden", forbiddenMessage
	case http.StatusUnauthorized:
		e.Code, e.Message = "Unauthorized", unauthorizedMessage
	case http.StatusTooManyRequests:
		e.Code, e.Message = "Throttled", "throttled by Exchange Online"
	default:
		e.Code = http.StatusText(e.Status)
		e.Message = what + " answered " + fmt.Sprint(e.Status) + " with " + httpbody.Describe(contentType, body)
		if len(body) > 0 {
			e.Code = "UndecodableResponse"
		}
	}
}

// fromEnvelope resolves innererror.internalexception → details[0].message → error.message.
func (e *Error) fromEnvelope(what, contentType string, body []byte) {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Message string `json:"message"`
			} `json:"details"`
			InnerError *struct {
				Message  string `json:"message"`
				Type     string `json:"type"`
				Internal *struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"internalexception"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || (env.Error.Code == "" && env.Error.Message == "") {
		e.fromStatus(what, contentType, body)
		return
	}
	e.Code = env.Error.Code
	var detailID, detailType, detailText string
	if len(env.Error.Details) > 0 {
		detailID, detailType, detailText = parseDetail(env.Error.Details[0].Message)
	}
	e.ExceptionID = detailID
	switch {
	case env.Error.InnerError != nil && env.Error.InnerError.Internal != nil && env.Error.InnerError.Internal.Message != "":
		e.Message, e.Type = env.Error.InnerError.Internal.Message, env.Error.InnerError.Internal.Type
	case detailText != "":
		e.Message, e.Type = detailText, detailType
	default:
		e.Message = env.Error.Message
	}
	if e.Type == "" {
		e.Type = detailType
	}
	if e.Message == "" {
		e.fromStatus(what, contentType, nil)
		e.Code = env.Error.Code
	}
	if e.Status == http.StatusForbidden && e.Code == "" {
		e.Code = "Forbidden"
	}
}

// parseDetail splits a details[0].message in one of its three known forms:
// "ExID|Type|text", "|Type|text", or a JSON string {"Message","TypeName","InnerError"}.
func parseDetail(s string) (id, typ, text string) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var j struct {
			Message  string `json:"Message"`
			TypeName string `json:"TypeName"`
		}
		if json.Unmarshal([]byte(s), &j) == nil && j.Message != "" {
			return "", j.TypeName, j.Message
		}
	}
	parts := strings.SplitN(s, "|", 3)
	if len(parts) == 3 && !strings.ContainsAny(parts[1], " \t") {
		return parts[0], parts[1], strings.TrimSpace(parts[2])
	}
	return "", "", s
}

func looksThrottled(body []byte) bool {
	return bytes.Contains(bytes.ToLower(body), []byte(concurrencyPhrase))
}
