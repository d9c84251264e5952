package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/provisionhq/provision/provision/sensitive"
)

// GitHubOutput hands the credential to later steps of a GitHub Actions job as step outputs
// client-secret, client-id, tenant-id, key-id and expires-at (steps.<id>.outputs.client-secret).
//
// It first prints ::add-mask::<value> on stdout. That line is the one place provision writes
// the value to stdout, on purpose: it is how a step tells the runner to mask the value in
// every later log line, and the runner does not echo the command itself. GitHub will not pass
// a masked value on as a job output, so a consumer in another job must read it from a store
// (Key Vault) instead.
type GitHubOutput struct {
	getenv func(string) string
	stdout io.Writer
}

// NewGitHubOutput returns the sink if this process runs as a GitHub Actions step
// (GITHUB_ACTIONS=true and GITHUB_OUTPUT set); elsewhere there is nowhere to deliver to, and
// failing now, before a secret is created, is better than creating one nobody receives.
func NewGitHubOutput(getenv func(string) string, stdout io.Writer) (*GitHubOutput, error) {
	g := &GitHubOutput{getenv: getenv, stdout: stdout}
	if _, err := g.outputPath(); err != nil {
		return nil, err
	}
	return g, nil
}

// Describe names the sink.
func (g *GitHubOutput) Describe() string { return "GitHub Actions step output" }

func (g *GitHubOutput) outputPath() (string, error) {
	if g.getenv("GITHUB_ACTIONS") != "true" {
		return "", errors.New("githubOutput works only in a GitHub Actions step (GITHUB_ACTIONS is not true)")
	}
	path := g.getenv("GITHUB_OUTPUT")
	if path == "" {
		return "", errors.New("githubOutput: GITHUB_OUTPUT is not set")
	}
	return path, nil
}

// Write masks the value, then appends the outputs to the file named by $GITHUB_OUTPUT.
func (g *GitHubOutput) Write(ctx context.Context, c Credential) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	path, err := g.outputPath()
	if err != nil {
		return err
	}
	secret := c.Secret.Reveal()
	if strings.ContainsAny(secret, "\r\n") {
		// A mask covers one line; a multi-line value would leak its other lines.
		return errors.New("secret value spans lines; the runner cannot mask it")
	}
	if _, err := fmt.Fprintf(g.stdout, "::add-mask::%s\n", escapeCommandData(secret)); err != nil {
		return fmt.Errorf("print add-mask command: %w", err)
	}
	var b strings.Builder
	for _, o := range []struct{ name, value string }{
		{"client-secret", secret},
		{"client-id", c.ClientID},
		{"tenant-id", c.TenantID},
		{"key-id", c.KeyID},
		{"expires-at", c.ExpiresAt.UTC().Format(time.RFC3339)},
	} {
		delim, err := delimiter(o.value)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", o.name, delim, o.value, delim)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return sensitive.Scrub(fmt.Errorf("open GITHUB_OUTPUT file: %w", err), c.Secret)
	}
	// One write, so a concurrent appender cannot interleave inside a value.
	if _, err := f.WriteString(b.String()); err != nil {
		_ = f.Close()
		return fmt.Errorf("append to GITHUB_OUTPUT file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close GITHUB_OUTPUT file: %w", err)
	}
	return nil
}

// delimiter is a random heredoc delimiter that does not occur in value, so a value cannot end
// the block early and inject outputs of its own.
func delimiter(value string) (string, error) {
	for {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("make output delimiter: %w", err)
		}
		d := "ghadelimiter_" + hex.EncodeToString(b[:])
		if !strings.Contains(value, d) {
			return d, nil
		}
	}
}

// escapeCommandData escapes a workflow command's data as the Actions toolkit does, so the
// runner unescapes it back to the exact value before masking.
func escapeCommandData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}
