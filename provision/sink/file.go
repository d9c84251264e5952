package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// File writes the credential's JSON document to a file readable by its owner only (0600).
// The replacement is atomic: readers see the old document or the new one, never a partial
// write, and a crash leaves no half-written file. A symbolic link at the path is followed and
// its target replaced, so a link into a consumer's config directory keeps working. Revert puts
// the previous document back (or removes the file if there was none), also at 0600.
type File struct {
	path     string // as configured, for Describe
	resolved string // joined to the base directory
	// rename is os.Rename; tests make it fail to check the temporary file is cleaned up.
	rename func(oldpath, newpath string) error
	// last is what the last successful Write replaced, for Revert.
	last *previousFile
}

// previousFile is a file's content before a Write. It may hold an older secret, so it lives
// only in memory and only until the next Write or Revert.
type previousFile struct {
	target  string
	existed bool
	data    []byte
	readErr error // the old content could not be read, so Revert cannot restore it
}

// NewFile returns a sink for path; a relative path is taken relative to baseDir, or to the
// current working directory when baseDir is empty. The parent directory must exist: provision
// does not guess the ownership and mode a missing directory should have.
func NewFile(path, baseDir string) *File {
	return &File{path: path, resolved: resolvePath(path, baseDir), rename: os.Rename}
}

// Describe names the file as configured.
func (f *File) Describe() string { return "file " + f.path }

// Write replaces the file's content with c's document.
func (f *File) Write(ctx context.Context, c Credential) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := c.Document()
	if err != nil {
		return err
	}
	target, err := f.target()
	if err != nil {
		return err
	}
	prev := &previousFile{target: target}
	switch old, err := os.ReadFile(target); {
	case err == nil:
		prev.existed, prev.data = true, old
	case !errors.Is(err, fs.ErrNotExist):
		prev.existed, prev.readErr = true, err
	}
	if err := f.replace(ctx, target, data); err != nil {
		return err
	}
	f.last = prev
	return nil
}

// Revert puts back what the last Write replaced.
func (f *File) Revert(ctx context.Context) error {
	prev := f.last
	if prev == nil {
		return nil
	}
	switch {
	case prev.readErr != nil:
		return fmt.Errorf("previous content was not readable: %w", prev.readErr)
	case !prev.existed:
		if err := os.Remove(prev.target); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", prev.target, err)
		}
		if err := syncDir(filepath.Dir(prev.target)); err != nil {
			return err
		}
	default:
		if err := f.replace(ctx, prev.target, prev.data); err != nil {
			return err
		}
	}
	f.last = nil
	return nil
}

// replace writes data to target atomically: a temporary file created 0600 in the same
// directory, written, synced, renamed over the target, then the directory synced so the
// rename itself survives a crash. On failure the temporary file is removed.
func (f *File) replace(ctx context.Context, target string, data []byte) error {
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; Chmod makes it so whatever umask stripped.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("restrict temporary file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync temporary file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("replace %s: %w", target, err)
	}
	renamed = true
	return syncDir(dir)
}

// target resolves symbolic links and checks the parent directory exists, with errors that say
// what to fix.
func (f *File) target() (string, error) {
	target := f.resolved
	if fi, err := os.Lstat(target); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		resolved, err := filepath.EvalSymlinks(target)
		if err != nil {
			return "", fmt.Errorf("follow symbolic link %s: %w", target, err)
		}
		target = resolved
	}
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		return "", fmt.Errorf("%s is a directory", target)
	}
	dir := filepath.Dir(target)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("directory %s does not exist; create it first", dir)
	case err != nil:
		return "", fmt.Errorf("check directory %s: %w", dir, err)
	case !fi.IsDir():
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	return target, nil
}

// syncDir makes a rename in dir durable. Go cannot sync a directory handle on Windows, so it
// is skipped there.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
