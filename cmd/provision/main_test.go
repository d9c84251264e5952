package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisionhq/provision/provision/clock"
)

// cli runs the command line with captured streams and the given environment.
type cli struct {
	stdout, stderr bytes.Buffer
	env            map[string]string
	terminal       bool
	stdin          string
	// clock is the factory's clock, and so the simulated tenant's (nil: the wall clock).
	clock clock.Clock
}

func (c *cli) run(t *testing.T, args ...string) int {
	t.Helper()
	c.stdout.Reset()
	c.stderr.Reset()
	f := &factory{
		in:         strings.NewReader(c.stdin),
		out:        &c.stdout,
		errOut:     &c.stderr,
		isTerminal: func() bool { return c.terminal },
		lookupEnv: func(k string) (string, bool) {
			v, ok := c.env[k]
			return v, ok
		},
		clock:    clock.Real{},
		workDir:  os.Getwd,
		cacheDir: func() (string, error) { return t.TempDir(), nil },
	}
	if c.clock != nil {
		f.clock = c.clock
	}
	return run(context.Background(), args, f)
}

func TestValidateExamples(t *testing.T) {
	examples, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	c := &cli{}
	if code := c.run(t, append([]string{"validate"}, examples...)...); code != exitOK {
		t.Fatalf("validate examples: exit %d, stderr:\n%s", code, c.stderr.String())
	}
	if code := c.run(t, "validate", "../../examples"); code != exitOK {
		t.Fatalf("validate examples directory: exit %d, stderr:\n%s", code, c.stderr.String())
	}
}

func TestValidateInvalidExitsThreeWithEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	manifest := `apiVersion: provision/v1
application:
  name: OpenFire
  audience: everyone
  permissions:
    - api: Microsoft Graph
      delegated: [Mail.Sendd]
`
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cli{}
	code := c.run(t, "validate", path)
	if code != exitInvalidManifest {
		t.Fatalf("exit %d, want %d", code, exitInvalidManifest)
	}
	for _, want := range []string{path + ":4:13:", path + ":7:19:", "Mail.Send"} {
		if !strings.Contains(c.stderr.String(), want) {
			t.Errorf("stderr does not contain %q:\n%s", want, c.stderr.String())
		}
	}

	code = c.run(t, "validate", "-o", "json", path)
	if code != exitInvalidManifest {
		t.Fatalf("-o json: exit %d, want %d", code, exitInvalidManifest)
	}
	var out diagnosticsJSON
	if err := json.Unmarshal(c.stdout.Bytes(), &out); err != nil {
		t.Fatalf("-o json output is not JSON: %v\n%s", err, c.stdout.String())
	}
	if out.Valid || len(out.Diagnostics) < 2 || out.FormatVersion == "" {
		t.Errorf("-o json = %+v, want invalid with at least 2 diagnostics and a format version", out)
	}
}

func TestUnsetVariableIsNamed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "env.yaml")
	manifest := "apiVersion: provision/v1\napplication:\n  name: ${APP_NAME}\n"
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cli{}
	if code := c.run(t, "validate", path); code != exitInvalidManifest || !strings.Contains(c.stderr.String(), "APP_NAME") {
		t.Fatalf("unset variable: exit %d, stderr %q; want 3 naming APP_NAME", code, c.stderr.String())
	}
	c.env = map[string]string{"APP_NAME": "OpenFire"}
	if code := c.run(t, "validate", path); code != exitOK {
		t.Fatalf("set variable: exit %d, stderr %q", code, c.stderr.String())
	}
}

func TestSchemaIsJSON(t *testing.T) {
	c := &cli{}
	if code := c.run(t, "schema"); code != exitOK {
		t.Fatalf("schema: exit %d: %s", code, c.stderr.String())
	}
	var schema map[string]any
	if err := json.Unmarshal(c.stdout.Bytes(), &schema); err != nil {
		t.Fatalf("schema output is not JSON: %v", err)
	}
	if schema["$schema"] == nil || schema["properties"] == nil {
		t.Errorf("schema lacks $schema or properties: %v", schema)
	}
}

func TestVersion(t *testing.T) {
	c := &cli{}
	if code := c.run(t, "version", "-o", "json"); code != exitOK {
		t.Fatalf("version: exit %d", code)
	}
	var v buildVersion
	if err := json.Unmarshal(c.stdout.Bytes(), &v); err != nil || !strings.HasPrefix(v.GoVersion, "go") {
		t.Fatalf("version -o json = %q (%v), want a Go version", c.stdout.String(), err)
	}
}

// TestUsageErrors: a mistake on the command line exits 1 with a message that says what to
// write instead, and is never taken for a manifest problem.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		reason  string
		args    []string
		want    int
		wantErr string
		notErr  string
	}{
		{"unknown output format", []string{"version", "-o", "yaml"}, exitError, `invalid --output "yaml": use text or json`, ""},
		{"validate needs a file, and says what it expects", []string{"validate"}, exitError,
			"Error: validate needs at least one manifest file: provision validate FILE...", ""},
		{"so does plan", []string{"plan"}, exitError, "Error: plan needs at least one manifest file: provision plan FILE...", ""},
		{"missing file", []string{"validate", "does-not-exist.yaml"}, exitError, "read manifest does-not-exist.yaml: no such file or directory", ""},
		{"export needs --app-id or --name", []string{"export"}, exitError, "app-id", ""},
		{"a mistyped flag gets the closest one", []string{"plan", "--detailed-exitcod", "x.yaml"}, exitError,
			"unknown flag: --detailed-exitcod: did you mean --detailed-exitcode?", ""},
		{"a mistyped global flag too", []string{"validate", "--env-fil", "a.env", "x.yaml"}, exitError, "did you mean --env-file?", ""},
		{"a single dash before a long name", []string{"apply", "-auto-approve", "x.yaml"}, exitError, "did you mean --auto-approve?", ""},
		{"a bad --auth is a flag error, not a manifest's", []string{"plan", "--auth", "devic", "../../examples/minimal.yaml"}, exitError,
			`Error: invalid --auth "devic": did you mean "device"?`, "minimal.yaml"},
		{"a negative --timeout", []string{"validate", "--timeout", "-1m", "x.yaml"}, exitError, "invalid --timeout -1m0s", ""},
		{"--simulate FILE.json would read the state as a manifest", []string{"plan", "--simulate", "state.json", "x.yaml"}, exitError,
			"write --simulate=state.json", ""},
		{"completion works", []string{"completion", "bash"}, exitOK, "", ""},
	} {
		c := &cli{}
		if got := c.run(t, tc.args...); got != tc.want {
			t.Errorf("%s: %v exited %d, want %d (stderr %q)", tc.reason, tc.args, got, tc.want, c.stderr.String())
		}
		if !strings.Contains(c.stderr.String(), tc.wantErr) {
			t.Errorf("%s: stderr %q lacks %q", tc.reason, c.stderr.String(), tc.wantErr)
		}
		if tc.notErr != "" && strings.Contains(c.stderr.String(), tc.notErr) {
			t.Errorf("%s: stderr %q names %q", tc.reason, c.stderr.String(), tc.notErr)
		}
	}
}

// TestHelpShowsTheSimulateForms: the help names the two accepted forms, --simulate and
// --simulate=STATE_FILE, and no longer prints pflag's internal default.
func TestHelpShowsTheSimulateForms(t *testing.T) {
	c := &cli{}
	if code := c.run(t, "plan", "--help"); code != exitOK {
		t.Fatalf("plan --help: exit %d", code)
	}
	help := c.stdout.String()
	for _, want := range []string{"--simulate[=STATE_FILE]   ", `in "--simulate FILE", FILE is read as a manifest`,
		"--env-file FILE", "--timeout DURATION", "-o, --output FORMAT", "--auth METHOD"} {
		if !strings.Contains(help, want) {
			t.Errorf("plan --help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "default]") || strings.Contains(help, "``") {
		t.Errorf("plan --help shows the flag's internals:\n%s", help)
	}
}

// TestCompletion: the shell completes -o and --auth values, and manifest files.
func TestCompletion(t *testing.T) {
	for _, tc := range []struct {
		reason string
		args   []string
		want   string
	}{
		{"output formats", []string{"__complete", "plan", "-o", ""}, "text\njson\n:4\n"},
		{"sign-in methods", []string{"__complete", "apply", "--auth", ""}, "env\nworkload\nmanaged\ncli\ndevice\nbrowser\n:4\n"},
		{"manifest files: .yaml and .yml", []string{"__complete", "validate", ""}, "yaml\nyml\n:8\n"},
		{"doctor takes one manifest too", []string{"__complete", "doctor", ""}, "yaml\nyml\n:8\n"},
	} {
		c := &cli{}
		if code := c.run(t, tc.args...); code != exitOK {
			t.Fatalf("%s: exit %d, stderr %s", tc.reason, code, c.stderr.String())
		}
		if got := c.stdout.String(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: completions %q, want %q", tc.reason, got, tc.want)
		}
	}
}

func TestSimulateFlagForms(t *testing.T) {
	for _, tc := range []struct {
		reason  string
		args    []string
		enabled bool
		file    string
	}{
		{"absent", []string{}, false, ""},
		{"bare flag uses the default state file", []string{"--simulate"}, true, ""},
		{"explicit state file", []string{"--simulate=/tmp/state.json"}, true, "/tmp/state.json"},
	} {
		g := &globalOptions{}
		root := newRootCmd(&factory{})
		root.PersistentFlags().Lookup("simulate").Value = &g.simulate
		if err := root.PersistentFlags().Parse(tc.args); err != nil {
			t.Fatalf("%s: %v", tc.reason, err)
		}
		if g.simulate.enabled != tc.enabled || g.simulate.stateFile != tc.file {
			t.Errorf("%s: got %+v, want enabled=%v file=%q", tc.reason, g.simulate, tc.enabled, tc.file)
		}
	}
}
