// Package lockfile takes an exclusive advisory lock on a file, so that provision runs on one
// machine for the same application take turns (two rotations at once would each count the
// other's new credential as "previous" and retire what consumers use). The lock is the
// operating system's (flock on unix, LockFileEx on Windows): it ends with the process, so a
// run that is killed never leaves a stale lock behind.
//
// The lock is advisory: it binds only processes that take it. The file is never removed,
// since a waiter that opened it before the removal would lock a file no one else sees.
package lockfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Poll bounds between two tries while the lock is held elsewhere: short at first, so a run
// that waits on a quick one goes on at once, then at most a quarter of a second.
const (
	firstPoll = 10 * time.Millisecond
	maxPoll   = 250 * time.Millisecond
)

// Lock is an exclusive lock held on a file until Release.
type Lock struct {
	f    *os.File
	path string
}

// Options tune Acquire.
type Options struct {
	// Waiting, when set, is called once when the lock is found held by another process, with
	// what that process wrote in the file ("pid 4242 on build-7 since 2026-11-22T09:00:00Z"),
	// so the caller can say on stderr whom it waits for.
	Waiting func(holder string)
}

// Path is the lock file for key (for example a tenant and an application's name) in the
// user's cache directory, under provision/locks, which it creates (0700). The name keeps a
// readable part of key and a hash of all of it, so any key is a valid file name.
func Path(key string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the lock directory: %w", err)
	}
	dir := filepath.Join(cache, "provision", "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create the lock directory: %w", err)
	}
	return filepath.Join(dir, FileName(key)), nil
}

// FileName is the lock file name Path uses for key.
func FileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	readable := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, key)
	if len(readable) > 48 {
		readable = readable[:48]
	}
	return strings.Trim(readable, "._") + "-" + hex.EncodeToString(sum[:6]) + ".lock"
}

// TryAcquire takes the lock on path (creating the file, 0600) if no one holds it; ok is false
// when another process (or another open file in this one) does.
func TryAcquire(path string) (l *Lock, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("open lock file %s: %w", path, err)
	}
	locked, err := tryLock(f)
	if err != nil || !locked {
		_ = f.Close()
		if err != nil {
			return nil, false, fmt.Errorf("lock %s: %w", path, err)
		}
		return nil, false, nil
	}
	l = &Lock{f: f, path: path}
	l.sign()
	return l, true, nil
}

// Acquire takes the lock on path, waiting while another process holds it, until ctx ends
// (then it returns ctx's error, wrapped).
func Acquire(ctx context.Context, path string, opts Options) (*Lock, error) {
	told := false
	poll := firstPoll
	for {
		l, ok, err := TryAcquire(path)
		if err != nil || ok {
			return l, err
		}
		if !told && opts.Waiting != nil {
			opts.Waiting(holder(path))
			told = true
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("wait for the lock %s (held by %s): %w", path, holder(path), ctx.Err())
		case <-t.C:
		}
		poll = min(poll*2, maxPoll)
	}
}

// Release gives the lock up. It is safe to call more than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	errUnlock := unlock(f)
	if err := errors.Join(errUnlock, f.Close()); err != nil {
		return fmt.Errorf("release lock %s: %w", l.path, err)
	}
	return nil
}

// sign writes who holds the lock into the file, for waiters to show. It is best effort: the
// lock is what counts.
func (l *Lock) sign() {
	host, _ := os.Hostname()
	line := fmt.Sprintf("pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := l.f.Truncate(0); err == nil {
		_, _ = l.f.WriteAt([]byte(line), 0)
	}
}

// holder reads who signed the lock file; "another process" when it says nothing.
func holder(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "another process"
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 256))
	if s := strings.TrimSpace(string(b)); s != "" {
		return s
	}
	return "another process"
}
