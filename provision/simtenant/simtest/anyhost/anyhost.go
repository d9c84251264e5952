// Package anyhost serves a handler over TLS for tests, with a client that reaches the server
// whatever host a URL names. Clients that judge a service by its host name (azsecrets checks a
// vault's challenge resource only under vault.azure.net) then meet a real-looking host. Only
// tests import it; it imports nothing of provision's, so any package's tests can.
package anyhost

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Serve serves h over TLS until the test ends. The client it returns sends every request to
// that server, whether the URL names the server's own address or a host such as
// https://myvault.vault.azure.net, and trusts the server's certificate.
func Serve(tb testing.TB, h http.Handler) (*httptest.Server, *http.Client) {
	tb.Helper()
	srv := httptest.NewTLSServer(h)
	tb.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.ServerName = "example.com" // a name the test certificate holds
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	return srv, &http.Client{Transport: tr}
}
