//go:build unix

package manifests

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadFileRefusesWhatIsNotAFile: a named pipe nobody writes to must be refused at once,
// not waited on, and so must a directory.
func TestReadFileRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("make a named pipe: %v", err)
	}
	sub := filepath.Join(dir, "sub.yaml")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reason, path, want string
	}{
		{"a named pipe with no writer would block a plain open forever", fifo, "pipe.yaml: not a regular file (a named pipe)"},
		{"a directory is not a manifest", sub, "sub.yaml: not a regular file (a directory)"},
	} {
		_, err := ReadFile(tc.path)
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\nReadFile(%s) = %v, want an error containing %q", tc.reason, tc.path, err, tc.want)
		}
	}
	data, err := ReadFile(filepath.Join("testdata", "invalid", "syntax-tab.yaml"))
	if err != nil || len(data) == 0 {
		t.Errorf("ReadFile of a regular file = %d bytes, %v", len(data), err)
	}
}
