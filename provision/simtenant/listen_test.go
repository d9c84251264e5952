package simtenant

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	auth "github.com/microsoft/kiota-authentication-azure-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// clientForServer builds the SDK client the way provision does from the Env of a Server.
func clientForServer(t *testing.T, s *Server) *msgraphsdk.GraphServiceClient {
	t.Helper()
	env := map[string]string{}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CAPool}}}
	cred, err := azidentity.NewClientSecretCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"],
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: env["AZURE_AUTHORITY_HOST"]}, Transport: httpClient},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	provider, err := auth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{env["PROVISION_GRAPH_ENDPOINT"] + "/.default"}, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(provider, nil, nil, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(env["PROVISION_GRAPH_ENDPOINT"] + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter)
}

func TestListenPersistsStateBetweenRuns(t *testing.T) {
	c := context.Background()
	stateFile := filepath.Join(t.TempDir(), "tenant.json")
	s, err := Listen(c, ListenOptions{StateFile: stateFile})
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(s.Env(), "\n")
	for _, name := range []string{"PROVISION_GRAPH_ENDPOINT=https://127.0.0.1:", "PROVISION_EXCHANGE_ENDPOINT=", "AZURE_AUTHORITY_HOST=",
		"AZURE_TENANT_ID=" + DefaultTenantID, "AZURE_CLIENT_ID=", "AZURE_CLIENT_SECRET=", "SSL_CERT_FILE=" + s.CAFile} {
		if !strings.Contains(env, name) {
			t.Errorf("Env lacks %s", name)
		}
	}
	if _, err := os.Stat(s.CAFile); err != nil || !filepath.IsAbs(s.CAFile) {
		t.Errorf("CA file %q: want an absolute path that exists (%v), since other programs read SSL_CERT_FILE from their own directory", s.CAFile, err)
	}
	a := models.NewApplication()
	a.SetDisplayName(ptr("Persisted"))
	app, err := clientForServer(t, s).Applications().Post(c, a, nil)
	if err != nil {
		t.Fatalf("create through the listener: %v", err)
	}
	info, err := os.Stat(stateFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("state file after a write: %v %v", info, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Listen(c, ListenOptions{StateFile: stateFile})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := clientForServer(t, s2).ApplicationsWithAppId(app.GetAppId()).Get(c, nil)
	if err != nil || deref(got.GetDisplayName()) != "Persisted" {
		t.Fatalf("second run does not see the app: %v %v", got, err)
	}
}
