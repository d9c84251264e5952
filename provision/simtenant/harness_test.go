package simtenant

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"
	auth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/provisionhq/provision/provision/clock"
)

// fixture is a simulated tenant served over TLS, with a real Graph SDK client signed in as the
// operator through a real azidentity credential.
type fixture struct {
	t      testing.TB
	tenant *Tenant
	srv    *httptest.Server
	clock  *clock.Fake
	client *msgraphsdk.GraphServiceClient
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	fc := clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	if opts.Clock == nil {
		opts.Clock = fc
	}
	tenant, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(tenant.Handler())
	t.Cleanup(srv.Close)
	f := &fixture{t: t, tenant: tenant, srv: srv, clock: fc}
	tid, cid, secret := tenant.OperatorCredentials()
	f.client = f.clientFor(tid, cid, secret)
	return f
}

// credential is a real azidentity client secret credential against the tenant's authority.
func (f *fixture) credential(tenantID, clientID, secret string) *azidentity.ClientSecretCredential {
	f.t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: policy.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: f.srv.URL + "/"},
			Transport: f.srv.Client(),
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return cred
}

// clientFor builds the real Graph client with its default middleware (retry, redirect,
// compression, parameter decoding) over a transport that trusts the test server.
func (f *fixture) clientFor(tenantID, clientID, secret string) *msgraphsdk.GraphServiceClient {
	f.t.Helper()
	u, _ := url.Parse(f.srv.URL)
	provider, err := auth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
		f.credential(tenantID, clientID, secret), []string{f.srv.URL + "/.default"}, []string{u.Hostname()})
	if err != nil {
		f.t.Fatal(err)
	}
	opts := msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "1.89.0"}
	httpClient := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(f.srv.Client().Transport,
		msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...)}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(provider, nil, nil, httpClient)
	if err != nil {
		f.t.Fatal(err)
	}
	adapter.SetBaseUrl(f.srv.URL + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter)
}

// odataError returns the status, code and message of an SDK error.
func odataError(err error) (int, string, string) {
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return 0, "", ""
	}
	main := oe.GetErrorEscaped()
	return oe.ResponseStatusCode, deref(main.GetCode()), deref(main.GetMessage())
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ptr[T any](v T) *T { return &v }

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func tokenOpts(resource string) policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}}
}

func mustUUID(s string) uuid.UUID { return uuid.MustParse(s) }
