//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestManifestReadErrors: a manifest that cannot be read is an I/O error, exit 1, whatever
// the reason; exit 3 is kept for manifests that were read and are invalid.
func TestManifestReadErrors(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop.yaml")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "pipe.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	withSub := filepath.Join(dir, "manifests")
	if err := os.MkdirAll(filepath.Join(withSub, "x.yaml"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withSub, "a.yaml"), []byte("apiVersion: provision/v1\napplication: {name: A}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	invalid := filepath.Join(dir, "invalid.yaml")
	if err := os.WriteFile(invalid, []byte("apiVersion: provision/v2\napplication: {name: A}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reason  string
		arg     string
		want    int
		wantErr string
	}{
		{"a missing file", filepath.Join(dir, "missing.yaml"), exitError, "missing.yaml: no such file or directory"},
		{"an unreadable file", loop, exitError, "loop.yaml: too many levels of symbolic links"},
		{"a named pipe is refused at once, not waited on", fifo, exitError, "pipe.yaml: not a regular file (a named pipe)"},
		{"a directory's subdirectory named like a manifest is reported, not skipped", withSub, exitError,
			filepath.Join(withSub, "x.yaml") + " is a directory, not a manifest file"},
		{"an invalid manifest is exit 3", invalid, exitInvalidManifest, "unsupported apiVersion"},
	} {
		for _, cmd := range []string{"validate", "plan"} {
			c := &cli{}
			args := []string{cmd, tc.arg}
			if cmd == "plan" {
				args = append(args, "--simulate="+filepath.Join(dir, "state.json"))
			}
			if code := c.run(t, args...); code != tc.want {
				t.Errorf("%s: %s exited %d, want %d; stderr %s", tc.reason, cmd, code, tc.want, c.stderr.String())
			}
			if !strings.Contains(c.stderr.String(), tc.wantErr) {
				t.Errorf("%s: %s: stderr %q lacks %q", tc.reason, cmd, c.stderr.String(), tc.wantErr)
			}
		}
	}
	if os.Geteuid() != 0 { // root reads whatever the mode says
		noRead := filepath.Join(dir, "secret.yaml")
		if err := os.WriteFile(noRead, []byte("apiVersion: provision/v1\n"), 0o000); err != nil {
			t.Fatal(err)
		}
		c := &cli{}
		if code := c.run(t, "validate", noRead); code != exitError || !strings.Contains(c.stderr.String(), "permission denied") {
			t.Errorf("a file without read permission: exit %d, stderr %q; want 1 and permission denied", code, c.stderr.String())
		}
	}
}
