package graph

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
)

// BenchmarkListApplications measures one SDK call through the whole middleware chain against
// a loopback server, with and without the -v request log.
func BenchmarkListApplications(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"value": []any{application("obj-1", "app-1", "OpenFire")}})
	}))
	defer srv.Close()
	for _, bc := range []struct {
		name string
		log  io.Writer
	}{{"plain", nil}, {"request log", io.Discard}} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := NewClient(Options{BaseURL: srv.URL, Credential: &fixedtoken.Credential{Token: testToken}, Clock: clock.Real{}, RequestLog: bc.log})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Graph.Applications().Get(ctx, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRedactJSON measures redaction of a typical addPassword answer.
func BenchmarkRedactJSON(b *testing.B) {
	body := []byte(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordCredential",` +
		`"customKeyIdentifier":null,"displayName":"OpenFire Mail","endDateTime":"2028-03-01T12:00:00Z","hint":"Qx8",` +
		`"keyId":"6d2a5b1e-0000-4000-8000-00000000abcd","secretText":"Qx8~secret","startDateTime":"2026-03-01T12:00:00Z"}`)
	h := http.Header{"Content-Type": {"application/json"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = redactBody(body, h)
	}
}
