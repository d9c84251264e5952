package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/render"
)

// TestSimulateApplyThenPlanIsEmpty is the README's main job, end to end in-process: apply
// the OpenFire example against the simulated tenant, then plan again and find nothing to do.
func TestSimulateApplyThenPlanIsEmpty(t *testing.T) {
	work := t.TempDir()
	state := filepath.Join(work, "tenant.json")
	manifest := copyExample(t, "openfire.yaml", work)
	c := &cli{env: map[string]string{}}
	chdir(t, work)

	if code := c.run(t, "plan", "--detailed-exitcode", "--simulate="+state, manifest); code != exitChangesPending {
		t.Fatalf("first plan: exit %d, want %d; stderr:\n%s", code, exitChangesPending, c.stderr.String())
	}
	if !strings.Contains(c.stdout.String(), "Plan: 13 to add, 2 to change, 0 to destroy.") {
		t.Errorf("first plan does not add 13 objects and change 2:\n%s", c.stdout.String())
	}

	if code := c.run(t, "apply", "--simulate="+state, manifest); code != exitError ||
		!strings.Contains(c.stderr.String(), "--auto-approve") {
		t.Fatalf("apply without a terminal: exit %d, stderr %q; want 1 and a hint at --auto-approve", code, c.stderr.String())
	}

	if code := c.run(t, "apply", "--auto-approve", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("apply: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if !strings.Contains(c.stdout.String(), "Apply complete: 15 applied, 0 failed, 0 skipped.") {
		t.Errorf("apply summary missing:\n%s", c.stdout.String())
	}
	// The result of each change, with its id, is a result: stdout, as terraform prints it.
	if !strings.Contains(c.stdout.String(), "  done     + application[\"OpenFire\"] [id=") || strings.Contains(c.stderr.String(), "done ") {
		t.Errorf("the per-change results are not on stdout (and only there):\nstdout:\n%s\nstderr:\n%s", c.stdout.String(), c.stderr.String())
	}
	// The example's default keeps the secret out of the directory provision runs in (a clone's
	// work tree): it lands one level up.
	if _, err := os.Stat(filepath.Join(work, "openfire-credentials.json")); err == nil {
		t.Error("the credentials file was written into the working directory")
	}
	creds, err := os.ReadFile(filepath.Join(filepath.Dir(work), "openfire-credentials.json"))
	if err != nil {
		t.Fatalf("the secret's file sink was not written: %v", err)
	}
	var doc struct{ ClientID, Secret string }
	if err := json.Unmarshal(creds, &doc); err != nil || doc.ClientID == "" || doc.Secret == "" {
		t.Fatalf("credentials file = %s (%v), want clientId and secret", creds, err)
	}
	for _, out := range []string{c.stdout.String(), c.stderr.String()} {
		if strings.Contains(out, doc.Secret) {
			t.Fatal("the secret value was printed")
		}
	}

	if code := c.run(t, "plan", "--detailed-exitcode", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("plan after apply: exit %d, want 0; stdout:\n%s\nstderr:\n%s", code, c.stdout.String(), c.stderr.String())
	}
	if code := c.run(t, "plan", "-o", "json", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("plan -o json: exit %d", code)
	}
	var plan render.Report
	if err := json.Unmarshal(c.stdout.Bytes(), &plan); err != nil || plan.FormatVersion != render.FormatVersion ||
		len(plan.Runs) != 1 || len(plan.Runs[0].Plan.Changes) != 0 || plan.Runs[0].File != manifest {
		t.Fatalf("plan -o json = %s (%v), want a versioned report of one run with no change", c.stdout.String(), err)
	}
}

// TestApplyJSON: apply -o json is the plan's report with each run's results, whose actions
// are the plan's words, for one file as for several.
func TestApplyJSON(t *testing.T) {
	work := t.TempDir()
	state := filepath.Join(work, "tenant.json")
	manifest := copyExample(t, "minimal.yaml", work)
	chdir(t, work)
	c := &cli{}
	if code := c.run(t, "apply", "-o", "json", "--auto-approve", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("apply -o json: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	var rep render.Report
	if err := json.Unmarshal(c.stdout.Bytes(), &rep); err != nil {
		t.Fatalf("apply -o json is not JSON: %v\n%s", err, c.stdout.String())
	}
	if rep.FormatVersion != render.FormatVersion || rep.Applied == nil || !*rep.Applied || len(rep.Runs) != 1 || rep.Runs[0].File != manifest {
		t.Fatalf("apply -o json = %s, want an applied report of one run for %s", c.stdout.String(), manifest)
	}
	var got []string
	for _, r := range rep.Runs[0].Results {
		got = append(got, r.Action.String()+" "+r.Status+" "+r.Address)
	}
	want := []string{`create done application["Minimal Example"]`, `create done application["Minimal Example"].service_principal`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results -want +got:\n%s", diff)
	}
	if !strings.Contains(c.stdout.String(), `"action": "create"`) {
		t.Errorf("results[].action is not the word create:\n%s", c.stdout.String())
	}
	if code := c.run(t, "apply", "-o", "json", "--auto-approve", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("second apply -o json: exit %d", code)
	}
	rep = render.Report{}
	if err := json.Unmarshal(c.stdout.Bytes(), &rep); err != nil || rep.Applied == nil || *rep.Applied || len(rep.Runs) != 1 || len(rep.Runs[0].Results) != 0 {
		t.Errorf("apply -o json with nothing to do = %s (%v), want applied false and no results", c.stdout.String(), err)
	}
}

func TestApplyAsksOnATerminal(t *testing.T) {
	work := t.TempDir()
	state := filepath.Join(work, "tenant.json")
	manifest := copyExample(t, "minimal.yaml", work)
	chdir(t, work)
	c := &cli{terminal: true, stdin: "no\n"}
	if code := c.run(t, "apply", "--simulate="+state, manifest); code != exitError {
		t.Fatalf("answering no: exit %d, want 1", code)
	}
	if !strings.Contains(c.stderr.String(), "Only 'yes' will be accepted") {
		t.Errorf("no confirmation question on stderr:\n%s", c.stderr.String())
	}
	c.stdin = "yes\n"
	if code := c.run(t, "apply", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("answering yes: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	c.stdin = ""
	if code := c.run(t, "apply", "--dry-run", "--simulate="+state, manifest); code != exitOK ||
		!strings.Contains(c.stdout.String(), "No changes.") {
		t.Fatalf("dry run after apply: exit %d, stdout:\n%s", code, c.stdout.String())
	}
}

func TestPlanInvalidManifestExitsThree(t *testing.T) {
	work := t.TempDir()
	path := filepath.Join(work, "bad.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: provision/v2\napplication: {name: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cli{}
	if code := c.run(t, "plan", "--simulate="+filepath.Join(work, "s.json"), path); code != exitInvalidManifest {
		t.Fatalf("exit %d, want 3; stderr %s", code, c.stderr.String())
	}
}

func copyExample(t *testing.T, name, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// chdir moves into dir for the test, because relative sink paths resolve against the
// working directory as they do for a user.
func chdir(t *testing.T, dir string) {
	t.Helper()
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(old) })
}

func TestSimulateServePrintsExports(t *testing.T) {
	work := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr strings.Builder
	f := &factory{in: strings.NewReader(""), out: &lockedWriter{w: &stdout}, errOut: &lockedWriter{w: &stderr},
		isTerminal: func() bool { return false }, lookupEnv: func(string) (string, bool) { return "", false },
		clock: clock.Real{}, workDir: os.Getwd, cacheDir: func() (string, error) { return work, nil }}
	done := make(chan int)
	go func() { done <- run(ctx, []string{"simulate", "serve", "--state", filepath.Join(work, "t.json")}, f) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(f.out.(*lockedWriter).String(), "SSL_CERT_FILE") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("simulate serve: exit %d, stderr %s", code, f.errOut.(*lockedWriter).String())
	}
	out := f.out.(*lockedWriter).String()
	for _, name := range []string{"PROVISION_GRAPH_ENDPOINT", "PROVISION_EXCHANGE_ENDPOINT", "AZURE_AUTHORITY_HOST",
		"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "SSL_CERT_FILE"} {
		if !strings.Contains(out, "export "+name+"=") {
			t.Errorf("no export line for %s in:\n%s", name, out)
		}
	}
}

// lockedWriter lets a test read what a running command writes.
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// TestPlanSeveralFiles fans out over a directory: one run per file, one total, and a JSON
// document listing each file's plan.
func TestPlanSeveralFiles(t *testing.T) {
	work := t.TempDir()
	state := filepath.Join(work, "tenant.json")
	dir := filepath.Join(work, "manifests")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	copyExample(t, "openfire.yaml", dir)
	copyExample(t, "minimal.yaml", dir)
	chdir(t, work)
	c := &cli{}
	if code := c.run(t, "plan", "--simulate="+state, dir); code != exitOK {
		t.Fatalf("plan dir: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if !strings.Contains(c.stdout.String(), "Total for 2 files: 15 to add, 2 to change, 0 to destroy.") {
		t.Errorf("no total line:\n%s", c.stdout.String())
	}
	if code := c.run(t, "plan", "-o", "json", "--simulate="+state, dir); code != exitOK {
		t.Fatalf("plan dir -o json: exit %d", code)
	}
	var out render.Report
	if err := json.Unmarshal(c.stdout.Bytes(), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, c.stdout.String())
	}
	if len(out.Runs) != 2 || out.Runs[1].Tenant != "office.openfire.pro" || out.Summary.Add != 15 {
		t.Errorf("runs = %+v, summary %+v; want 2 runs (openfire for office.openfire.pro last) adding 15", out.Runs, out.Summary)
	}
}

func TestTenantMismatchIsAnError(t *testing.T) {
	work := t.TempDir()
	path := filepath.Join(work, "other.yaml")
	manifest := "apiVersion: provision/v1\ntenant: 11111111-2222-3333-4444-555555555555\napplication: {name: Other}\n"
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cli{}
	if code := c.run(t, "plan", "--simulate="+filepath.Join(work, "s.json"), path); code != exitError {
		t.Fatalf("exit %d, want 1; stderr %s", code, c.stderr.String())
	}
	if !strings.Contains(c.stderr.String(), "11111111-2222-3333-4444-555555555555") {
		t.Errorf("the error does not name the tenant: %s", c.stderr.String())
	}
}

// TestRotate runs the scheduled-pipeline command: nothing due after an apply, then a forced
// rotation that delivers a new credential to the file sink.
func TestRotate(t *testing.T) {
	work := t.TempDir()
	state := filepath.Join(work, "tenant.json")
	manifest := copyExample(t, "openfire.yaml", work)
	chdir(t, work)
	creds := filepath.Join(work, "creds.json")
	c := &cli{env: map[string]string{"OPENFIRE_CREDENTIALS_FILE": creds}}
	if code := c.run(t, "apply", "--auto-approve", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("apply: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	keyID := func() string {
		var doc struct{ KeyID string }
		b, err := os.ReadFile(creds)
		if err != nil || json.Unmarshal(b, &doc) != nil {
			t.Fatalf("read credentials file: %v", err)
		}
		return doc.KeyID
	}
	first := keyID()
	if code := c.run(t, "rotate", "--force", "--simulate="+state, manifest); code != exitError ||
		!strings.Contains(c.stderr.String(), "rotate needs confirmation: run it on a terminal, or pass --auto-approve to rotate without asking") {
		t.Errorf("rotate without a terminal: exit %d, stderr %q; want 1 and a message naming rotate", code, c.stderr.String())
	}
	if code := c.run(t, "rotate", "--dry-run", "--detailed-exitcode", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("rotate --dry-run right after apply: exit %d, want 0; stdout:\n%s", code, c.stdout.String())
	}
	if code := c.run(t, "rotate", "--force", "--dry-run", "--detailed-exitcode", "--simulate="+state, manifest); code != exitChangesPending {
		t.Fatalf("rotate --force --dry-run: exit %d, want 2", code)
	}
	if code := c.run(t, "rotate", "--force", "--auto-approve", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("rotate --force: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if !strings.Contains(c.stdout.String(), "±") {
		t.Errorf("the rotation plan shows no ± line:\n%s", c.stdout.String())
	}
	if second := keyID(); second == first || second == "" {
		t.Errorf("credentials file keyId %q after rotation, was %q: want a new credential", second, first)
	}
}

// TestPlanWarnsOfMissingRights: with a right taken from the simulated operator, plan says
// which step it cannot perform and what grant fixes it, before apply writes anything.
func TestPlanWarnsOfMissingRights(t *testing.T) {
	work := t.TempDir()
	state := filepath.Join(work, "tenant.json")
	manifest := copyExample(t, "openfire.yaml", work)
	chdir(t, work)
	c := &cli{}
	if code := c.run(t, "plan", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("plan: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if strings.Contains(c.stdout.String(), "DelegatedPermissionGrant.ReadWrite.All") {
		t.Fatalf("plan warns of a right the operator holds:\n%s", c.stdout.String())
	}
	revoked(t, state, "DelegatedPermissionGrant.ReadWrite.All")
	if code := c.run(t, "plan", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("plan without the grant right: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if !strings.Contains(c.stdout.String(), "DelegatedPermissionGrant.ReadWrite.All") {
		t.Errorf("plan does not name the missing right:\n%s", c.stdout.String())
	}
}

// TestPlanSignsInOnce: reading the tenant id, the rights preflight and the Graph client share
// one Graph token (all ask for it with continuous access evaluation, as the Graph SDK does, so
// the credential's cache serves one entry): a plan costs the identity platform one metadata
// read and one token request. Before, it cost two tokens and four requests.
func TestPlanSignsInOnce(t *testing.T) {
	for _, tc := range []struct {
		reason   string
		manifest string
		want     int
	}{
		{"no Send-As: metadata and one Graph token", "minimal.yaml", 2},
		// The Exchange token is asked for without continuous access evaluation (the Exchange
		// client does not answer claims challenges), which azidentity serves from a second
		// client of its own: one more metadata read and one token, shared by the preflight and
		// the Exchange client.
		{"Send-As: one Exchange token more", "openfire.yaml", 4},
	} {
		work := t.TempDir()
		manifest := copyExample(t, tc.manifest, work)
		f := &factory{in: strings.NewReader(""), out: &strings.Builder{}, errOut: &strings.Builder{},
			isTerminal: func() bool { return false }, lookupEnv: func(string) (string, bool) { return "", false },
			clock: clock.Real{}, workDir: os.Getwd, cacheDir: func() (string, error) { return work, nil }}
		g := &globalOptions{output: "text", simulate: simulateFlag{enabled: true, stateFile: filepath.Join(work, "t.json")}}
		runs, err := planRuns(context.Background(), f, g, []string{manifest}, provision.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		closeRuns(runs)
		if got := f.sim.server.Tenant.Stats().TokenRequests; got != tc.want {
			t.Errorf("%s: a plan made %d requests to the identity platform, want %d", tc.reason, got, tc.want)
		}
		if err := f.closeSimulator(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestApplyWaitsForReplication: with the simulated directory replicating for 2 s (every read
// of a new object in its first 2 s misses it), apply says it waits, returns once reads show
// its writes, and the plan run right after it is empty; with --wait-timeout 0 it returns at
// once, and the plan right after still misses the writes. The command and its simulated
// tenant run on a fake clock, so the test waits for nothing.
func TestApplyWaitsForReplication(t *testing.T) {
	work := t.TempDir()
	manifest := copyExample(t, "minimal.yaml", work)
	chdir(t, work)
	c := &cli{env: map[string]string{"PROVISION_SIMULATE_FAULTS": "lag=2s"}, clock: clock.NewFake(time.Now())}
	state := "--simulate=" + filepath.Join(work, "waited.json")
	if code := c.run(t, "apply", "--auto-approve", state, manifest); code != exitOK {
		t.Fatalf("apply: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if !strings.Contains(c.stderr.String(), "waiting for the directory to show 1 change(s)") {
		t.Errorf("apply did not say what it waits for; stderr:\n%s", c.stderr.String())
	}
	if code := c.run(t, "plan", "--detailed-exitcode", state, manifest); code != exitOK {
		t.Errorf("plan right after apply: exit %d, want 0; stdout:\n%s", code, c.stdout.String())
	}

	state = "--simulate=" + filepath.Join(work, "not-waited.json")
	if code := c.run(t, "apply", "--auto-approve", "--wait-timeout", "0", state, manifest); code != exitOK {
		t.Fatalf("apply --wait-timeout 0: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if strings.Contains(c.stderr.String(), "waiting for the directory") {
		t.Errorf("apply --wait-timeout 0 waited; stderr:\n%s", c.stderr.String())
	}
	if code := c.run(t, "plan", "--detailed-exitcode", state, manifest); code != exitChangesPending {
		t.Errorf("plan right after an apply that did not wait: exit %d, want 2 (the service principal is still replicating); the test no longer shows the lag", code)
	}
}
