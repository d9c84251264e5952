package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

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
