package graph

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
)

// testToken is what the tests' fixed-token credential hands out.
const testToken = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"

// epoch is the fake clock's start: a whole second, so HTTP dates round-trip exactly.
func epoch() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// recorder counts requests and remembers them, for handlers written inline in tests.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	Method, Path, Query, Auth, RetryAttempt string
	Body                                    []byte
}

func (r *recorder) add(req *http.Request, body []byte) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, recorded{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery,
		Auth: req.Header.Get("Authorization"), RetryAttempt: req.Header.Get("Retry-Attempt"), Body: body})
	return len(r.requests)
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.requests...)
}

// readBody reads a request body, gunzipping it as the SDK's compression middleware sends it.
func readBody(t *testing.T, r *http.Request) []byte {
	t.Helper()
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Errorf("gunzip request: %v", err)
			return nil
		}
		rd = zr
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Errorf("read request: %v", err)
	}
	return b
}

// writeJSON answers like Graph: JSON with the OData content type.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.Header().Set("request-id", "req-0001")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// odataError is Graph's error envelope.
func odataError(code, message string) map[string]any {
	return map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"innerError": map[string]any{"date": "2026-03-01T12:00:00", "request-id": "9f0c1d2e-0000-4000-8000-000000000001",
			"client-request-id": "9f0c1d2e-0000-4000-8000-000000000002"},
	}}
}

// newTestClient serves handler over plain http on loopback (allowed for tokens) and builds a
// client on a fake clock.
func newTestClient(t *testing.T, handler http.HandlerFunc, opts Options) (*Client, *clock.Fake) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	clk := clock.NewFake(epoch())
	opts.BaseURL = srv.URL
	if opts.Credential == nil {
		opts.Credential = &fixedtoken.Credential{Token: testToken}
	}
	opts.Clock = clk
	c, err := NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c, clk
}

// application is a minimal Graph application body.
func application(id, appID, name string) map[string]any {
	return map[string]any{
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications/$entity",
		"id":             id, "appId": appID, "displayName": name,
	}
}
