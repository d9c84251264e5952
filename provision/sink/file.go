package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/provisionhq/provision/provision/sensitive"
)

// File writes the credential's JSON document to a file readable by its owner only (0600).
// The replacement is atomic: readers see the old document or the new one, never a partial
// write, and a crash leaves no half-written file. Revert puts the previous document back (or
// removes the file if there was none), also at 0600.
//
// provision often runs as root in CI, in workspaces other jobs can write to. So by default a
// symbolic link at the path is refused (one planted there would make provision overwrite any
// file it points at), and so is a parent directory that every user may write to without the
// sticky bit (anyone could swap the file). FileOptions.FollowSymlink allows a link, whose
// target is then replaced, for a link into a consumer's config directory made on purpose.
type File struct {
	path     string // as configured, for Describe
	resolved string // joined to the base directory
	opts     FileOptions
	// rename is os.Rename; tests make it fail to check the temporary file is cleaned up.
	rename func(oldpath, newpath string) error
	// last is what the last successful Write replaced, for Revert.
	last *previousFile
}

// FileOptions tune a File sink.
type FileOptions struct {
	// FollowSymlink lets the path be a symbolic link: its target is read and replaced.
	FollowSymlink bool
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
func NewFile(path, baseDir string, opts FileOptions) *File {
	return &File{path: path, resolved: resolvePath(path, baseDir), opts: opts, rename: os.Rename}
}

// Path is the file's path joined to the base directory, as it is written (before any link is
// followed): what a check such as "is it inside a git work tree" should look at.
func (f *File) Path() string { return f.resolved }

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

// target checks the path and returns the file to replace: the path itself, or the target of
// a symbolic link when FollowSymlink allows one. Errors say what to fix.
func (f *File) target() (string, error) {
	target := f.resolved
	fi, err := os.Lstat(target)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if !f.opts.FollowSymlink {
			return "", fmt.Errorf("%s is a symbolic link; provision does not write credentials through a link, since one planted "+
				"there could point it at any file: give the path of the real file, or allow links for this sink", target)
		}
		resolved, err := filepath.EvalSymlinks(target)
		if err != nil {
			return "", fmt.Errorf("follow symbolic link %s: %w", target, err)
		}
		target = resolved
		fi, err = os.Lstat(target)
	}
	switch {
	case err == nil && fi.IsDir():
		return "", fmt.Errorf("%s is a directory", target)
	case err == nil && !fi.Mode().IsRegular():
		return "", fmt.Errorf("%s is not a regular file (%s)", target, fi.Mode().Type())
	}
	fileErr := err
	dir := filepath.Dir(target)
	dfi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("directory %s does not exist; create it first", dir)
	case err != nil:
		return "", fmt.Errorf("check directory %s: %w", dir, err)
	case !dfi.IsDir():
		return "", fmt.Errorf("%s is not a directory", dir)
	case writableByOthers(dfi.Mode()):
		return "", fmt.Errorf("directory %s may be written by every user (mode %s) and has no sticky bit, so anyone could "+
			"replace the credentials file: keep it in a directory only its owner can write to (chmod o-w %s)", dir, dfi.Mode().Perm(), dir)
	case fileErr != nil && !errors.Is(fileErr, fs.ErrNotExist):
		return "", fmt.Errorf("check %s: %w", target, fileErr)
	}
	return target, nil
}

// writableByOthers reports a directory any user may create and remove entries in. Windows
// reports no such bits (its ACLs decide), so nothing is refused there.
func writableByOthers(mode fs.FileMode) bool {
	return runtime.GOOS != "windows" && mode.Perm()&0o002 != 0 && mode&fs.ModeSticky == 0
}

// Observe reports which credential the file holds: the keyId of its document, nothing when
// the file does not exist. It reads the document without the value leaving this function.
func (f *File) Observe(ctx context.Context) (Held, error) {
	d, found, err := f.readDocument(ctx)
	switch {
	case err != nil:
		return Held{}, err
	case !found:
		return Held{State: HoldsNothing, Detail: "file " + f.path + " does not exist"}, nil
	}
	return Held{State: HoldsCredential, KeyID: d.KeyID}, nil
}

// ReadCredential returns the credential the file holds, or ErrNothingHeld when there is no file.
func (f *File) ReadCredential(ctx context.Context) (Credential, error) {
	d, found, err := f.readDocument(ctx)
	switch {
	case err != nil:
		return Credential{}, err
	case !found:
		return Credential{}, fmt.Errorf("read %s: %w", f.Describe(), ErrNothingHeld)
	}
	c := Credential{
		TenantID: d.TenantID, ClientID: d.ClientID, KeyID: d.KeyID, DisplayName: d.Name,
		Secret: sensitive.New(d.Secret), Hint: d.Hint,
		Authority: d.Authority, TokenEndpoint: d.TokenEndpoint, GraphScope: d.Scopes.Graph, MailScope: d.Scopes.Mail,
		SMTP: d.Mail.SMTP.endpoint(), IMAP: d.Mail.IMAP.endpoint(), POP: d.Mail.POP.endpoint(),
	}
	for _, t := range []struct {
		field string
		raw   string
		into  *time.Time
	}{{"createdAt", d.CreatedAt, &c.CreatedAt}, {"expiresAt", d.ExpiresAt, &c.ExpiresAt}} {
		if t.raw == "" {
			continue
		}
		parsed, err := time.Parse(time.RFC3339, t.raw)
		if err != nil {
			return Credential{}, fmt.Errorf("read %s: %s %q is not an RFC 3339 time", f.Describe(), t.field, t.raw)
		}
		*t.into = parsed
	}
	if err := c.Validate(); err != nil {
		return Credential{}, fmt.Errorf("read %s: %w", f.Describe(), err)
	}
	return c, nil
}

// readDocument reads and decodes the file under the same rules as Write (no link unless
// allowed, a regular file only, so a FIFO cannot block the read). found is false when the file
// does not exist.
func (f *File) readDocument(ctx context.Context) (document, bool, error) {
	if err := ctx.Err(); err != nil {
		return document{}, false, err
	}
	target, err := f.target()
	if err != nil {
		return document{}, false, fmt.Errorf("read %s: %w", f.Describe(), err)
	}
	data, err := os.ReadFile(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return document{}, false, nil
	case err != nil:
		return document{}, false, fmt.Errorf("read %s: %w", f.Describe(), err)
	}
	var d document
	if err := json.Unmarshal(data, &d); err != nil {
		// encoding/json's errors quote no values, only types and offsets.
		return document{}, false, fmt.Errorf("read %s: not a credentials document: %w", f.Describe(), err)
	}
	if d.Format > DocumentFormat {
		return document{}, false, fmt.Errorf("read %s: document format %d is newer than this provision's %d; upgrade provision", f.Describe(), d.Format, DocumentFormat)
	}
	return d, true, nil
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
