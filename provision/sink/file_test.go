package sink

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dirEntries lists the names in dir, to catch temporary files left behind.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestFileWrite(t *testing.T) {
	want, err := testCredential().Document()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		reason string
		before func(t *testing.T, dir string) // prepares dir
		path   string
	}{
		{"a new file is created", func(*testing.T, string) {}, "creds.json"},
		{"an existing file, world-readable, is replaced and becomes 0600", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "creds.json"), []byte(`{"secret":"old value"}`+strings.Repeat(" ", 8192)), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "creds.json"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			dir := t.TempDir()
			tc.before(t, dir)
			path := filepath.Join(dir, tc.path)
			if err := NewFile(path, "", FileOptions{}).Write(context.Background(), testCredential()); err != nil {
				t.Fatalf("Write: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("mode = %o, want 600", mode)
			}
			if diff := cmp.Diff([]string{tc.path}, dirEntries(t, dir)); diff != "" {
				t.Errorf("directory holds more than the file (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFileWriteFailures(t *testing.T) {
	cases := []struct {
		reason  string
		setup   func(t *testing.T, dir string) *File
		wantErr string
		left    []string // what the directory holds afterwards
	}{
		{
			reason: "a missing parent directory is named, not created",
			setup: func(t *testing.T, dir string) *File {
				return NewFile(filepath.Join(dir, "missing", "creds.json"), "", FileOptions{})
			},
			wantErr: "missing does not exist; create it first",
		},
		{
			reason: "a parent that is a file is reported",
			setup: func(t *testing.T, dir string) *File {
				if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return NewFile(filepath.Join(dir, "plain", "creds.json"), "", FileOptions{})
			},
			wantErr: "plain is not a directory",
			left:    []string{"plain"},
		},
		{
			reason: "a directory at the path is not replaced",
			setup: func(t *testing.T, dir string) *File {
				if err := os.Mkdir(filepath.Join(dir, "creds.json"), 0o700); err != nil {
					t.Fatal(err)
				}
				return NewFile(filepath.Join(dir, "creds.json"), "", FileOptions{})
			},
			wantErr: "creds.json is a directory",
			left:    []string{"creds.json"},
		},
		{
			reason: "a failed rename leaves the old file as it was and no temporary file",
			setup: func(t *testing.T, dir string) *File {
				if err := os.WriteFile(filepath.Join(dir, "creds.json"), []byte("old"), 0o600); err != nil {
					t.Fatal(err)
				}
				f := NewFile(filepath.Join(dir, "creds.json"), "", FileOptions{})
				f.rename = func(string, string) error { return errors.New("disk on fire") }
				return f
			},
			wantErr: "disk on fire",
			left:    []string{"creds.json"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			dir := t.TempDir()
			f := tc.setup(t, dir)
			err := f.Write(context.Background(), testCredential())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaked the secret: %v", err)
			}
			if diff := cmp.Diff(tc.left, dirEntries(t, dir)); diff != "" {
				t.Errorf("directory afterwards (-want +got):\n%s", diff)
			}
		})
	}
	// The failed rename must not have touched the old content.
	dir := t.TempDir()
	path := filepath.Join(dir, "creds.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := NewFile(path, "", FileOptions{})
	f.rename = func(string, string) error { return errors.New("disk on fire") }
	_ = f.Write(context.Background(), testCredential())
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("old content became %q", got)
	}
}

// symlinkTo makes dir/creds.json a link to dir/app/secret.json holding "old", 0644.
func symlinkTo(t *testing.T, dir string) (link, target string) {
	t.Helper()
	target = filepath.Join(dir, "app", "secret.json")
	if err := os.Mkdir(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link = filepath.Join(dir, "creds.json")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	return link, target
}

func TestFileRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	link, target := symlinkTo(t, dir)
	err := NewFile("creds.json", dir, FileOptions{}).Write(context.Background(), testCredential())
	if err == nil || !strings.Contains(err.Error(), link+" is a symbolic link") || !strings.Contains(err.Error(), "allow links") {
		t.Fatalf("Write through a link: error %v, want a refusal that names the link and the way out", err)
	}
	if got, _ := os.ReadFile(target); string(got) != "old" {
		t.Errorf("the link's target became %q; it must be left alone", got)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced (%v)", err)
	}
	if diff := cmp.Diff([]string{"app", "creds.json"}, dirEntries(t, dir)); diff != "" {
		t.Errorf("directory afterwards (-want +got):\n%s", diff)
	}
	if _, err := NewFile("creds.json", dir, FileOptions{}).Observe(context.Background()); err == nil {
		t.Error("Observe read through the link; it follows the same rules as Write")
	}
}

func TestFileFollowsSymlinkWhenAllowed(t *testing.T) {
	dir := t.TempDir()
	link, target := symlinkTo(t, dir)
	if err := NewFile("creds.json", dir, FileOptions{FollowSymlink: true}).Write(context.Background(), testCredential()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file (%v)", err)
	}
	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), testSecret) {
		t.Errorf("link target not updated: %s", got)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o600 {
		t.Errorf("the target's mode is %o, want 600", fi.Mode().Perm())
	}
}

func TestWriteAllRevertsFile(t *testing.T) {
	cases := []struct {
		reason  string
		before  []byte // nil: no file before
		wantAft []byte // nil: no file after
	}{
		{"a replaced file gets its previous document back", []byte(`{"secret":"previous, still valid"}`), []byte(`{"secret":"previous, still valid"}`)},
		{"a file that did not exist is removed again", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "creds.json")
			if tc.before != nil {
				if err := os.WriteFile(path, tc.before, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			unrevertable := &fakeSink{name: "vault"}
			file := NewFile(path, "", FileOptions{})
			failing := &fakeSink{name: "exec ./push.sh", err: errors.New("exit status 1")}
			err := WriteAll(context.Background(), []Sink{unrevertable, file, failing}, testCredential())
			var we *WriteError
			if !errors.As(err, &we) {
				t.Fatalf("error = %v, want a *WriteError", err)
			}
			got := map[string]any{"sink": we.Sink, "written": we.Written, "reverted": we.Reverted, "revertErr": we.RevertErr}
			want := map[string]any{
				"sink": "exec ./push.sh", "written": []string{"vault", "file " + path},
				"reverted": []string{"file " + path}, "revertErr": error(nil),
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("write error (-want +got):\n%s", diff)
			}
			after, err := os.ReadFile(path)
			if tc.wantAft == nil {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("file still there after revert (%v): %s", err, after)
				}
			} else if string(after) != string(tc.wantAft) {
				t.Errorf("after revert = %s, want %s", after, tc.wantAft)
			}
			var left []string
			if tc.wantAft != nil {
				left = []string{"creds.json"}
			}
			if diff := cmp.Diff(left, dirEntries(t, dir)); diff != "" {
				t.Errorf("directory after revert (-want +got):\n%s", diff)
			}
		})
	}
}
