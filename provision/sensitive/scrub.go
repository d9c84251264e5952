package sensitive

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// Scrub returns err unchanged when its text does not hold the secret, else an error whose text
// has every spelling of the secret replaced by Mask. The replacement keeps nothing of err,
// whose text still holds the value (not even for %#v or errors.As), except which context
// error it was, so callers can still branch on cancellation with errors.Is.
func Scrub(err error, secret String) error {
	if err == nil || secret.IsZero() {
		return err
	}
	msg := err.Error()
	clean := ScrubText(msg, secret)
	if clean == msg {
		return err
	}
	return NewScrubbedError(clean, err)
}

// ScrubText replaces the secret in text, raw and in the escaped forms a program is likely to
// print it in (JSON string, Go quoting, URL query encoding).
func ScrubText(text string, secret String) string {
	v := secret.Reveal()
	if v == "" {
		return text
	}
	quoted := strconv.Quote(v)
	for _, f := range []string{v, jsonEscaped(v), quoted[1 : len(quoted)-1], url.QueryEscape(v)} {
		if f != "" {
			text = strings.ReplaceAll(text, f, Mask)
		}
	}
	return text
}

// NewScrubbedError returns an error with text msg, already free of secrets, that answers
// errors.Is like cause does for context.Canceled and context.DeadlineExceeded and keeps
// nothing else of cause.
func NewScrubbedError(msg string, cause error) error {
	e := &scrubbedError{msg: msg}
	for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(cause, c) {
			e.ctxErr = c
		}
	}
	return e
}

// scrubbedError is an error whose text had a secret replaced by the mask.
type scrubbedError struct {
	msg    string
	ctxErr error // context.Canceled, context.DeadlineExceeded or nil
}

func (e *scrubbedError) Error() string { return e.msg }

func (e *scrubbedError) Is(target error) bool { return e.ctxErr != nil && target == e.ctxErr }

// jsonEscaped is v as it appears inside a JSON string.
func jsonEscaped(v string) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) < 2 {
		return ""
	}
	return string(b[1 : len(b)-1])
}
