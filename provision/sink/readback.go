package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrNothingHeld says a sink holds no credential: its file does not exist, its vault has no
// such secret.
var ErrNothingHeld = errors.New("no credential held")

// HeldState says what a sink was found to hold.
type HeldState int

// The states Observe reports.
const (
	// HoldsCredential: the sink holds a credential, named by Held.KeyID (empty when its
	// content carries no keyId, e.g. a file written by hand).
	HoldsCredential HeldState = iota + 1
	// HoldsNothing: there is nothing to read (no file, no secret, a disabled version).
	HoldsNothing
	// CannotReadBack: the sink only receives (a command's stdin, a CI step output).
	CannotReadBack
)

// String names the state for messages and plans.
func (s HeldState) String() string {
	switch s {
	case HoldsCredential:
		return "holds credential"
	case HoldsNothing:
		return "holds nothing"
	case CannotReadBack:
		return "cannot be read back"
	}
	return fmt.Sprintf("HeldState(%d)", int(s))
}

// Held is what a sink holds, as plan observes it. It never carries the value.
type Held struct {
	State HeldState
	// KeyID is the password credential's keyId the sink holds, when State is HoldsCredential.
	KeyID string
	// Detail says why, in a few words: "file ./creds.json does not exist", "exec sinks
	// cannot be read back".
	Detail string
}

// Observer is implemented by the sinks (all of this package's): what they hold now.
type Observer interface {
	// Observe reports which credential the sink holds. It only reads, never returns or logs
	// the value, and fails only when the sink could not be read (an error says why); a sink
	// that holds nothing or cannot be read back says so in Held.
	Observe(ctx context.Context) (Held, error)
}

// CredentialReader is implemented by the sinks that can hand the whole credential back: the
// file and the Key Vault secret.
type CredentialReader interface {
	// ReadCredential returns the credential the sink holds, its value included (for
	// `provision verify` to sign in with it); an error wrapping ErrNothingHeld when it holds
	// none. Its errors never contain the value.
	ReadCredential(ctx context.Context) (Credential, error)
}

// Observe asks s what it holds; a sink that does not implement Observer cannot be read back.
func Observe(ctx context.Context, s Sink) (Held, error) {
	if o, ok := s.(Observer); ok {
		return o.Observe(ctx)
	}
	return Held{State: CannotReadBack, Detail: s.Describe() + " cannot be read back"}, nil
}

// ReadCredential returns the credential held by the first of sinks that can hand one back,
// and the Describe of that sink. Sinks that cannot be read back or hold nothing are passed
// over; the error, when none has one, says why for each (ErrNothingHeld when nothing failed).
func ReadCredential(ctx context.Context, sinks []Sink) (Credential, string, error) {
	var reasons []string
	var failures []error
	for _, s := range sinks {
		r, ok := s.(CredentialReader)
		if !ok {
			reasons = append(reasons, s.Describe()+" cannot be read back")
			continue
		}
		c, err := r.ReadCredential(ctx)
		switch {
		case err == nil:
			return c, s.Describe(), nil
		case errors.Is(err, ErrNothingHeld):
			reasons = append(reasons, s.Describe()+" holds no credential")
		default:
			failures = append(failures, err)
		}
	}
	if len(failures) > 0 {
		return Credential{}, "", fmt.Errorf("read the credential from its sinks: %w", errors.Join(failures...))
	}
	if len(sinks) == 0 {
		return Credential{}, "", errNoSinks
	}
	return Credential{}, "", fmt.Errorf("read the credential from its sinks (%s): %w", strings.Join(reasons, "; "), ErrNothingHeld)
}

// Observe reports that a command's input cannot be read back.
func (e *Exec) Observe(context.Context) (Held, error) {
	return Held{State: CannotReadBack, Detail: "an exec sink's command receives the credential and keeps it where provision cannot look"}, nil
}

// Observe reports that a step output cannot be read back.
func (g *GitHubOutput) Observe(context.Context) (Held, error) {
	return Held{State: CannotReadBack, Detail: "a GitHub Actions step output is gone once the step ends"}, nil
}
