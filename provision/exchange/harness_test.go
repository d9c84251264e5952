package exchange

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
)

const (
	adminToken   = "tok-admin-5ecr3t" // holds Exchange.ManageAsApp and the recipient admin role
	appRoleToken = "tok-approle-5ecr3t"
	tenantID     = "contoso.onmicrosoft.com"
)

func testDirectory() exchangesim.StaticDirectory {
	return exchangesim.StaticDirectory{
		{Identity: "7d3a4c1e-shared", Name: "7d3a4c1e-shared", DisplayName: "Shared", PrimarySmtpAddress: "shared@contoso.com",
			ExternalDirectoryObjectId: "11111111-1111-1111-1111-111111111111", RecipientType: "UserMailbox", RecipientTypeDetails: "SharedMailbox"},
		{Name: "alice", DisplayName: "Alice", PrimarySmtpAddress: "alice@contoso.com", UserPrincipalName: "alice@contoso.onmicrosoft.com",
			ExternalDirectoryObjectId: "22222222-2222-2222-2222-222222222222", RecipientType: "UserMailbox", RecipientTypeDetails: "UserMailbox"},
		{Name: "bob", DisplayName: "Bob", PrimarySmtpAddress: "bob@contoso.com",
			ExternalDirectoryObjectId: "33333333-3333-3333-3333-333333333333", RecipientType: "UserMailbox", RecipientTypeDetails: "UserMailbox"},
		{Name: "Sales Team", DisplayName: "Sales Team", PrimarySmtpAddress: "sales@contoso.com",
			ExternalDirectoryObjectId: "44444444-4444-4444-4444-444444444444", RecipientType: "MailUniversalSecurityGroup", RecipientTypeDetails: "MailUniversalSecurityGroup"},
	}
}

// mount serves sim over TLS, building the Caller from the bearer token the way the
// simulated tenant does from a verified one.
func mount(t testing.TB, sim *exchangesim.Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c exchangesim.Caller
		switch r.Header.Get("Authorization") {
		case "Bearer " + adminToken:
			c = exchangesim.Caller{Authenticated: true, ManageAsApp: true, RecipientAdmin: true, Name: "app"}
		case "Bearer " + appRoleToken:
			c = exchangesim.Caller{Authenticated: true, ManageAsApp: true, Name: "app"}
		}
		sim.ServeInvokeCommand(w, r, c)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// fixture is a client wired to a simulated endpoint with a fake clock.
type fixture struct {
	sim    *exchangesim.Server
	ts     *httptest.Server
	client *Client
	cred   *fixedtoken.Credential
	clock  *clock.Fake
	log    *bytes.Buffer
	warned []string
}

func newFixture(t testing.TB, faults exchangesim.Faults, tweak func(*Options)) *fixture {
	t.Helper()
	f := &fixture{clock: clock.NewFake(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)), log: &bytes.Buffer{}, cred: &fixedtoken.Credential{Token: adminToken}}
	f.sim = exchangesim.New(testDirectory(), &exchangesim.State{}, exchangesim.Options{Faults: faults, Clock: f.clock, TenantIDs: []string{tenantID}})
	f.ts = mount(t, f.sim)
	var mu sync.Mutex
	opts := Options{Endpoint: f.ts.URL, TenantID: tenantID, Credential: f.cred, HTTPClient: f.ts.Client(),
		Clock: f.clock, RequestLog: f.log, OnWarning: func(cmdlet, w string) {
			mu.Lock()
			defer mu.Unlock()
			f.warned = append(f.warned, cmdlet+": "+w)
		}}
	if tweak != nil {
		tweak(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.client = c
	return f
}

// trustingClient returns an HTTP client that trusts the certificates of every server given.
func trustingClient(servers ...*httptest.Server) *http.Client {
	pool := x509.NewCertPool()
	for _, s := range servers {
		pool.AddCert(s.Certificate())
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func noSecret(t *testing.T, where, text string) {
	t.Helper()
	if strings.Contains(text, "5ecr3t") {
		t.Errorf("%s contains the bearer token: %s", where, text)
	}
}
