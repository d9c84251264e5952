package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/rights"
	"github.com/provisionhq/provision/provision/simtenant"
)

func TestDoctorAgainstTheSimulatedTenant(t *testing.T) {
	example := filepath.Join("..", "..", "examples", "openfire.yaml")
	for _, tc := range []struct {
		reason   string
		revoke   string
		args     []string
		wantCode int
		wantText []string
	}{
		{
			reason:   "the simulator's operator can perform every step of openfire.yaml",
			args:     []string{example},
			wantCode: exitOK,
			wantText: []string{"Signed in as: application", "ok      grant Send-As in Exchange Online", "can perform every step"},
		},
		{
			reason:   "without a manifest every step is checked",
			wantCode: exitOK,
			wantText: []string{"ok      look up the groups"},
		},
		{
			reason:   "a missing Exchange role is named with its fix, and doctor exits 1: registering the app in Exchange for its mailboxes needs Exchange Administrator, Send-As does not",
			revoke:   "Exchange Administrator",
			args:     []string{example},
			wantCode: exitError,
			wantText: []string{"ok      grant Send-As in Exchange Online", "MISSING register the application's service principal in Exchange Online",
				"missing: grant Exchange Administrator (Entra role)", "To fix every step, grant: Exchange Administrator (Entra role)."},
		},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "tenant.json")
			if tc.revoke != "" {
				revoked(t, state, tc.revoke)
			}
			c := &cli{}
			code := c.run(t, append(append([]string{"doctor"}, tc.args...), "--simulate="+state)...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.wantCode, c.stdout.String(), c.stderr.String())
			}
			for _, want := range tc.wantText {
				if !strings.Contains(c.stdout.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, c.stdout.String())
				}
			}
		})
	}
}

func TestDoctorJSON(t *testing.T) {
	state := filepath.Join(t.TempDir(), "tenant.json")
	revoked(t, state, "User.Read.All")
	c := &cli{}
	if code := c.run(t, "doctor", "-o", "json", "--simulate="+state); code != exitError {
		t.Fatalf("exit %d, want %d: %s", code, exitError, c.stderr.String())
	}
	var out doctorJSON
	if err := json.Unmarshal(c.stdout.Bytes(), &out); err != nil {
		t.Fatalf("doctor -o json is not JSON: %v\n%s", err, c.stdout.String())
	}
	want := []rights.Right{{Kind: rights.GraphPermission, Name: "User.Read.All"}}
	if len(out.Report.Fixes) != 1 || out.Report.Fixes[0] != want[0] || out.FormatVersion == "" || !out.SignedIn.Held.AppOnly {
		t.Errorf("doctor -o json = %+v, want the fix %v", out, want)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestDoctorJSONKeysAreCamelCase pins every key path of doctor -o json in a golden file
// (go test -run TestDoctorJSONKeysAreCamelCase -update rewrites it) and checks that each key
// is camelCase, the envelope's format_version aside: keys are what scripts read.
func TestDoctorJSONKeysAreCamelCase(t *testing.T) {
	state := filepath.Join(t.TempDir(), "tenant.json")
	c := &cli{}
	if code := c.run(t, "doctor", "-o", "json", "--simulate="+state, filepath.Join("..", "..", "examples", "openfire.yaml")); code != exitOK {
		t.Fatalf("doctor: exit %d: %s", code, c.stderr.String())
	}
	var doc any
	if err := json.Unmarshal(c.stdout.Bytes(), &doc); err != nil {
		t.Fatalf("doctor -o json is not JSON: %v", err)
	}
	paths := map[string]bool{}
	jsonKeyPaths(doc, "", paths)
	var got []string
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	for p := range paths {
		got = append(got, p)
		key := p[strings.LastIndex(p, ".")+1:]
		if key = strings.TrimRight(key, "[]"); p != "format_version" && !camel.MatchString(key) {
			t.Errorf("key %q (at %s) is not camelCase", key, p)
		}
	}
	sort.Strings(got)
	golden := filepath.Join("testdata", "doctor-json-keys.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestDoctorJSONKeysAreCamelCase -update to write it)", err)
	}
	if diff := cmp.Diff(strings.Split(strings.TrimSpace(string(want)), "\n"), got); diff != "" {
		t.Errorf("doctor -o json key paths (-want +got):\n%s", diff)
	}
}

// jsonKeyPaths adds the dotted path of every key under v to paths; array elements add "[]".
func jsonKeyPaths(v any, prefix string, paths map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			paths[p] = true
			jsonKeyPaths(e, p, paths)
		}
	case []any:
		for _, e := range v {
			jsonKeyPaths(e, prefix+"[]", paths)
		}
	}
}

// revoked writes the state of a new simulated tenant whose operator lacks right.
func revoked(t *testing.T, path, right string) {
	t.Helper()
	tenant, err := simtenant.New(simtenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.RevokeOperatorRight(right); err != nil {
		t.Fatal(err)
	}
	saveTenant(t, tenant, path)
}
