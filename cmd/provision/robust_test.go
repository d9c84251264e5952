package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/render"
)

// panicWriter makes a command crash the first time it prints.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("write on a closed terminal") }

func testFactory(t *testing.T, in io.Reader, out io.Writer, errOut io.Writer) *factory {
	return &factory{in: in, out: out, errOut: errOut,
		isTerminal: func() bool { return false }, lookupEnv: func(string) (string, bool) { return "", false },
		clock: clock.Real{}, workDir: os.Getwd, cacheDir: func() (string, error) { return t.TempDir(), nil }}
}

// TestPanicIsABugReportNotChangesPending: a crash exits 1 (the Go runtime's 2 would read as
// "changes pending" in CI) with one line saying what crashed, the version, and where to report
// it; the stack trace only with -v.
func TestPanicIsABugReportNotChangesPending(t *testing.T) {
	for _, tc := range []struct {
		reason    string
		args      []string
		wantStack bool
	}{
		{"one line by default", []string{"version"}, false},
		{"the stack trace with -v", []string{"version", "-v"}, true},
	} {
		var stderr strings.Builder
		code := run(context.Background(), tc.args, testFactory(t, strings.NewReader(""), panicWriter{}, &stderr))
		if code != exitError {
			t.Errorf("%s: a panic exited %d, want %d", tc.reason, code, exitError)
		}
		got := stderr.String()
		for _, want := range []string{"provision crashed (a bug", "panic: write on a closed terminal in provision.panicWriter.Write (provision/robust_test.go:",
			"provision (devel)", "Please report this at " + issuesURL} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.reason, want, got)
			}
		}
		if lines := strings.Count(got, "\n"); (lines == 1) == tc.wantStack {
			t.Errorf("%s: %d lines on stderr:\n%s", tc.reason, lines, got)
		}
	}
}

// TestManifestFromStdin: "-" reads the manifest from standard input, named stdin in
// diagnostics.
func TestManifestFromStdin(t *testing.T) {
	c := &cli{stdin: "apiVersion: provision/v1\napplication:\n  name: A\n  audience: everyone\n"}
	if code := c.run(t, "validate", "-"); code != exitInvalidManifest {
		t.Fatalf("exit %d, want 3; stderr %s", code, c.stderr.String())
	}
	if !strings.Contains(c.stderr.String(), "stdin:4:13: application.audience: unknown audience") {
		t.Errorf("the diagnostic does not name stdin: %s", c.stderr.String())
	}
}

// TestSecondSignalEndsAtOnce: the first signal cancels the run's context; the second exits
// at once, for a run stuck where cancelling cannot reach.
func TestSecondSignalEndsAtOnce(t *testing.T) {
	sigs := make(chan os.Signal)
	exited := make(chan int, 1)
	var stderr lockedWriter
	stderr.w = &strings.Builder{}
	ctx, stop := cancelOnSignal(context.Background(), sigs, &stderr, func(code int) { exited <- code })
	defer stop()

	sigs <- os.Interrupt // unbuffered: returns once the watcher has it
	<-ctx.Done()
	select {
	case code := <-exited:
		t.Fatalf("the first signal exited (%d); it must only cancel", code)
	default:
	}
	sigs <- syscall.SIGTERM
	if code := <-exited; code != exitError {
		t.Errorf("the second signal exited %d, want %d", code, exitError)
	}
	for _, want := range []string{"Send it again to stop at once", "again: stopping now"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q: %s", want, stderr.String())
		}
	}
}

// TestTimeoutEndsTheRun: --timeout bounds the whole run, here a read of standard input that
// never ends, and the error says what happened and what to do.
func TestTimeoutEndsTheRun(t *testing.T) {
	r, w := io.Pipe()
	t.Cleanup(func() { _ = w.Close() })
	var stderr strings.Builder
	code := run(context.Background(), []string{"validate", "--timeout=1ns", "-"}, testFactory(t, r, io.Discard, &stderr))
	if code != exitError {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr.String())
	}
	for _, want := range []string{"the run timed out after 1ns (--timeout)", "running the command again finishes the job", "raise --timeout"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q: %s", want, stderr.String())
		}
	}
}

// TestEnvFiles: --env-file values fill ${…}; they win over the environment, and a later file
// over an earlier one; a malformed line is named by file and line.
func TestEnvFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	manifest := write("m.yaml", "apiVersion: provision/v1\ntenant: ${TENANT}\napplication:\n  name: ${APP}\n  audience: ${AUDIENCE}\n")
	base := write("base.env", "# shared\nexport AUDIENCE=multiple-orgs\nAPP='From base'\nTENANT=base.example.com\n")
	contoso := write("contoso.env", "TENANT=office.openfire.pro # the customer\n")
	bad := write("bad.env", "TENANT=x\nnot a definition\n")

	c := &cli{env: map[string]string{"TENANT": "from.environment.com", "APP": "From environment"}}
	if code := c.run(t, "validate", "-o", "json", "--env-file", base, "--env-file", contoso, manifest); code != exitOK {
		t.Fatalf("validate with env files: exit %d; stderr %s", code, c.stderr.String())
	}
	if code := c.run(t, "plan", "-o", "json", "--simulate="+filepath.Join(dir, "state.json"), "--env-file", base, "--env-file", contoso, manifest); code != exitOK {
		t.Fatalf("plan with env files: exit %d; stderr %s", code, c.stderr.String())
	}
	var rep render.Report
	if err := json.Unmarshal(c.stdout.Bytes(), &rep); err != nil || len(rep.Runs) != 1 || len(rep.Runs[0].Plan.Changes) == 0 {
		t.Fatalf("plan -o json = %s (%v)", c.stdout.String(), err)
	}
	got := []string{rep.Runs[0].Tenant}
	for _, a := range rep.Runs[0].Plan.Changes[0].Attrs {
		if a.Name == "name" || a.Name == "audience" {
			got = append(got, fmt.Sprint(a.After))
		}
	}
	if diff := cmp.Diff([]string{"office.openfire.pro", "From base", "multiple-orgs"}, got); diff != "" {
		t.Errorf("tenant, name, audience: the later file's tenant, the files' values over the environment's (-want +got):\n%s", diff)
	}
	if code := c.run(t, "validate", "--env-file", bad, manifest); code != exitError || !strings.Contains(c.stderr.String(), bad+":2: no \"=\" on this line") {
		t.Errorf("a malformed env file: exit %d, stderr %q; want 1 naming %s:2", code, c.stderr.String(), bad)
	}
	if code := c.run(t, "validate", "--env-file", filepath.Join(dir, "none.env"), manifest); code != exitError || !strings.Contains(c.stderr.String(), "read --env-file") {
		t.Errorf("a missing env file: exit %d, stderr %q", code, c.stderr.String())
	}
}
