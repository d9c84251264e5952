package graph

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/simtenant/authority"
)

const (
	proofTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	proofClient   = "11111111-2222-3333-4444-555555555555"
	proofSP       = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	proofSecret   = "pr00f~secret.value"
	childEnvFlag  = "PROVISION_GRAPH_PROOF_CHILD"
	childTestName = "TestChildCredentialToGraph"
)

// proofWorld is the fake identity platform and a fake Graph, both over TLS; the Graph fake
// accepts a request only with a bearer token the authority issued for the Graph endpoint.
type proofWorld struct {
	auth      *authority.Authority
	authSrv   *httptest.Server
	graphSrv  *httptest.Server
	mu        sync.Mutex
	seenAuth  []string
	seenRoles [][]string
}

func newProofWorld(t *testing.T) *proofWorld {
	t.Helper()
	w := &proofWorld{}
	auth, err := authority.New(authority.Config{
		TenantID: proofTenant,
		Lookup: func(id string) (authority.Client, bool) {
			if id != proofClient {
				return authority.Client{}, false
			}
			return authority.Client{ClientID: proofClient, ObjectID: proofSP,
				CheckSecret: func(s string) bool { return s == proofSecret }}, true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.auth = auth
	w.authSrv = quietTLSServer(t, auth.Handler())
	w.graphSrv = quietTLSServer(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(header, "Bearer ")
		claims, err := auth.Verify(token, w.graphSrv.URL)
		if !ok || err != nil {
			writeJSON(rw, http.StatusUnauthorized, odataError("InvalidAuthenticationToken", "Access token validation failure."))
			return
		}
		w.mu.Lock()
		w.seenAuth = append(w.seenAuth, header)
		w.seenRoles = append(w.seenRoles, []string{claims.AppID, claims.ObjectID, claims.TenantID})
		w.mu.Unlock()
		if r.URL.Path != "/v1.0/applications" {
			writeJSON(rw, http.StatusNotFound, odataError("Request_ResourceNotFound", "no route"))
			return
		}
		writeJSON(rw, http.StatusOK, map[string]any{
			"@odata.context": w.graphSrv.URL + "/v1.0/$metadata#applications",
			"value":          []any{application("obj-1", "app-1", "OpenFire")},
		})
	}))
	return w
}

// quietTLSServer is an httptest TLS server that does not log the handshake failures the
// untrusted-CA case causes on purpose.
func quietTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// env is the environment a user would export to point provision at these servers.
func (w *proofWorld) env() map[string]string {
	return map[string]string{
		credential.EnvAuthorityHost:  w.authSrv.URL,
		credential.EnvGraphEndpoint:  w.graphSrv.URL,
		credential.EnvTenantID:       proofTenant,
		credential.EnvClientID:       proofClient,
		credential.EnvClientSecret:   proofSecret,
		"PROVISION_UNUSED_FOR_PROOF": "",
	}
}

// recordingCredential remembers the tokens (and scopes) its inner credential handed out.
type recordingCredential struct {
	inner  azcore.TokenCredential
	mu     sync.Mutex
	tokens []string
	scopes [][]string
}

func (r *recordingCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := r.inner.GetToken(ctx, opts)
	if err == nil {
		r.mu.Lock()
		r.tokens = append(r.tokens, tok.Token)
		r.scopes = append(r.scopes, opts.Scopes)
		r.mu.Unlock()
	}
	return tok, err
}

// listApplications is what both the in-process test and the child process run: endpoints and
// credential from the environment, the Graph client from them, one call.
func listApplications(ctx context.Context, getenv func(string) string, authTransport policy.Transporter,
	graphTransport http.RoundTripper) (*recordingCredential, []string, error) {
	ep, err := credential.EndpointsFromEnv(getenv)
	if err != nil {
		return nil, nil, err
	}
	cred, err := credential.New(ctx, credential.Options{Method: credential.Env, Endpoints: ep, Getenv: getenv, Transport: authTransport})
	if err != nil {
		return nil, nil, err
	}
	rec := &recordingCredential{inner: cred}
	c, err := NewClient(Options{BaseURL: ep.Graph, Credential: rec, Scopes: []string{ep.GraphScope()}, Transport: graphTransport})
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Graph.Applications().Get(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("list applications: %w", Wrap(err))
	}
	var names []string
	for _, a := range resp.GetValue() {
		names = append(names, *a.GetDisplayName())
	}
	return rec, names, nil
}

func TestCredentialTokenReachesGraph(t *testing.T) {
	w := newProofWorld(t)
	env := w.env()
	rec, names, err := listApplications(context.Background(), func(k string) string { return env[k] },
		w.authSrv.Client(), w.graphSrv.Client().Transport)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"OpenFire"}, names); diff != "" {
		t.Errorf("applications (-want +got):\n%s", diff)
	}
	if len(rec.tokens) != 1 {
		t.Fatalf("the credential handed out %d tokens, want 1", len(rec.tokens))
	}
	if diff := cmp.Diff([][]string{{w.graphSrv.URL + "/.default"}}, rec.scopes); diff != "" {
		t.Errorf("token scopes derived from PROVISION_GRAPH_ENDPOINT (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Bearer " + rec.tokens[0]}, w.seenAuth); diff != "" {
		t.Errorf("Graph must receive exactly the credential's token (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{proofClient, proofSP, proofTenant}}, w.seenRoles); diff != "" {
		t.Errorf("claims seen by Graph (-want +got):\n%s", diff)
	}
}

// TestCredentialToGraphTrustsSSLCertFile runs the same flow in a child process configured only
// by environment variables, with the test CA reachable only through SSL_CERT_FILE: the default
// transports of azidentity and of the Graph client must both honour it.
func TestCredentialToGraphTrustsSSLCertFile(t *testing.T) {
	if os.Getenv(childEnvFlag) != "" {
		t.Skip("in the child process")
	}
	w := newProofWorld(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	var pemBytes []byte
	for _, srv := range []*httptest.Server{w.authSrv, w.graphSrv} {
		pemBytes = append(pemBytes, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})...)
	}
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, reason string
		certFile     string
		wantOK       bool
		wantOutput   string
	}{
		{name: "with SSL_CERT_FILE", reason: "the test CA from SSL_CERT_FILE makes both TLS servers trusted",
			certFile: caFile, wantOK: true, wantOutput: "applications: OpenFire"},
		{name: "without SSL_CERT_FILE", reason: "without it the authority is untrusted, proving the variable did the work",
			certFile: "", wantOK: false, wantOutput: "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^"+childTestName+"$", "-test.v", "-test.count=1")
			cmd.Env = childEnvironment(w.env(), tc.certFile)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if (err == nil) != tc.wantOK {
				t.Fatalf("child err = %v, want ok=%v (%s); output:\n%s", err, tc.wantOK, tc.reason, out.String())
			}
			if !strings.Contains(out.String(), tc.wantOutput) {
				t.Errorf("child output lacks %q (%s):\n%s", tc.wantOutput, tc.reason, out.String())
			}
			if strings.Contains(out.String(), proofSecret) {
				t.Errorf("child output shows the client secret")
			}
		})
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seenAuth) != 1 {
		t.Errorf("Graph accepted %d authenticated requests, want 1 (from the trusted child)", len(w.seenAuth))
	}
}

// childEnvironment is the parent's environment without anything that could point elsewhere,
// plus vars and, when set, SSL_CERT_FILE.
func childEnvironment(vars map[string]string, certFile string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AZURE_") || strings.HasPrefix(k, "PROVISION_") || strings.HasPrefix(k, "SSL_CERT_") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	env = append(env, childEnvFlag+"=1", "SSL_CERT_DIR="+os.DevNull)
	if certFile != "" {
		env = append(env, "SSL_CERT_FILE="+certFile)
	}
	return env
}

// TestChildCredentialToGraph is the child side of TestCredentialToGraphTrustsSSLCertFile; it
// does nothing in a normal run.
func TestChildCredentialToGraph(t *testing.T) {
	if os.Getenv(childEnvFlag) == "" {
		t.Skip("runs only as the child of TestCredentialToGraphTrustsSSLCertFile")
	}
	_, names, err := listApplications(context.Background(), os.Getenv, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("applications: %s\n", strings.Join(names, ", "))
}
