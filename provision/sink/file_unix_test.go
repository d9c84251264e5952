//go:build unix

package sink

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFileModeUnderUmask checks the file is 0600 whatever the umask: a permissive one must not
// widen it, one that strips the owner's bits must not leave it unreadable. Umask is process
// wide, so this test does not run in parallel.
func TestFileModeUnderUmask(t *testing.T) {
	for _, tc := range []struct {
		reason string
		umask  int
	}{
		{"a permissive umask does not widen the mode", 0o000},
		{"a umask stripping the owner's write bit does not narrow it", 0o277},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "creds.json") // made before the umask changes
			old := syscall.Umask(tc.umask)
			defer syscall.Umask(old)
			if err := NewFile(path, "", FileOptions{}).Write(context.Background(), testCredential()); err != nil {
				t.Fatalf("Write: %v", err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("mode = %o, want 600", mode)
			}
		})
	}
}

func TestFileRefusesADirectoryEveryoneMayWrite(t *testing.T) {
	cases := []struct {
		reason  string
		mode    os.FileMode
		wantErr string // empty: the write succeeds
	}{
		{"a directory every user may write to could have its file swapped", 0o777, "may be written by every user"},
		{"the sticky bit stops others removing the file, as in /tmp", 0o777 | os.ModeSticky, ""},
		{"a group-writable directory is the owner's choice", 0o770, ""},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "shared")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			err := NewFile(filepath.Join(dir, "creds.json"), "", FileOptions{}).Write(context.Background(), testCredential())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Write: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "chmod o-w")):
				t.Fatalf("Write: error %v, want one containing %q and the fix", err, tc.wantErr)
			}
		})
	}
}

func TestFileRefusesAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.json")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	f := NewFile(path, "", FileOptions{})
	// Reading a FIFO would block until a writer came; the checks refuse it first.
	if _, err := f.Observe(context.Background()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Observe of a FIFO: error %v, want a refusal", err)
	}
	if err := f.Write(context.Background(), testCredential()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Write over a FIFO: error %v, want a refusal", err)
	}
}
