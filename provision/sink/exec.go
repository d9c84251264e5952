package sink

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/provisionhq/provision/provision/sensitive"
)

// Exec limits; a command that needs longer can be given a deadline through the context.
const (
	// DefaultExecTimeout bounds a command whose context has no earlier deadline, so a hung
	// script cannot hold an apply forever.
	DefaultExecTimeout = 5 * time.Minute
	// execOutputCapture is how much of the command's output is kept for an error message.
	execOutputCapture = 64 << 10
	// execOutputShown is how much of that (the end, where errors are) an error message shows.
	execOutputShown = 2 << 10
	// execWaitDelay is how long Wait waits for the output pipes after the command was killed,
	// in case a grandchild still holds them.
	execWaitDelay = 2 * time.Second
)

// Exec runs a command and hands it the credential's JSON document on stdin. The value is never
// put in the command's arguments or environment, where other local users could read it
// (/proc/<pid>/cmdline, /proc/<pid>/environ) and where tools log it. The command must exit 0.
//
// The child inherits provision's environment minus variables that carry credentials: any
// whose name contains SECRET, PASSWORD, PASSWD, TOKEN, CREDENTIAL, PRIVATE_KEY, API_KEY,
// ACCESS_KEY or CLIENT_CERTIFICATE (AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE,
// GITHUB_TOKEN, ACTIONS_ID_TOKEN_REQUEST_TOKEN...), and any whose value contains the new
// secret. PATH, HOME, proxies and the like pass through, so ordinary scripts work.
//
// Its stdout and stderr are captured, never shown on success, and on failure the last part is
// put in the error with the secret scrubbed out.
type Exec struct {
	argv    []string
	dir     string
	environ func() []string
	timeout time.Duration
}

// NewExec returns a sink running argv in dir (the current directory when empty); a relative
// command path such as ./push.sh is resolved against dir, a bare name through PATH.
func NewExec(argv []string, dir string, environ func() []string) (*Exec, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("exec sink needs a command")
	}
	return &Exec{argv: append([]string(nil), argv...), dir: dir, environ: environ, timeout: DefaultExecTimeout}, nil
}

// Describe shows the command line, arguments quoted where needed.
func (e *Exec) Describe() string { return "exec " + quoteArgs(e.argv) }

// Write runs the command with the document on stdin and waits for it to exit.
func (e *Exec) Write(ctx context.Context, c Credential) error {
	data, err := c.Document()
	if err != nil {
		return err
	}
	secret := c.Secret
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.argv[0], e.argv[1:]...)
	cmd.Dir = e.dir
	cmd.Env = childEnv(e.environ(), secret.Reveal())
	cmd.Stdin = bytes.NewReader(data)
	out := &headBuffer{limit: execOutputCapture}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = execWaitDelay
	err = cmd.Run()
	if err == nil {
		return nil
	}
	var status string
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		status = "stopped: " + ctx.Err().Error()
	case errors.As(err, &exitErr):
		status = exitErr.ProcessState.String()
	default:
		status = err.Error()
	}
	output := sensitive.ScrubText(out.buf.String(), secret)
	if out.truncated {
		output = trimPartial(output, secret)
	}
	msg := "run " + strconv.Quote(e.argv[0]) + ": " + status
	if shown := lastBytes(strings.TrimSpace(output), execOutputShown); shown != "" {
		msg += "; output:\n" + shown
	}
	return sensitive.NewScrubbedError(sensitive.ScrubText(msg, secret), ctxCause(ctx, err))
}

// ctxCause keeps context errors recognisable with errors.Is after scrubbing.
func ctxCause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// childEnv filters parent for a child that must not see provision's own credentials.
func childEnv(parent []string, secret string) []string {
	markers := []string{"SECRET", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL", "PRIVATE_KEY", "API_KEY", "ACCESS_KEY", "CLIENT_CERTIFICATE"}
	env := make([]string, 0, len(parent))
next:
	for _, kv := range parent {
		name, value, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		for _, m := range markers {
			if strings.Contains(upper, m) {
				continue next
			}
		}
		if secret != "" && strings.Contains(value, secret) {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// headBuffer keeps the first limit bytes written to it and drops the rest, so a chatty
// command cannot exhaust memory.
type headBuffer struct {
	buf       bytes.Buffer
	limit     int
	truncated bool
}

func (h *headBuffer) Write(p []byte) (int, error) {
	room := h.limit - h.buf.Len()
	if room < len(p) {
		h.truncated = true
		if room > 0 {
			h.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return h.buf.Write(p)
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return "…" + s
}

func quoteArgs(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`") {
			a = strconv.Quote(a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}

// trimPartial removes a trailing piece of text that is the start of secret (at least four
// characters), left behind when output capture was cut in the middle of the value.
func trimPartial(text string, secret sensitive.String) string {
	v := secret.Reveal()
	for n := min(len(v)-1, len(text)); n >= 4; n-- {
		if strings.HasSuffix(text, v[:n]) {
			return text[:len(text)-n] + sensitive.Mask
		}
	}
	return text
}
