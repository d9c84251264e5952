package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/sensitive"
	"github.com/provisionhq/provision/provision/simtenant/keyvaultsim"
)

// testSecret looks like a Graph secretText (40 characters of letters, digits and ~._-).
const testSecret = "Xy8Q~s3cr3t.value_with-chars-0123456789ab"

// TestMain lets the test binary stand in for an exec sink's command: re-run with
// SINK_TEST_HELPER set, it acts as the helper instead of running tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("SINK_TEST_HELPER"); mode != "" {
		os.Exit(helperProcess(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helperProcess is the child an exec sink runs in tests.
func helperProcess(mode string, args []string) int {
	stdin, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read stdin:", err)
		return 2
	}
	switch mode {
	case "record":
		// args[0] is a directory to leave what the child saw in.
		argv, _ := json.Marshal(os.Args)
		env, _ := json.Marshal(os.Environ())
		for name, data := range map[string][]byte{"stdin.json": stdin, "argv.json": argv, "env.json": env} {
			if err := os.WriteFile(filepath.Join(args[0], name), data, 0o600); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
		}
		return 0
	case "echo-fail":
		// A careless script: echoes what it got (the secret included) and fails.
		fmt.Printf("pushing %s\n", stdin)
		fmt.Fprintf(os.Stderr, "error: server refused secret %q\n", testSecret)
		return 3
	case "hang":
		time.Sleep(time.Minute)
		return 0
	}
	return 2
}

func testCredential() Credential {
	return Credential{
		TenantID:    "9188040d-6c67-4c5b-b112-36a304b66dad",
		ClientID:    "3fa1c7e2-0b1d-4b5e-9d1f-6c2a1e8b7d40",
		KeyID:       "0c5ad6b8-1f3e-4a7d-9e2b-5d4c3b2a1f00",
		DisplayName: "OpenFire Mail",
		Secret:      sensitive.New(testSecret),
		Hint:        "Xy8",
		CreatedAt:   time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC),
		ExpiresAt:   time.Date(2028, 11, 21, 21, 0, 0, 0, time.UTC),
	}
}

func TestDocument(t *testing.T) {
	data, err := testCredential().Document()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("document is not JSON: %v\n%s", err, data)
	}
	want := map[string]any{
		"format":        float64(1),
		"tenantId":      "9188040d-6c67-4c5b-b112-36a304b66dad",
		"clientId":      "3fa1c7e2-0b1d-4b5e-9d1f-6c2a1e8b7d40",
		"secret":        testSecret,
		"keyId":         "0c5ad6b8-1f3e-4a7d-9e2b-5d4c3b2a1f00",
		"name":          "OpenFire Mail",
		"hint":          "Xy8",
		"createdAt":     "2026-11-22T21:00:00Z",
		"expiresAt":     "2028-11-21T21:00:00Z",
		"authority":     "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad",
		"tokenEndpoint": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/v2.0/token",
		"scopes": map[string]any{
			"graph": "https://graph.microsoft.com/.default",
			"mail":  "https://outlook.office365.com/.default",
		},
		"mail": map[string]any{
			"smtp": map[string]any{"host": "smtp.office365.com", "port": float64(587), "security": "STARTTLS"},
			"imap": map[string]any{"host": "outlook.office365.com", "port": float64(993), "security": "SSL/TLS"},
			"pop":  map[string]any{"host": "outlook.office365.com", "port": float64(995), "security": "SSL/TLS"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}

	cases := []struct {
		reason string
		change func(*Credential)
		want   string
	}{
		{"no value would overwrite a working secret with nothing", func(c *Credential) { c.Secret = sensitive.String{} }, "no secret value"},
		{"a consumer cannot sign in without tenant and client", func(c *Credential) { c.TenantID, c.ClientID = "", "" }, "no tenant id, client id"},
		{"expiry is what rotation keys on", func(c *Credential) { c.ExpiresAt = time.Time{} }, "no expiry"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			c := testCredential()
			tc.change(&c)
			if _, err := c.Document(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Document() error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCredentialNeverPrints(t *testing.T) {
	c := testCredential()
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []struct{ reason, text string }{
		{"%v", fmt.Sprintf("%v", c)},
		{"%+v", fmt.Sprintf("%+v", c)},
		{"%#v", fmt.Sprintf("%#v", c)},
		{"%v of a pointer", fmt.Sprintf("%v", &c)},
		{"json.Marshal", string(js)},
	} {
		if strings.Contains(out.text, testSecret) {
			t.Errorf("%s leaked the secret: %s", out.reason, out.text)
		}
	}
}

// fakeSink records calls and fails with err when set.
type fakeSink struct {
	name  string
	err   error
	calls int
}

func (f *fakeSink) Describe() string { return f.name }

func (f *fakeSink) Write(context.Context, Credential) error {
	f.calls++
	return f.err
}

func TestWriteAll(t *testing.T) {
	leaky := fmt.Errorf("service said: bad value %q", testSecret)
	cases := []struct {
		reason      string
		sinks       []*fakeSink
		credential  Credential
		wantErr     string
		wantWritten []string
		wantCalls   []int
	}{
		{
			reason:     "every sink is written in order",
			sinks:      []*fakeSink{{name: "a"}, {name: "b"}},
			credential: testCredential(),
			wantCalls:  []int{1, 1},
		},
		{
			reason:      "the first failure stops the rest and is named, the value scrubbed",
			sinks:       []*fakeSink{{name: "a"}, {name: "b", err: leaky}, {name: "c"}},
			credential:  testCredential(),
			wantErr:     `write secret to b: service said: bad value "(sensitive)"`,
			wantWritten: []string{"a"},
			wantCalls:   []int{1, 1, 0},
		},
		{
			reason:     "a credential without value is refused before any sink",
			sinks:      []*fakeSink{{name: "a"}},
			credential: Credential{TenantID: "t", ClientID: "c", ExpiresAt: time.Now()},
			wantErr:    "credential has no secret value",
			wantCalls:  []int{0},
		},
		{
			reason:     "no sink at all is an error, not a silent success",
			credential: testCredential(),
			wantErr:    "no secret sink configured",
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			var sinks []Sink
			for _, s := range tc.sinks {
				sinks = append(sinks, s)
			}
			err := WriteAll(context.Background(), sinks, tc.credential)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.wantErr {
				t.Errorf("error = %q, want %q", gotErr, tc.wantErr)
			}
			var we *WriteError
			if errors.As(err, &we) {
				if diff := cmp.Diff(tc.wantWritten, we.Written); diff != "" {
					t.Errorf("written before the failure (-want +got):\n%s", diff)
				}
			}
			var calls []int
			for _, s := range tc.sinks {
				calls = append(calls, s.calls)
			}
			if diff := cmp.Diff(tc.wantCalls, calls); diff != "" {
				t.Errorf("calls per sink (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteAllKeepsContextErrors(t *testing.T) {
	cause := fmt.Errorf("post %s: %w", testSecret, context.DeadlineExceeded)
	err := WriteAll(context.Background(), []Sink{&fakeSink{name: "a", err: cause}}, testCredential())
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("error leaked the secret: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, DeadlineExceeded) = false after scrubbing", err)
	}
}

func TestTrimPartial(t *testing.T) {
	if got := trimPartial("output cut at Xy8Q~s3c", sensitive.New(testSecret)); got != "output cut at (sensitive)" {
		t.Errorf("trimPartial left %q", got)
	}
}

func TestFromStore(t *testing.T) {
	inActions := func(dir string) func(string) string {
		return func(k string) string {
			return map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": filepath.Join(dir, "out")}[k]
		}
	}
	dir := t.TempDir()
	cases := []struct {
		reason  string
		store   manifests.SecretStore
		deps    Deps
		want    []string
		wantErr string
	}{
		{
			reason: "every sink, in write order: vault, file, exec, GitHub output",
			store: manifests.SecretStore{
				File:         "./openfire-credentials.json",
				KeyVault:     &manifests.KeyVaultSecret{URL: "https://myvault.vault.azure.net", Name: "openfire-client-secret"},
				Exec:         []string{"./push-to-openfire.sh", "--host", "chat example"},
				GitHubOutput: true,
			},
			deps: Deps{KeyVaultCredential: vaultCredential(), Getenv: inActions(dir), Stdout: io.Discard},
			want: []string{
				"key vault https://myvault.vault.azure.net secret openfire-client-secret",
				"file ./openfire-credentials.json",
				`exec ./push-to-openfire.sh --host "chat example"`,
				"GitHub Actions step output",
			},
		},
		{
			reason:  "a store with no sink would deliver the secret nowhere",
			store:   manifests.SecretStore{},
			wantErr: "no secret sink configured",
		},
		{
			reason:  "a vault needs a credential",
			store:   manifests.SecretStore{KeyVault: &manifests.KeyVaultSecret{URL: "https://v.vault.azure.net", Name: "s"}},
			wantErr: "key vault sink needs a credential",
		},
		{
			reason:  "a vault URL must be https",
			store:   manifests.SecretStore{KeyVault: &manifests.KeyVaultSecret{URL: "http://v.vault.azure.net", Name: "s"}},
			deps:    Deps{KeyVaultCredential: vaultCredential()},
			wantErr: `key vault url "http://v.vault.azure.net": want https://<vault>.vault.azure.net`,
		},
		{
			reason:  "a vault secret name is letters, digits and dashes",
			store:   manifests.SecretStore{KeyVault: &manifests.KeyVaultSecret{URL: "https://v.vault.azure.net", Name: "open_fire"}},
			deps:    Deps{KeyVaultCredential: vaultCredential()},
			wantErr: `key vault secret name "open_fire": want 1 to 127 letters, digits and dashes`,
		},
		{
			reason:  "githubOutput outside Actions fails before a secret is made",
			store:   manifests.SecretStore{GitHubOutput: true},
			deps:    Deps{Getenv: func(string) string { return "" }},
			wantErr: "githubOutput works only in a GitHub Actions step (GITHUB_ACTIONS is not true)",
		},
		{
			reason:  "an exec sink needs a command",
			store:   manifests.SecretStore{Exec: []string{""}},
			wantErr: "exec sink needs a command",
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			sinks, err := FromStore(tc.store, tc.deps)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.wantErr {
				t.Fatalf("error = %q, want %q", gotErr, tc.wantErr)
			}
			var got []string
			for _, s := range sinks {
				got = append(got, s.Describe())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sinks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromStoreRelativeFile(t *testing.T) {
	base := t.TempDir()
	sinks, err := FromStore(manifests.SecretStore{File: "./creds.json"}, Deps{BaseDir: base})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(context.Background(), sinks, testCredential()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "creds.json")); err != nil {
		t.Errorf("relative file not written under the base directory: %v", err)
	}
}

// TestNoErrorLeaks makes every kind of sink fail in a way that puts the value near the error
// (a child echoing it, a vault refusing, a missing directory, a bad environment) and checks no
// error text holds it.
func TestNoErrorLeaks(t *testing.T) {
	sim := keyvaultsim.New(keyvaultsim.Options{})
	vaultURL, client := vaultAt(t, sim, "")
	sim.InjectFault(keyvaultsim.Fault{Status: 503, Count: 100})
	kv, err := NewKeyVault(vaultURL, "s", vaultCredential(), KeyVaultOptions{Transport: client, Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	echo, err := NewExec([]string{os.Args[0]}, "", helperEnviron("echo-fail"))
	if err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(t.TempDir(), "missing", "out")
	gh, err := NewGitHubOutput(func(k string) string {
		return map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": outFile}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Sink{kv, echo, gh, NewFile(filepath.Join(t.TempDir(), "missing", "c.json"), "", FileOptions{})} {
		t.Run(s.Describe(), func(t *testing.T) {
			direct := s.Write(context.Background(), testCredential())
			all := WriteAll(context.Background(), []Sink{s}, testCredential())
			for _, err := range []error{direct, all} {
				if err == nil {
					t.Fatal("the sink did not fail")
				}
				for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
					if strings.Contains(text, testSecret) {
						t.Errorf("error leaked the secret: %s", text)
					}
				}
			}
		})
	}
}
