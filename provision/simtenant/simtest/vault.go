package simtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/provisionhq/provision/provision/simtenant/keyvaultsim"
)

// ServeVault serves a fake Key Vault over TLS until the test ends. The client it returns
// reaches that server whatever vault host a request names (the server's own address, or a
// real-looking https://name.vault.azure.net as the examples name), so azsecrets sees a
// genuine vault and keeps its challenge-resource check on.
func ServeVault(tb testing.TB, vault *keyvaultsim.Server) (*httptest.Server, *http.Client) {
	tb.Helper()
	srv := httptest.NewTLSServer(vault.Handler())
	tb.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.ServerName = "example.com" // a name the test certificate holds
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	return srv, &http.Client{Transport: tr}
}
