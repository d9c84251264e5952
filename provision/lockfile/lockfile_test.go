package lockfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// childEnv makes the test binary run TestChildHoldsTheLock as a lock holder: it takes the
// lock on the named file, prints "locked", and holds it until its stdin closes.
const childEnv = "PROVISION_LOCKFILE_CHILD"

func TestChildHoldsTheLock(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("runs only as the child of TestTwoProcesses")
	}
	l, err := Acquire(context.Background(), path, Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	if err := l.Release(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// startHolder runs a child process that holds the lock on path.
func startHolder(t *testing.T, path string) (*exec.Cmd, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildHoldsTheLock$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("child said %q, %v; want \"locked\"", line, err)
	}
	return cmd, func() { _ = stdin.Close() }
}

func TestTwoProcesses(t *testing.T) {
	cases := []struct {
		reason string
		end    func(cmd *exec.Cmd, release func())
	}{
		{"the holder releases the lock", func(_ *exec.Cmd, release func()) { release() }},
		{"the holder is killed: the system ends its lock, nothing stale is left", func(cmd *exec.Cmd, _ func()) { _ = cmd.Process.Kill() }},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.lock")
			cmd, release := startHolder(t, path)
			if _, ok, err := TryAcquire(path); err != nil || ok {
				t.Fatalf("TryAcquire while the child holds the lock: ok %v, %v; want not ok", ok, err)
			}
			var told string
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			_, err := Acquire(ctx, path, Options{Waiting: func(h string) { told = h }})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Acquire while held: %v, want the context's deadline", err)
			}
			if want := fmt.Sprintf("pid %d on ", cmd.Process.Pid); !strings.HasPrefix(told, want) || !strings.Contains(err.Error(), want) {
				t.Errorf("Waiting was told %q and the error says %q; want both to name %q", told, err, want)
			}
			tc.end(cmd, release)
			ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l, err := Acquire(ctx, path, Options{})
			if err != nil {
				t.Fatalf("Acquire after the holder ended: %v", err)
			}
			if err := l.Release(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestTwoDescriptorsInOneProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.lock")
	first, ok, err := TryAcquire(path)
	if err != nil || !ok {
		t.Fatalf("first TryAcquire: ok %v, %v", ok, err)
	}
	if _, ok, err := TryAcquire(path); err != nil || ok {
		t.Fatalf("second TryAcquire while the first holds: ok %v, %v; want not ok", ok, err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := Acquire(context.Background(), path, Options{})
		if err == nil {
			err = l.Release()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Acquire returned %v while the lock was held", err)
	case <-time.After(30 * time.Millisecond):
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Errorf("Acquire after Release: %v", err)
	}
	if err := first.Release(); err != nil {
		t.Errorf("a second Release: %v, want nil", err)
	}
}

func TestFileName(t *testing.T) {
	cases := []struct {
		reason, key, want string
	}{
		{"a plain key stays readable", "contoso/openfire-mail", "contoso_openfire-mail-"},
		{"separators become underscores, leading dots go", "../../etc/passwd", "etc_passwd-"},
	}
	for _, tc := range cases {
		got := FileName(tc.key)
		if !strings.HasPrefix(got, tc.want) || !strings.HasSuffix(got, ".lock") || strings.ContainsAny(got, `/\`) {
			t.Errorf("%s: FileName(%q) = %q, want %q… .lock without separators", tc.reason, tc.key, got, tc.want)
		}
	}
	if FileName("a/b") == FileName("a_b") {
		t.Error("two keys that read alike share a lock file: the hash must tell them apart")
	}
}
