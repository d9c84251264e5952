package sink

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
)

// helperEnviron is a parent environment with provision's own credentials in it and the mode
// the re-executed test binary should act in.
func helperEnviron(mode string) func() []string {
	return func() []string {
		return append(os.Environ(),
			"SINK_TEST_HELPER="+mode,
			"AZURE_CLIENT_SECRET=provision-own-secret",
			"AZURE_FEDERATED_TOKEN_FILE=/var/run/token",
			"ARM_CLIENT_CERTIFICATE_PASSWORD=pw",
			"SOME_SETTING=with "+testSecret+" inside",
			"HARMLESS=kept",
		)
	}
}

func TestExecRecordsStdin(t *testing.T) {
	dir := t.TempDir()
	e, err := NewExec([]string{os.Args[0], dir}, "", helperEnviron("record"))
	if err != nil {
		t.Fatal(err)
	}
	c := testCredential()
	if err := e.Write(context.Background(), c); err != nil {
		t.Fatalf("Write: %v", err)
	}
	stdin, err := os.ReadFile(filepath.Join(dir, "stdin.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := c.Document()
	if diff := cmp.Diff(string(want), string(stdin)); diff != "" {
		t.Errorf("stdin (-want +got):\n%s", diff)
	}
	var argv, env []string
	for name, into := range map[string]*[]string{"argv.json": &argv, "env.json": &env} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, into); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{os.Args[0], dir}, argv); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	names := map[string]bool{}
	for _, kv := range env {
		if strings.Contains(kv, testSecret) {
			t.Errorf("child environment holds the secret: %s", kv)
		}
		name, _, _ := strings.Cut(kv, "=")
		names[name] = true
	}
	for name, want := range map[string]bool{
		"AZURE_CLIENT_SECRET": false, "AZURE_FEDERATED_TOKEN_FILE": false, "ARM_CLIENT_CERTIFICATE_PASSWORD": false,
		"SOME_SETTING": false, "HARMLESS": true, "PATH": os.Getenv("PATH") != "",
	} {
		if names[name] != want {
			t.Errorf("child environment has %s = %v, want %v", name, names[name], want)
		}
	}
}

func TestExecFailure(t *testing.T) {
	e, err := NewExec([]string{os.Args[0], "--to", "chat.example"}, "", helperEnviron("echo-fail"))
	if err != nil {
		t.Fatal(err)
	}
	err = WriteAll(context.Background(), []Sink{e}, testCredential())
	if err == nil {
		t.Fatal("a command exiting 3 was taken as success")
	}
	msg := err.Error()
	for _, want := range []string{"write secret to exec " + os.Args[0] + " --to chat.example", "exit status 3", "pushing {", `server refused secret "(sensitive)"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, testSecret) {
		t.Errorf("error leaked the secret the child echoed:\n%s", msg)
	}
}

func TestExecTimeout(t *testing.T) {
	e, err := NewExec([]string{os.Args[0]}, "", helperEnviron("hang"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = e.Write(ctx, testCredential())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a hung command held Write for %v", took)
	}
}

func TestExecMissingCommand(t *testing.T) {
	e, err := NewExec([]string{"./does-not-exist.sh"}, t.TempDir(), os.Environ)
	if err != nil {
		t.Fatal(err)
	}
	err = e.Write(context.Background(), testCredential())
	if err == nil || !strings.Contains(err.Error(), `run "./does-not-exist.sh"`) {
		t.Errorf("error = %v, want one naming the command", err)
	}
}

func TestHeadBufferAndTail(t *testing.T) {
	h := &headBuffer{limit: 5}
	for _, p := range []string{"abc", "defg", "h"} {
		if n, err := h.Write([]byte(p)); n != len(p) || err != nil {
			t.Errorf("Write(%q) = %d, %v; a full buffer must still accept writes", p, n, err)
		}
	}
	if got := h.buf.String(); got != "abcde" || !h.truncated {
		t.Errorf("kept %q truncated=%v, want abcde true", got, h.truncated)
	}
	if got := lastBytes("line1\nline2\nline3", 8); got != "…line3" {
		t.Errorf("lastBytes = %q, want the last whole line", got)
	}
}

func TestExecRelativeCommandFromBaseDir(t *testing.T) {
	base := t.TempDir()
	if err := os.Symlink(os.Args[0], filepath.Join(base, "push.sh")); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	out := t.TempDir()
	sinks, err := FromStore(manifests.SecretStore{Exec: []string{"./push.sh", out}}, Deps{BaseDir: base, Environ: helperEnviron("record")})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteAll(context.Background(), sinks, testCredential()); err != nil {
		t.Fatalf("WriteAll: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "stdin.json")); err != nil {
		t.Errorf("./push.sh was not run from the base directory: %v", err)
	}
}
