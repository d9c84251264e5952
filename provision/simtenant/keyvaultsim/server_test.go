package keyvaultsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
)

func startTime() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }

// newClient serves sim over TLS and returns the real azsecrets client pointed at it.
func newClient(t *testing.T, sim *Server) (*azsecrets.Client, *fixedtoken.Credential, *httptest.Server) {
	t.Helper()
	ts := httptest.NewTLSServer(sim.Handler())
	t.Cleanup(ts.Close)
	cred := &fixedtoken.Credential{Token: "token-for-tests"}
	client, err := azsecrets.NewClient(ts.URL, cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: ts.Client(),
			Retry:     policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 50 * time.Millisecond},
		},
		// The fake listens on 127.0.0.1, which is not under the challenge's vault.azure.net.
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return client, cred, ts
}

func TestChallengeFlow(t *testing.T) {
	cases := []struct {
		reason string
		opts   Options
		want   policy.TokenRequestOptions
	}{
		{
			reason: "the resource= form names the audience; azsecrets appends /.default",
			opts:   Options{},
			want:   policy.TokenRequestOptions{TenantID: DefaultTenantID, Scopes: []string{"https://vault.azure.net/.default"}},
		},
		{
			reason: "the scope= form is used as is and the tenant comes from the authorization URI",
			opts:   Options{ScopeChallenge: true, TenantID: "11111111-2222-3333-4444-555555555555", AuthorityHost: "https://login.example.test/"},
			want:   policy.TokenRequestOptions{TenantID: "11111111-2222-3333-4444-555555555555", Scopes: []string{"https://vault.azure.net/.default"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			sim := New(tc.opts)
			client, cred, _ := newClient(t, sim)
			if _, err := client.SetSecret(context.Background(), "app-secret", azsecrets.SetSecretParameters{Value: to.Ptr("v1")}, nil); err != nil {
				t.Fatalf("SetSecret: %v", err)
			}
			requests := cred.Requests()
			if len(requests) != 1 {
				t.Fatalf("token requests = %d, want 1", len(requests))
			}
			got := requests[0]
			if diff := cmp.Diff(tc.want.Scopes, got.Scopes); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
			if got.TenantID != tc.want.TenantID {
				t.Errorf("tenant = %q, want %q", got.TenantID, tc.want.TenantID)
			}
			// The bare first request is answered 401, then the authorized retry with the body.
			if got, want := sim.Requests(), 2; got != want {
				t.Errorf("requests = %d, want %d (challenge + authorized)", got, want)
			}
			if got := sim.Versions("app-secret"); len(got) != 1 || got[0].Value != "v1" {
				t.Errorf("stored versions = %+v, want one with value v1 (the body reattached after the challenge)", got)
			}
		})
	}
}

func TestSetGetVersions(t *testing.T) {
	fake := clock.NewFake(startTime())
	sim := New(Options{Clock: fake, PageSize: 2})
	client, _, ts := newClient(t, sim)
	ctx := context.Background()
	exp := startTime().Add(730 * 24 * time.Hour)

	var ids []string
	for i, value := range []string{"first", "second", "third", "fourth", "fifth"} {
		fake.Advance(time.Minute)
		res, err := client.SetSecret(ctx, "OpenFire-Secret", azsecrets.SetSecretParameters{
			Value:            to.Ptr(value),
			ContentType:      to.Ptr("text/plain"),
			SecretAttributes: &azsecrets.SecretAttributes{Expires: &exp},
			Tags:             map[string]*string{"keyId": to.Ptr("k" + value), "managedBy": to.Ptr("provision")},
		}, nil)
		if err != nil {
			t.Fatalf("SetSecret %d: %v", i, err)
		}
		if *res.Value != value {
			t.Errorf("SetSecret returned value %q, want %q", *res.Value, value)
		}
		ids = append(ids, string(*res.ID))
	}
	versions := sim.Versions("openfire-secret")
	if len(versions) != 5 {
		t.Fatalf("versions = %d, want 5 (a new version per set)", len(versions))
	}
	first := versions[0]
	if got, want := ids[0], ts.URL+"/secrets/OpenFire-Secret/"+first.Version; got != want {
		t.Errorf("id = %q, want %q", got, want)
	}
	if len(first.Version) != 32 {
		t.Errorf("version %q is not 32 hex digits", first.Version)
	}

	latest, err := client.GetSecret(ctx, "OpenFire-Secret", "", nil)
	if err != nil {
		t.Fatalf("GetSecret latest: %v", err)
	}
	gotLatest := map[string]any{
		"value": *latest.Value, "contentType": *latest.ContentType, "exp": latest.Attributes.Expires.UTC(),
		"created": latest.Attributes.Created.UTC(), "enabled": *latest.Attributes.Enabled,
		"recoveryLevel": *latest.Attributes.RecoveryLevel, "keyId": *latest.Tags["keyId"], "version": latest.ID.Version(),
	}
	wantLatest := map[string]any{
		"value": "fifth", "contentType": "text/plain", "exp": exp, "created": startTime().Add(5 * time.Minute),
		"enabled": true, "recoveryLevel": RecoveryLevel, "keyId": "kfifth", "version": versions[4].Version,
	}
	if diff := cmp.Diff(wantLatest, gotLatest); diff != "" {
		t.Errorf("latest (-want +got):\n%s", diff)
	}

	old, err := client.GetSecret(ctx, "OpenFire-Secret", first.Version, nil)
	if err != nil {
		t.Fatalf("GetSecret by version: %v", err)
	}
	if *old.Value != "first" {
		t.Errorf("version %s value = %q, want first", first.Version, *old.Value)
	}

	var listed []string
	pages := 0
	pager := client.NewListSecretPropertiesVersionsPager("OpenFire-Secret", nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("versions page: %v", err)
		}
		pages++
		for _, p := range page.Value {
			listed = append(listed, string(*p.ID))
		}
	}
	if diff := cmp.Diff(ids, listed); diff != "" {
		t.Errorf("listed versions (-want +got):\n%s", diff)
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3 with a page size of 2", pages)
	}

	secrets := client.NewListSecretPropertiesPager(nil)
	var names []string
	for secrets.More() {
		page, err := secrets.NextPage(ctx)
		if err != nil {
			t.Fatalf("secrets page: %v", err)
		}
		for _, p := range page.Value {
			names = append(names, p.ID.Name())
		}
	}
	if diff := cmp.Diff([]string{"OpenFire-Secret"}, names); diff != "" {
		t.Errorf("listed secrets (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	sim := New(Options{Verify: func(token string) error {
		if token != "token-for-tests" {
			return errors.New("unknown token")
		}
		return nil
	}})
	client, _, ts := newClient(t, sim)
	ctx := context.Background()
	if _, err := client.SetSecret(ctx, "s", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
		t.Fatalf("SetSecret: %v", err)
	}
	if _, err := client.UpdateSecretProperties(ctx, "s", sim.Versions("s")[0].Version, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)},
	}, nil); err != nil {
		t.Fatalf("UpdateSecretProperties: %v", err)
	}

	cases := []struct {
		reason     string
		call       func() error
		wantStatus int
		wantCode   string
	}{
		{"an unknown secret is SecretNotFound", func() error {
			_, err := client.GetSecret(ctx, "nope", "", nil)
			return err
		}, http.StatusNotFound, "SecretNotFound"},
		{"an unknown version is SecretNotFound", func() error {
			_, err := client.GetSecret(ctx, "s", "0123456789abcdef0123456789abcdef", nil)
			return err
		}, http.StatusNotFound, "SecretNotFound"},
		{"a disabled version cannot be read", func() error {
			_, err := client.GetSecret(ctx, "s", "", nil)
			return err
		}, http.StatusForbidden, "Forbidden"},
		{"a name outside letters, digits and dashes is rejected", func() error {
			_, err := client.SetSecret(ctx, "bad_name", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
			return err
		}, http.StatusBadRequest, "BadParameter"},
		{"a set without value is rejected", func() error {
			_, err := client.SetSecret(ctx, "s", azsecrets.SetSecretParameters{}, nil)
			return err
		}, http.StatusBadRequest, "BadParameter"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			var re *azcore.ResponseError
			if err := tc.call(); !errors.As(err, &re) {
				t.Fatalf("error = %v, want an *azcore.ResponseError", err)
			}
			if re.StatusCode != tc.wantStatus || re.ErrorCode != tc.wantCode {
				t.Errorf("got %d %s, want %d %s", re.StatusCode, re.ErrorCode, tc.wantStatus, tc.wantCode)
			}
		})
	}

	raw := []struct {
		reason     string
		url        string
		auth       string
		wantStatus int
		wantCode   string
	}{
		{"api-version is required", ts.URL + "/secrets/s", "Bearer token-for-tests", http.StatusBadRequest, "BadParameter"},
		{"a token Verify refuses is challenged", ts.URL + "/secrets/s?api-version=2026-04-01", "Bearer forged", http.StatusUnauthorized, "Unauthorized"},
		{"no token is challenged", ts.URL + "/secrets/s?api-version=2026-04-01", "", http.StatusUnauthorized, "Unauthorized"},
	}
	for _, tc := range raw {
		t.Run(tc.reason, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body errorBody
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatalf("decode error body: %v", err)
			}
			if res.StatusCode != tc.wantStatus || body.Error.Code != tc.wantCode || body.Error.Message == "" {
				t.Errorf("got %d %+v, want %d %s with a message", res.StatusCode, body.Error, tc.wantStatus, tc.wantCode)
			}
			if res.StatusCode == http.StatusUnauthorized && res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without a WWW-Authenticate challenge")
			}
		})
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		reason string
		fault  Fault
	}{
		{"429 with Retry-After is retried by azcore", Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Millisecond, Count: 2}},
		{"503 is retried by azcore", Fault{Status: http.StatusServiceUnavailable, Count: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			sim := New(Options{})
			client, _, _ := newClient(t, sim)
			sim.InjectFault(tc.fault)
			if _, err := client.SetSecret(context.Background(), "s", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
				t.Fatalf("SetSecret: %v", err)
			}
			// challenge + faulted tries + the one that succeeds
			if got, want := sim.Requests(), 2+tc.fault.Count; got != want {
				t.Errorf("requests = %d, want %d", got, want)
			}
			if got := len(sim.Versions("s")); got != 1 {
				t.Errorf("versions = %d, want 1 (faulted tries store nothing)", got)
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	sim := New(Options{Clock: clock.NewFake(startTime())})
	client, _, _ := newClient(t, sim)
	ctx := context.Background()
	for _, v := range []string{"a", "b"} {
		if _, err := client.SetSecret(ctx, "s", azsecrets.SetSecretParameters{Value: to.Ptr(v)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(sim.State())
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	again := New(Options{State: &st})
	if diff := cmp.Diff(sim.State(), again.State()); diff != "" {
		t.Errorf("state after a JSON round trip (-want +got):\n%s", diff)
	}
	client2, _, _ := newClient(t, again)
	got, err := client2.GetSecret(ctx, "s", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Value != "b" {
		t.Errorf("latest after reload = %q, want b", *got.Value)
	}
}
