package httpbody

import (
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	cases := []struct {
		reason      string
		contentType string
		body        string
		want        string
	}{
		{"nothing at all", "application/json", "", "an empty body"},
		{"NUL bytes only, as Exchange's 403 sends", "", "\x00\x00", "an empty body"},
		{"a gateway's HTML page shows its start on one line", "text/html; charset=utf-8",
			"<html>\r\n<head><title>502 Bad Gateway</title></head>\n<body>…</body></html>",
			"text/html: <html> <head><title>502 Bad Gateway</title></head> <body>…</body></html>"},
		{"JSON cut short is named, its text never shown", "application/json",
			`{"secretText":"Qx8~abc","keyId":"6d2a`, "invalid JSON (37 bytes, cut short or garbled)"},
		{"JSON-looking text without a JSON type is still not shown", "text/plain", `{"secretText":"Qx8~`,
			"invalid JSON (19 bytes, cut short or garbled)"},
		{"valid JSON of another shape is not shown either", "application/json", `{"value":[]}`,
			"a JSON body of another shape (12 bytes)"},
		{"no content type", "", "Service Unavailable", "a body of unknown type: Service Unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			if got := Describe(tc.contentType, []byte(tc.body)); got != tc.want {
				t.Errorf("Describe(%q, %q) = %q, want %q", tc.contentType, tc.body, got, tc.want)
			}
		})
	}
}

func TestExcerptIsShortAndPrintable(t *testing.T) {
	got := Excerpt([]byte("\x1b[31m" + strings.Repeat("é", 300) + "\xff"))
	if n := len([]rune(got)); n != excerptRunes+1 {
		t.Errorf("excerpt has %d characters, want %d and an ellipsis", n, excerptRunes)
	}
	if strings.ContainsAny(got, "\x1b\xff") {
		t.Errorf("excerpt kept a control or invalid byte: %q", got)
	}
}
