package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// TestCatalogueUpToDate regenerates the catalogue from the reference and compares it with the
// committed file, so a change to permissions.yaml without go generate is caught.
func TestCatalogueUpToDate(t *testing.T) {
	in := filepath.Join("..", "..", "..", "..", "shared", "reference", "permissions.yaml")
	data, err := os.ReadFile(in)
	if os.IsNotExist(err) {
		t.Skipf("reference %s not present in this checkout", in)
	}
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := yaml.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	got, err := generate(ref)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "catalogue_data.go"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("catalogue_data.go is stale; run go generate ./manifests (-committed +generated):\n%s", diff)
	}
}

func TestGenerateSkipsKnownBad(t *testing.T) {
	src := `
resources:
  - appId: 00000002-0000-0ff1-ce00-000000000000
    displayName: Office 365 Exchange Online
    permissions:
      - {value: Good.Role, id: 11111111-1111-1111-1111-111111111111, type: Role, adminConsentRequired: true}
      - {value: Bad.Role, id: 5DF07973-7d5d-46ed-f847-aeb6baeafa96, type: Role}
      - {value: SMTP.Send, id: 258f6531-6087-4cc4-bb90-092c5fb3ed3f, type: Scope}
known_bad_ids_seen_in_the_wild:
  - id: 5df07973-7d5d-46ed-f847-aeb6baeafa96
  - note: "Graph SMTP.Send ids (258f6531...) are pasted under other resources"
`
	var ref reference
	if err := yaml.Unmarshal([]byte(src), &ref); err != nil {
		t.Fatal(err)
	}
	out, err := generate(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"Bad.Role", "SMTP.Send"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("generated catalogue keeps %s, which the reference flags as known-bad", bad)
		}
	}
	if !strings.Contains(string(out), "Good.Role") {
		t.Errorf("generated catalogue lost Good.Role:\n%s", out)
	}
}
