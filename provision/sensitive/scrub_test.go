package sensitive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestScrubText(t *testing.T) {
	secret := New(`a"b\c~d/e f`)
	cases := []struct {
		reason string
		text   string
		want   string
	}{
		{"raw", "got " + secret.Reveal() + "!", "got (sensitive)!"},
		{"inside JSON", `{"secret":"a\"b\\c~d/e f"}`, `{"secret":"(sensitive)"}`},
		{"Go-quoted", fmt.Sprintf("%q", secret.Reveal()), `"(sensitive)"`},
		{"query-escaped", "x?s=a%22b%5Cc~d%2Fe+f", "x?s=(sensitive)"},
		{"absent", "nothing here", "nothing here"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			if got := ScrubText(tc.text, secret); got != tc.want {
				t.Errorf("ScrubText(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
	if got := ScrubText("abc", String{}); got != "abc" {
		t.Errorf("an empty secret changed the text to %q", got)
	}
}

func TestScrub(t *testing.T) {
	secret := New("Xy8Q~s3cr3t")
	clean := errors.New("nothing to hide")
	cases := []struct {
		reason   string
		err      error
		wantText string
		wantSame bool // err comes back as it was, chain and all
		wantIs   error
	}{
		{reason: "nil stays nil", err: nil, wantSame: true},
		{reason: "an error without the value keeps its chain", err: clean, wantText: "nothing to hide", wantSame: true},
		{reason: "the value is masked", err: fmt.Errorf("post %s: refused", secret.Reveal()), wantText: "post (sensitive): refused"},
		{reason: "a deadline stays recognisable after scrubbing",
			err:      fmt.Errorf("post %s: %w", secret.Reveal(), context.DeadlineExceeded),
			wantText: "post (sensitive): context deadline exceeded", wantIs: context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			got := Scrub(tc.err, secret)
			if tc.wantSame && got != tc.err {
				t.Errorf("Scrub returned %v, want the error itself", got)
			}
			if got == nil {
				return
			}
			if got.Error() != tc.wantText {
				t.Errorf("Scrub text = %q, want %q", got.Error(), tc.wantText)
			}
			if strings.Contains(fmt.Sprintf("%#v", got), secret.Reveal()) {
				t.Errorf("%%#v of the scrubbed error still holds the value: %#v", got)
			}
			if tc.wantIs != nil && !errors.Is(got, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", got, tc.wantIs)
			}
		})
	}
}
