package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/sensitive"
	"github.com/provisionhq/provision/provision/simtenant/keyvaultsim"
)

// sameCredential compares credentials, the value included (cmp cannot see into Secret).
func sameCredential(t *testing.T, want, got Credential) {
	t.Helper()
	sameValue := cmp.Comparer(func(a, b sensitive.String) bool { return a.Reveal() == b.Reveal() })
	if diff := cmp.Diff(want, got, sameValue); diff != "" {
		t.Errorf("credential read back (-want +got):\n%s", diff)
	}
}

func TestFileReadBack(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	f := NewFile("creds.json", dir, FileOptions{})
	held, err := f.Observe(ctx)
	if diff := cmp.Diff(Held{State: HoldsNothing, Detail: "file creds.json does not exist"}, held); err != nil || diff != "" {
		t.Errorf("Observe of a missing file: %v (-want +got):\n%s", err, diff)
	}
	if _, err := f.ReadCredential(ctx); !errors.Is(err, ErrNothingHeld) {
		t.Errorf("ReadCredential of a missing file: %v, want ErrNothingHeld", err)
	}
	c := testCredential()
	if err := f.Write(ctx, c); err != nil {
		t.Fatal(err)
	}
	held, err = f.Observe(ctx)
	if diff := cmp.Diff(Held{State: HoldsCredential, KeyID: c.KeyID}, held); err != nil || diff != "" {
		t.Errorf("Observe after Write: %v (-want +got):\n%s", err, diff)
	}
	got, err := f.ReadCredential(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameCredential(t, c.WithDefaults(), got)

	cases := []struct {
		reason  string
		content string
		wantErr string
	}{
		{"not JSON at all", "secret=" + testSecret, "not a credentials document"},
		{"a document from a newer provision", `{"format":9,"secret":"` + testSecret + `"}`, "newer than this provision's"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "creds.json"), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := f.Observe(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Observe: error %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("the error shows the file's content: %v", err)
			}
		})
	}
}

func TestKeyVaultReadBack(t *testing.T) {
	ctx := context.Background()
	sim := keyvaultsim.New(keyvaultsim.Options{})
	vaultURL, client := vaultAt(t, sim, "")
	kv, err := NewKeyVault(vaultURL, "openfire-client-secret", vaultCredential(), KeyVaultOptions{Transport: client, Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	held, err := kv.Observe(ctx)
	want := Held{State: HoldsNothing, Detail: "secret openfire-client-secret does not exist in " + vaultURL}
	if diff := cmp.Diff(want, held); err != nil || diff != "" {
		t.Errorf("Observe of a vault without the secret: %v (-want +got):\n%s", err, diff)
	}
	c := testCredential()
	if err := kv.Write(ctx, c); err != nil {
		t.Fatal(err)
	}
	held, err = kv.Observe(ctx)
	if diff := cmp.Diff(Held{State: HoldsCredential, KeyID: c.KeyID}, held); err != nil || diff != "" {
		t.Errorf("Observe after Write: %v (-want +got):\n%s", err, diff)
	}
	got, err := kv.ReadCredential(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want2 := c
	want2.Hint = ""               // a vault version keeps no hint
	want2.CreatedAt = time.Time{} // nor when the credential was made
	sameCredential(t, want2, got)

	// Someone disables the current version: consumers cannot read it, so it holds nothing.
	admin, err := azsecrets.NewClient(vaultURL, vaultCredential(), &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: client}, DisableChallengeResourceVerification: true})
	if err != nil {
		t.Fatal(err)
	}
	disabled := false
	version := sim.Versions("openfire-client-secret")[0].Version
	if _, err := admin.UpdateSecretProperties(ctx, "openfire-client-secret", version, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: &disabled}}, nil); err != nil {
		t.Fatal(err)
	}
	held, err = kv.Observe(ctx)
	want = Held{State: HoldsNothing, Detail: "the current version of secret openfire-client-secret is disabled"}
	if diff := cmp.Diff(want, held); err != nil || diff != "" {
		t.Errorf("Observe of a disabled version: %v (-want +got):\n%s", err, diff)
	}
}

func TestReadCredentialFromTheFirstReadableSink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	exec, err := NewExec([]string{os.Args[0]}, "", helperEnviron("echo-fail"))
	if err != nil {
		t.Fatal(err)
	}
	gh, err := NewGitHubOutput(func(k string) string {
		return map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": filepath.Join(dir, "out")}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	missing := NewFile("missing.json", dir, FileOptions{})
	present := NewFile("creds.json", dir, FileOptions{})
	if err := present.Write(ctx, testCredential()); err != nil {
		t.Fatal(err)
	}
	for _, s := range []Sink{exec, gh} {
		held, err := Observe(ctx, s)
		if err != nil || held.State != CannotReadBack || held.Detail == "" {
			t.Errorf("Observe(%s) = %+v, %v; want CannotReadBack with a reason", s.Describe(), held, err)
		}
	}
	if held, _ := Observe(ctx, &fakeSink{name: "elsewhere"}); held.State != CannotReadBack {
		t.Errorf("a sink without Observe is %v, want CannotReadBack", held.State)
	}

	c, from, err := ReadCredential(ctx, []Sink{exec, missing, gh, present})
	if err != nil || from != present.Describe() {
		t.Fatalf("ReadCredential: from %q, %v; want the present file", from, err)
	}
	sameCredential(t, testCredential().WithDefaults(), c)

	_, _, err = ReadCredential(ctx, []Sink{exec, missing})
	want := fmt.Sprintf("read the credential from its sinks (%s cannot be read back; file missing.json holds no credential): no credential held", exec.Describe())
	if !errors.Is(err, ErrNothingHeld) || err.Error() != want {
		t.Errorf("ReadCredential with nothing to read:\n got %v\nwant %s", err, want)
	}
}
