// Package sink delivers a new client secret to where its consumers read it: a 0600 JSON file,
// an Azure Key Vault secret, a command's stdin, or a GitHub Actions step output. The engine
// writes every configured sink before it retires any older secret, so a failed delivery never
// leaves a consumer without a working credential.
//
// The value is revealed only at the last moment, inside a sink, and every error a sink or
// WriteAll returns has the value scrubbed out, whatever a child process or service echoed.
package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/sensitive"
)

// errNoSinks is returned when a secret would be delivered nowhere: creating it would be useless
// and retiring the old one afterwards would break every consumer.
var errNoSinks = errors.New("no secret sink configured")

// Sink is one place a new secret value is delivered to.
type Sink interface {
	// Describe names the sink for plans and errors, e.g. "file ./openfire-credentials.json".
	// It never contains a secret value.
	Describe() string
	// Write delivers c, replacing what the sink held. Writing the same credential again is
	// harmless. It blocks until the value is durably stored (or the command has exited 0), and
	// its error never contains the value.
	Write(ctx context.Context, c Credential) error
}

// Deps carries what FromStore needs from the outside world, so tests can replace each part.
type Deps struct {
	// KeyVaultCredential authenticates to Key Vault; required for a keyVault sink.
	KeyVaultCredential azcore.TokenCredential
	// KeyVault holds the transport (tests point it at keyvaultsim) and retry settings.
	KeyVault KeyVaultOptions
	// BaseDir is where relative file paths and a relative exec command are resolved, and the
	// command's working directory. Empty means the current working directory, which is what
	// `file: ./openfire-credentials.json` suggests to someone running provision from a shell.
	BaseDir string
	// Getenv reads the environment (GitHub Actions detection); nil means os.Getenv.
	Getenv func(string) string
	// Environ lists the environment an exec sink filters for its child; nil means os.Environ.
	Environ func() []string
	// Stdout receives GitHub's ::add-mask:: command; nil means os.Stdout.
	Stdout io.Writer
	// File tunes the file sink (whether its path may be a symbolic link).
	File FileOptions
}

func (d Deps) withDefaults() Deps {
	if d.Getenv == nil {
		d.Getenv = os.Getenv
	}
	if d.Environ == nil {
		d.Environ = os.Environ
	}
	if d.Stdout == nil {
		d.Stdout = os.Stdout
	}
	return d
}

// FromStore builds the sinks a manifest's secrets[].store asks for, in the order they are
// written: Key Vault first (a remote write, the likeliest to be refused), then the file, then
// the exec command (so a script that reloads a consumer finds the file and vault already
// updated), then the GitHub Actions output. It fails before anything is created if a sink
// cannot work here, such as githubOutput outside GitHub Actions. Build sinks per secret and
// per apply: a sink remembers its last write (for Revert) and is not safe for concurrent use.
func FromStore(store manifests.SecretStore, deps Deps) ([]Sink, error) {
	if store.Empty() {
		return nil, errNoSinks
	}
	deps = deps.withDefaults()
	var sinks []Sink
	if kv := store.KeyVault; kv != nil {
		s, err := NewKeyVault(kv.URL, kv.Name, deps.KeyVaultCredential, deps.KeyVault)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	if store.File != "" {
		sinks = append(sinks, NewFile(store.File, deps.BaseDir, deps.File))
	}
	if len(store.Exec) > 0 {
		s, err := NewExec(store.Exec, deps.BaseDir, deps.Environ)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	if store.GitHubOutput {
		s, err := NewGitHubOutput(deps.Getenv, deps.Stdout)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}

// Reverter is implemented by sinks that can put back what they held before their last Write,
// so a delivery that fails half-way does not leave a consumer with a value about to be
// removed. Only the file sink can: a vault version, a command's effects and an Actions output
// cannot be taken back.
type Reverter interface {
	// Revert undoes the last successful Write; it is a no-op if there was none.
	Revert(ctx context.Context) error
}

// WriteError says which sink refused a credential, which had already received it, and which of
// those were restored, so the caller can tell the user which still hold a value it is about to
// remove (Written minus Reverted).
type WriteError struct {
	Sink      string   // Describe of the failing sink
	Written   []string // Describe of the sinks written before it, in order
	Reverted  []string // those of Written whose previous content was put back
	Err       error    // the sink's error, value scrubbed
	RevertErr error    // what went wrong putting previous content back, if anything
}

// Error names the failing sink.
func (e *WriteError) Error() string { return "write secret to " + e.Sink + ": " + e.Err.Error() }

// Unwrap returns the sink's (scrubbed) error.
func (e *WriteError) Unwrap() error { return e.Err }

// WriteAll writes c to every sink in order and stops at the first failure with a *WriteError,
// after reverting the sinks already written that can be (newest first). The caller must not
// retire older secrets unless it returns nil.
func WriteAll(ctx context.Context, sinks []Sink, c Credential) error {
	if len(sinks) == 0 {
		return errNoSinks
	}
	if err := c.Validate(); err != nil {
		return err
	}
	for i, s := range sinks {
		err := s.Write(ctx, c)
		if err == nil {
			continue
		}
		we := &WriteError{Sink: s.Describe(), Err: sensitive.Scrub(err, c.Secret)}
		var revertErrs []error
		for j := i - 1; j >= 0; j-- {
			we.Written = append([]string{sinks[j].Describe()}, we.Written...)
			r, ok := sinks[j].(Reverter)
			if !ok {
				continue
			}
			// Reverting must happen even when ctx is what failed the write.
			if err := r.Revert(context.WithoutCancel(ctx)); err != nil {
				revertErrs = append(revertErrs, fmt.Errorf("restore %s: %w", sinks[j].Describe(), err))
				continue
			}
			we.Reverted = append([]string{sinks[j].Describe()}, we.Reverted...)
		}
		we.RevertErr = sensitive.Scrub(errors.Join(revertErrs...), c.Secret)
		return we
	}
	return nil
}

// resolvePath joins a relative path to base (when base is set).
func resolvePath(path, base string) string {
	if base == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(base, path)
}
