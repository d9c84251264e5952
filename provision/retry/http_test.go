package retry

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
)

func TestOnStatus(t *testing.T) {
	cases := []struct {
		reason        string
		method        string
		status        int
		hasRetryAfter bool
		want          bool
	}{
		{"a throttled write was not processed", http.MethodPost, 429, false, true},
		{"a 503 with Retry-After is throttling too", http.MethodPost, 503, true, true},
		{"a bare 503 to a POST may follow the write", http.MethodPost, 503, false, false},
		{"a 500 to a POST may follow the write: the caller looks the object up", http.MethodPost, 500, false, false},
		{"a 504 to a POST likewise", http.MethodPost, 504, false, false},
		{"a read is repeated on a 500", http.MethodGet, 500, false, true},
		{"a PATCH sets properties: repeated on a 502", http.MethodPatch, 502, false, true},
		{"a DELETE is repeated on a 504", http.MethodDelete, 504, false, true},
		{"a PUT is repeated on a bare 503", http.MethodPut, 503, false, true},
		{"501 says the server cannot ever do it", http.MethodGet, 501, false, false},
		{"a 404 is not a transport matter", http.MethodGet, 404, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			if got := OnStatus(Idempotent(tc.method), tc.status, tc.hasRetryAfter); got != tc.want {
				t.Errorf("OnStatus(%s, %d, retry-after %v) = %v, want %v", tc.method, tc.status, tc.hasRetryAfter, got, tc.want)
			}
		})
	}
}

func TestOnTransportError(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	cases := []struct {
		reason     string
		idempotent bool
		err        error
		want       bool
	}{
		{"a read whose connection dropped is repeated", true, io.ErrUnexpectedEOF, true},
		{"a write whose connection dropped after sending may have been applied", false, io.ErrUnexpectedEOF, false},
		{"a write that never connected did not reach the server", false, fmt.Errorf("post: %w", dial), true},
		{"an unknown name never reached a server", false, &net.DNSError{Err: "no such host", Name: "graph.invalid"}, true},
		{"a certificate the system does not trust is not fixed by retrying", true, x509.UnknownAuthorityError{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			if got := OnTransportError(tc.idempotent, tc.err); got != tc.want {
				t.Errorf("OnTransportError(%v, %v) = %v, want %v", tc.idempotent, tc.err, got, tc.want)
			}
		})
	}
}
