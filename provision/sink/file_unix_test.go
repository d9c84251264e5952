//go:build unix

package sink

import (
	"context"
	"os"
	"path/filepath"
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
			old := syscall.Umask(tc.umask)
			defer syscall.Umask(old)
			path := filepath.Join(t.TempDir(), "creds.json")
			if err := NewFile(path, "").Write(context.Background(), testCredential()); err != nil {
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
