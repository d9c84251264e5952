package sink

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/sensitive"
)

// parseOutputs reads a $GITHUB_OUTPUT file as the runner does: name=value lines and
// name<<DELIM blocks.
func parseOutputs(t *testing.T, data string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok {
			var value []string
			for sc.Scan() && sc.Text() != delim {
				value = append(value, sc.Text())
			}
			out[name] = strings.Join(value, "\n")
			continue
		}
		name, value, _ := strings.Cut(line, "=")
		out[name] = value
	}
	return out
}

// checkingWriter records whether the output file already held the value when the mask command
// was printed.
type checkingWriter struct {
	bytes.Buffer
	outputFile  string
	valueInFile bool
}

func (w *checkingWriter) Write(p []byte) (int, error) {
	data, _ := os.ReadFile(w.outputFile)
	if strings.Contains(string(data), testSecret) {
		w.valueInFile = true
	}
	return w.Buffer.Write(p)
}

func TestGitHubOutput(t *testing.T) {
	outFile := filepath.Join(t.TempDir(), "github_output")
	if err := os.WriteFile(outFile, []byte("earlier=step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": outFile}
	stdout := &checkingWriter{outputFile: outFile}
	g, err := NewGitHubOutput(func(k string) string { return env[k] }, stdout)
	if err != nil {
		t.Fatal(err)
	}
	c := testCredential()
	if err := g.Write(context.Background(), c); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if got, want := stdout.String(), "::add-mask::"+testSecret+"\n"; got != want {
		t.Errorf("stdout = %q, want only the mask command %q", got, want)
	}
	if stdout.valueInFile {
		t.Error("the value reached GITHUB_OUTPUT before the mask command")
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"earlier":       "step",
		"client-secret": testSecret,
		"client-id":     c.ClientID,
		"tenant-id":     c.TenantID,
		"key-id":        c.KeyID,
		"expires-at":    "2028-11-21T21:00:00Z",
	}
	if diff := cmp.Diff(want, parseOutputs(t, string(data))); diff != "" {
		t.Errorf("outputs (-want +got):\n%s\nfile:\n%s", diff, data)
	}
	if !strings.Contains(string(data), "client-secret<<ghadelimiter_") {
		t.Errorf("the secret is not in a delimited block:\n%s", data)
	}
}

func TestGitHubOutputEscapesMask(t *testing.T) {
	outFile := filepath.Join(t.TempDir(), "github_output")
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": outFile}
	var stdout bytes.Buffer
	g, err := NewGitHubOutput(func(k string) string { return env[k] }, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	c := testCredential()
	c.Secret = sensitive.New("abc%0Adef")
	if err := g.Write(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got, want := stdout.String(), "::add-mask::abc%250Adef\n"; got != want {
		t.Errorf("stdout = %q, want %q (a %% escaped, so the runner masks the exact value)", got, want)
	}
	c.Secret = sensitive.New("two\nlines")
	if err := g.Write(context.Background(), c); err == nil || strings.Contains(err.Error(), "two") {
		t.Errorf("a multi-line value: error = %v, want a refusal that does not show it", err)
	}
}

func TestGitHubOutputOnlyInActions(t *testing.T) {
	cases := []struct {
		reason  string
		env     map[string]string
		wantErr string
	}{
		{"not in Actions", map[string]string{"GITHUB_OUTPUT": "/tmp/x"}, "githubOutput works only in a GitHub Actions step (GITHUB_ACTIONS is not true)"},
		{"GITHUB_ACTIONS must be exactly true", map[string]string{"GITHUB_ACTIONS": "1", "GITHUB_OUTPUT": "/tmp/x"}, "githubOutput works only in a GitHub Actions step (GITHUB_ACTIONS is not true)"},
		{"an old runner without GITHUB_OUTPUT", map[string]string{"GITHUB_ACTIONS": "true"}, "githubOutput: GITHUB_OUTPUT is not set"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			var stdout bytes.Buffer
			_, err := NewGitHubOutput(func(k string) string { return tc.env[k] }, &stdout)
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("error = %v, want %q", err, tc.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("printed %q outside Actions", stdout.String())
			}
		})
	}
}
