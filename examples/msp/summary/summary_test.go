package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree writes files (slash paths relative to a new directory) and returns the directory.
func tree(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

const header = "| customer | tenant | result | changes | failed | soonest expiry |\n|---|---|---|---|---|---|\n"

// The reports below are cut down to what the summary reads; provision's own are longer.
const (
	pendingPlan = `{"format_version": "2.0", "runs": [{"file": "t.yaml", "tenant": "tid-a", "plan": {
		"changes": [{"address": "application[\"A\"]", "action": "create"}, {"address": "application[\"A\"].secret[\"S\"]", "action": "create"}],
		"warnings": [], "secrets": [{"address": "application[\"A\"].secret[\"S\"]", "name": "S"}]}}]}`
	emptyPlan = `{"format_version": "2.0", "runs": [{"file": "t.yaml", "tenant": "tid-a", "plan": {"changes": [], "warnings": [],
		"secrets": [{"address": "application[\"A\"].secret[\"S\"]", "name": "S", "keyId": "k", "endDateTime": "2027-03-02T09:00:00Z", "daysLeft": 100}]}}]}`
	nothingApplied = `{"format_version": "2.0", "applied": false, "runs": [{"file": "t.yaml", "tenant": "tid-a", "plan": {"changes": [], "warnings": [],
		"secrets": [{"address": "application[\"A\"].secret[\"S\"]", "name": "S", "keyId": "k", "endDateTime": "2027-03-02T09:00:00Z", "daysLeft": 100}]}}]}`
	createdApplied = `{"format_version": "2.1", "applied": true, "runs": [{"file": "t.yaml", "tenant": "tid-a", "plan": {
		"changes": [{"address": "application[\"A\"]", "action": "create"}], "warnings": [], "secrets": []},
		"results": [{"address": "application[\"A\"]", "action": "create", "id": "x", "status": "done"}], "new_field": true}]}`
	updatePending = `{"format_version": "2.0", "runs": [{"file": "t.yaml", "tenant": "tid-a", "plan": {
		"changes": [{"address": "application[\"A\"]", "action": "update"}], "warnings": [], "secrets": []}}]}`
	failedApplied = `{"format_version": "2.0", "applied": true, "runs": [{"file": "t.yaml", "tenant": "tid-a", "plan": {
		"changes": [{"address": "application[\"A\"]", "action": "update"}, {"address": "send_as[\"m\"].trustee[\"u\"]", "action": "create"}],
		"warnings": [], "secrets": []},
		"results": [
			{"address": "application[\"A\"]", "action": "update", "status": "failed", "error": "application[\"A\"]: update application:\n  403 <Authorization_RequestDenied> | ` + "`x`" + `"},
			{"address": "send_as[\"m\"].trustee[\"u\"]", "action": "create", "status": "skipped"}]}]}`
	expiredPlan = `{"format_version": "2.0", "runs": [{"file": "t.yaml", "tenant": "tid-a", "plan": {"changes": [],
		"warnings": [{"kind": "expiry", "address": "application[\"A\"]", "message": "client secret \"Portal\" expired 3d ago"},
		             {"kind": "consent", "address": "application[\"A\"]", "message": "not an expiry"}],
		"secrets": [{"address": "application[\"A\"].secret[\"S\"]", "name": "S", "keyId": "k", "endDateTime": "2026-11-19T09:00:00Z", "daysLeft": -3},
		            {"address": "application[\"A\"].secret[\"T\"]", "name": "T", "keyId": "k2", "endDateTime": "2026-11-23T09:00:00Z", "daysLeft": 1}]}}]}`
)

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		reason string
		files  map[string]string
		// customers names the env files of a -customers folder, when set.
		customers []string
		want      string
	}{
		{
			reason: "a plan alone (the pull-request workflow) shows what is pending, and a secret not made yet",
			files:  map[string]string{"reports/a/plan.json": pendingPlan},
			want: "## provision: 1 customer\n\nchanges pending: 1.\n\n" + header +
				"| a | tid-a | changes pending | 2 to create | — | not created yet |\n",
		},
		{
			reason: "an apply with nothing to do, and a secret far from expiry",
			files:  map[string]string{"reports/a/apply.json": nothingApplied, "reports/a/plan.json": emptyPlan},
			want: "## provision: 1 customer\n\nno changes: 1.\n\n" + header +
				"| a | tid-a | no changes | — | — | S: 100 days (2027-03-02) |\n" +
				"\n### Secrets by expiry\n\n| days left | expires | customer | secret |\n|---|---|---|---|\n| 100 | 2027-03-02 | a | S |\n",
		},
		{
			reason: "an apply whose plan afterwards still has a change has not converged; a newer minor version and unknown fields are read",
			files:  map[string]string{"reports/a/apply.json": createdApplied, "reports/a/plan.json": updatePending},
			want: "## provision: 1 customer\n\nnot converged: 1.\n\n" + header +
				"| a | tid-a | not converged | 1 created, 1 to update | — | — |\n",
		},
		{
			reason: "an apply alone counts what it did; its own plan is the only observation",
			files:  map[string]string{"reports/a/apply.json": createdApplied},
			want: "## provision: 1 customer\n\napplied: 1.\n\n" + header +
				"| a | tid-a | applied | 1 created | — | — |\n",
		},
		{
			reason: "a failed change and the one it skipped: the error on one line, without the address it repeats, escaped for Markdown",
			files:  map[string]string{"reports/a/apply.json": failedApplied},
			want: "## provision: 1 customer\n\nfailed: 1.\n\n" + header +
				"| a | tid-a | failed | — | 1 failed, 1 skipped | — |\n" +
				"\n### Problems\n\n" +
				"- **a**: failed `update` `application[\"A\"]`: update application: 403 &lt;Authorization_RequestDenied&gt; \\| 'x'\n" +
				"- **a**: skipped `create` `send_as[\"m\"].trustee[\"u\"]`: an earlier change it depends on failed\n",
		},
		{
			reason: "an expired secret and one expiring tomorrow, in bold, the expired first; only expiry warnings are listed",
			files:  map[string]string{"reports/a/plan.json": expiredPlan},
			want: "## provision: 1 customer\n\nno changes: 1.\n\n" + header +
				"| a | tid-a | no changes | — | — | **S: expired 3 days ago (2026-11-19)** |\n" +
				"\n### Secrets by expiry\n\n| days left | expires | customer | secret |\n|---|---|---|---|\n" +
				"| **-3** | 2026-11-19 | a | S |\n| **1** | 2026-11-23 | a | T |\n" +
				"\n### Expiry warnings\n\n- **a**: `application[\"A\"]` client secret \"Portal\" expired 3d ago\n",
		},
		{
			reason: "customers of the env folder without a report, with an empty report and with a report of another major version are all listed",
			files: map[string]string{
				"reports/provision-b/b/apply.json": "",
				"reports/c/apply.json":             `{"format_version": "3.0", "runs": []}`,
				"reports/d/plan.json":              `{"runs": `,
			},
			customers: []string{"a", "b", "c"},
			want: "## provision: 4 customers\n\nno report: 1, unreadable report: 3.\n\n" + header +
				"| a | — | no report | — | — | — |\n" +
				"| b | — | unreadable report | — | — | — |\n" +
				"| c | — | unreadable report | — | — | — |\n" +
				"| d | — | unreadable report | — | — | — |\n" +
				"\n### Problems\n\n" +
				"- **a**: no report: the job wrote no JSON (see its log)\n" +
				"- **b**: apply.json is empty: the job stopped before provision printed its report (see the job's log)\n" +
				"- **c**: apply.json has format_version \"3.0\": this summary reads 2.x (plan, apply and rotate with -o json)\n" +
				"- **d**: plan.json is not a provision -o json report: unexpected end of JSON input\n",
		},
		{
			reason:    "no report at all (no job uploaded one) lists every customer of the env folder",
			customers: []string{"a"},
			want: "## provision: 1 customer\n\nno report: 1.\n\n" + header +
				"| a | — | no report | — | — | — |\n" +
				"\n### Problems\n\n- **a**: no report: the job wrote no JSON (see its log)\n",
		},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range tc.files {
				files[k] = v
			}
			for _, c := range tc.customers {
				files["tenants/"+c+".env"] = "TENANT_ID=tid-" + c + "\n"
			}
			dir := tree(t, files)
			args := []string{filepath.Join(dir, "reports")}
			if tc.customers != nil {
				args = append([]string{"-customers", filepath.Join(dir, "tenants")}, args...)
			}
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
			if diff := cmp.Diff(tc.want, stdout.String()); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummaryRefusesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct {
		reason   string
		files    map[string]string
		args     func(dir string) []string
		wantCode int
		wantErr  string
	}{
		{
			reason:   "no reports folder",
			args:     func(string) []string { return nil },
			wantCode: 2,
			wantErr:  "usage: summary [-customers DIR] [-soon DAYS] [-title TEXT] REPORTS",
		},
		{
			reason:   "a report directly in the reports folder belongs to no customer",
			files:    map[string]string{"reports/apply.json": emptyPlan},
			args:     func(dir string) []string { return []string{filepath.Join(dir, "reports")} },
			wantCode: 1,
			wantErr:  "put each customer's reports in a directory named for the customer",
		},
		{
			reason:   "a reports folder that does not exist, with no env folder to say who was expected",
			args:     func(dir string) []string { return []string{filepath.Join(dir, "reports")} },
			wantCode: 1,
			wantErr:  "read reports: ",
		},
		{
			reason: "an env folder without env files",
			files:  map[string]string{"tenants/README.md": "", "reports/a/plan.json": emptyPlan},
			args: func(dir string) []string {
				return []string{"-customers", filepath.Join(dir, "tenants"), filepath.Join(dir, "reports")}
			},
			wantCode: 1,
			wantErr:  "no NAME.env file there",
		},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			dir := tree(t, tc.files)
			var stdout, stderr bytes.Buffer
			code := run(tc.args(dir), &stdout, &stderr)
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.wantCode, tc.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing on an error", stdout.String())
			}
		})
	}
}
