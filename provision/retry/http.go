package retry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// Idempotent reports whether a request with method may be sent twice with the effect of
// once: GET, HEAD, OPTIONS, PUT, DELETE, and PATCH, since Graph's PATCHes set properties to
// the values sent. POST is not: it creates, or runs an action.
func Idempotent(method string) bool {
	switch strings.ToUpper(method) {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// OnStatus reports whether an answer with status is worth sending the request again for.
// 429 says the request was not processed, and so does a 503 that carries a Retry-After (Graph's
// directory answers throttling that way too, graph.md §2.2): both are repeated whatever the
// request. Other server errors (500, 502, 503, 504) and 408 may come after the work was done,
// so only an idempotent request repeats them.
func OnStatus(idempotent bool, status int, hasRetryAfter bool) bool {
	switch status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusServiceUnavailable:
		return hasRetryAfter || idempotent
	case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return idempotent
	}
	return false
}

// OnTransportError reports whether an attempt that got no answer may be repeated: an
// idempotent request after any failure but a certificate problem (which no retry fixes); any
// other only when the request never left (the connection was not made), since a connection
// that dropped or stalled after the request was sent may have carried it.
func OnTransportError(idempotent bool, err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) {
		return false
	}
	if idempotent {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) || errors.Is(err, syscall.ECONNREFUSED)
}
