package sink

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/provisionhq/provision/provision/sensitive"
)

// scrubbedError is an error whose text had a secret replaced by the mask. It keeps nothing of
// the original, whose text still holds the value (not even for %#v or errors.As), except
// which context error it was, so callers can still branch on cancellation.
type scrubbedError struct {
	msg    string
	ctxErr error // context.Canceled, context.DeadlineExceeded or nil
}

// newScrubbedError returns an error with text msg that answers errors.Is like cause does for
// the context errors.
func newScrubbedError(msg string, cause error) *scrubbedError {
	e := &scrubbedError{msg: msg}
	for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(cause, c) {
			e.ctxErr = c
		}
	}
	return e
}

func (e *scrubbedError) Error() string { return e.msg }

func (e *scrubbedError) Is(target error) bool { return e.ctxErr != nil && target == e.ctxErr }

// scrub returns err unchanged when its text does not hold secret, else an error whose text
// has every spelling of secret replaced by the mask.
func scrub(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	msg := err.Error()
	clean := scrubText(msg, secret)
	if clean == msg {
		return err
	}
	return newScrubbedError(clean, err)
}

// scrubText replaces secret in text, raw and in the escaped forms a program is likely to print
// it in (JSON string, Go quoting, URL query encoding).
func scrubText(text, secret string) string {
	if secret == "" {
		return text
	}
	quoted := strconv.Quote(secret)
	forms := []string{secret, jsonEscaped(secret), quoted[1 : len(quoted)-1], url.QueryEscape(secret)}
	for _, f := range forms {
		if f != "" {
			text = strings.ReplaceAll(text, f, sensitive.Mask)
		}
	}
	return text
}

// jsonEscaped is secret as it appears inside a JSON string.
func jsonEscaped(secret string) string {
	b, err := json.Marshal(secret)
	if err != nil || len(b) < 2 {
		return ""
	}
	return string(b[1 : len(b)-1])
}

// trimPartial removes a trailing piece of text that is the start of secret (at least four
// characters), left behind when output capture was cut in the middle of the value.
func trimPartial(text, secret string) string {
	for n := min(len(secret)-1, len(text)); n >= 4; n-- {
		if strings.HasSuffix(text, secret[:n]) {
			return text[:len(text)-n] + sensitive.Mask
		}
	}
	return text
}
