package sink

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/deadline"
	"github.com/provisionhq/provision/provision/sensitive"
	"github.com/provisionhq/provision/provision/simtenant/keyvaultsim"
	"github.com/provisionhq/provision/provision/simtenant/simtest/anyhost"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
)

// vaultCredential hands out a fixed token; the fake vault accepts any.
func vaultCredential() *fixedtoken.Credential { return &fixedtoken.Credential{Token: "vault-token"} }

// fastRetry keeps azcore's retries but without its 800 ms base delay.
func fastRetry() policy.RetryOptions {
	return policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 20 * time.Millisecond}
}

// vaultAt serves sim over TLS. With a real-looking vaultURL, azsecrets sees a genuine
// *.vault.azure.net vault and keeps its challenge-resource check on; the client reaches the
// test server whatever host a request names.
func vaultAt(t *testing.T, sim *keyvaultsim.Server, vaultURL string) (string, *http.Client) {
	t.Helper()
	ts, client := anyhost.Serve(t, sim.Handler())
	if vaultURL == "" {
		return ts.URL, ts.Client()
	}
	return vaultURL, client
}

func TestKeyVaultWrite(t *testing.T) {
	cases := []struct {
		reason   string
		vaultURL string // empty: the test server's own https://127.0.0.1:port
	}{
		{"a vault on a non-Azure host (verification of the challenge resource off)", ""},
		{"a vault under vault.azure.net (verification on)", "https://myvault.vault.azure.net"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			sim := keyvaultsim.New(keyvaultsim.Options{})
			vaultURL, client := vaultAt(t, sim, tc.vaultURL)
			cred := vaultCredential()
			kv, err := NewKeyVault(vaultURL, "openfire-client-secret", cred, KeyVaultOptions{Transport: client, Retry: fastRetry()})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			c := testCredential()
			if err := kv.Write(ctx, c); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if diff := cmp.Diff([]string{"https://vault.azure.net/.default"}, cred.Scopes()); diff != "" {
				t.Errorf("token scopes (-want +got):\n%s", diff)
			}

			// Read it back as an application would, through its own azsecrets client.
			reader, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{
				ClientOptions:                        azcore.ClientOptions{Transport: client},
				DisableChallengeResourceVerification: tc.vaultURL == "",
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := reader.GetSecret(ctx, "openfire-client-secret", "", nil)
			if err != nil {
				t.Fatalf("GetSecret: %v", err)
			}
			tags := map[string]string{}
			for k, v := range got.Tags {
				tags[k] = *v
			}
			gotFields := map[string]any{
				"value": *got.Value, "contentType": *got.ContentType, "exp": got.Attributes.Expires.UTC(),
				"enabled": *got.Attributes.Enabled, "tags": tags,
			}
			wantFields := map[string]any{
				"value": testSecret, "contentType": "text/plain", "exp": c.ExpiresAt, "enabled": true,
				"tags": map[string]string{
					"keyId": c.KeyID, "clientId": c.ClientID, "tenantId": c.TenantID,
					"credentialName": "OpenFire Mail", "managedBy": "provision",
				},
			}
			if diff := cmp.Diff(wantFields, gotFields); diff != "" {
				t.Errorf("stored secret (-want +got):\n%s", diff)
			}
			if got, want := got.ID.Version(), sim.Versions("openfire-client-secret")[0].Version; got != want {
				t.Errorf("version = %q, want %q", got, want)
			}

			// A rotation writes a second version; the first stays readable for the overlap.
			next := testCredential()
			next.KeyID = "1d6be7c9-2a4f-4b8e-8f3c-6e5d4c3b2a11"
			next.Secret = sensitive.New("Nw9R~second.value_0123456789abcdefghijkl")
			if err := kv.Write(ctx, next); err != nil {
				t.Fatalf("second Write: %v", err)
			}
			versions := sim.Versions("openfire-client-secret")
			var values []string
			for _, v := range versions {
				values = append(values, v.Value+" "+v.Tags["keyId"])
			}
			if diff := cmp.Diff([]string{testSecret + " " + c.KeyID, next.Secret.Reveal() + " " + next.KeyID}, values); diff != "" {
				t.Errorf("versions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeyVaultRetriesThrottling(t *testing.T) {
	sim := keyvaultsim.New(keyvaultsim.Options{})
	vaultURL, client := vaultAt(t, sim, "")
	kv, err := NewKeyVault(vaultURL, "s", vaultCredential(), KeyVaultOptions{Transport: client, Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	sim.InjectFault(keyvaultsim.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Millisecond, Count: 1})
	if err := kv.Write(context.Background(), testCredential()); err != nil {
		t.Fatalf("Write after one 429: %v", err)
	}
	if got, want := sim.Requests(), 3; got != want {
		t.Errorf("requests = %d, want %d (challenge, 429, success)", got, want)
	}
	if got := len(sim.Versions("s")); got != 1 {
		t.Errorf("versions = %d, want 1", got)
	}
}

func TestKeyVaultErrors(t *testing.T) {
	cases := []struct {
		reason  string
		opts    keyvaultsim.Options
		fault   keyvaultsim.Fault
		wantErr string
	}{
		{
			reason:  "a server error that outlasts the retries is reported briefly",
			fault:   keyvaultsim.Fault{Status: http.StatusInternalServerError, Count: 10},
			wantErr: "set secret s: key vault answered 500 Internal Server Error (InternalServerError): The service encountered an internal error; retry the request.",
		},
		{
			reason:  "a refused token",
			opts:    keyvaultsim.Options{Verify: func(string) error { return errors.New("wrong audience") }},
			wantErr: "set secret s: key vault answered 401 Unauthorized (Unauthorized): AKV10032: Invalid token: wrong audience",
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			sim := keyvaultsim.New(tc.opts)
			vaultURL, client := vaultAt(t, sim, "")
			kv, err := NewKeyVault(vaultURL, "s", vaultCredential(), KeyVaultOptions{Transport: client, Retry: fastRetry()})
			if err != nil {
				t.Fatal(err)
			}
			if tc.fault.Count > 0 {
				sim.InjectFault(tc.fault)
			}
			err = kv.Write(context.Background(), testCredential())
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("error = %v, want %q", err, tc.wantErr)
			}
			var kve *KeyVaultError
			if !errors.As(err, &kve) || kve.StatusCode == 0 {
				t.Errorf("no *KeyVaultError with a status in %v", err)
			}
			var re *azcore.ResponseError
			if errors.As(err, &re) {
				t.Errorf("the raw azcore response, whose request carried the value, is reachable")
			}
		})
	}
}

func TestKeyVaultChallengeFromForeignResource(t *testing.T) {
	// A vault under vault.azure.net whose challenge names another resource must be refused:
	// the token would be for someone else. This is the check kept on for real vault hosts.
	sim := keyvaultsim.New(keyvaultsim.Options{Resource: "https://vault.attacker.example"})
	vaultURL, client := vaultAt(t, sim, "https://myvault.vault.azure.net")
	cred := vaultCredential()
	kv, err := NewKeyVault(vaultURL, "s", cred, KeyVaultOptions{Transport: client, Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	err = kv.Write(context.Background(), testCredential())
	if err == nil || !strings.Contains(err.Error(), "doesn't match the requested domain") {
		t.Fatalf("error = %v, want the challenge resource refused", err)
	}
	if len(cred.Scopes()) != 0 || len(sim.Versions("s")) != 0 {
		t.Errorf("a token was requested (%v) or a version stored (%d)", cred.Scopes(), len(sim.Versions("s")))
	}
}

func TestKeyVaultStalledAnswers(t *testing.T) {
	cases := []struct {
		reason  string
		stalls  int // requests stalled before the vault answers
		wantErr string
	}{
		{"a stalled request is sent again within the vault's retries", 1, ""},
		{"a vault that never answers fails after the deadline, naming the request", 100, "PUT /secrets/s: no answer within 30ms"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			sim := keyvaultsim.New(keyvaultsim.Options{})
			var mu sync.Mutex
			stalls := tc.stalls
			ts, client := anyhost.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				stall := r.Header.Get("Authorization") != "" && stalls > 0
				if stall {
					stalls--
				}
				mu.Unlock()
				if stall {
					_, _ = io.Copy(io.Discard, r.Body)
					<-r.Context().Done()
					return
				}
				sim.Handler().ServeHTTP(w, r)
			}))
			kv, err := NewKeyVault(ts.URL, "s", vaultCredential(), KeyVaultOptions{Transport: client, Retry: fastRetry(),
				Deadline: deadline.Options{HeaderTimeout: 30 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			err = kv.Write(context.Background(), testCredential())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Write: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Write: error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
