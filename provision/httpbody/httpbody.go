// Package httpbody describes an HTTP answer that is not what a client expected (an HTML error
// page from a gateway, a JSON document cut short, nothing at all) in a few words for an error
// message, so that "502 from GET /v1.0/applications: text/html: <html><head><title>502 Bad
// Gateway…" replaces a parser's "content type text/html does not have a factory registered".
package httpbody

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"
)

// excerptRunes is how much of a body an error message shows.
const excerptRunes = 200

// Describe says what body is, for an answer whose body the client cannot use: "an empty
// body", "invalid JSON (532 bytes)", or the media type and the start of the text. The text of
// a JSON-looking body is never shown: a JSON answer cut short may be a success that carries a
// secret (addPassword's secretText); a gateway's HTML or text page does not.
func Describe(contentType string, body []byte) string {
	trimmed := bytes.TrimSpace(bytes.Trim(body, "\x00"))
	if len(trimmed) == 0 {
		return "an empty body"
	}
	mediaType, _, _ := mime.ParseMediaType(contentType)
	if strings.Contains(mediaType, "json") || trimmed[0] == '{' || trimmed[0] == '[' {
		if json.Valid(trimmed) {
			return fmt.Sprintf("a JSON body of another shape (%d bytes)", len(body))
		}
		return fmt.Sprintf("invalid JSON (%d bytes, cut short or garbled)", len(body))
	}
	if mediaType == "" {
		mediaType = "a body of unknown type"
	}
	return mediaType + ": " + Excerpt(trimmed)
}

// Excerpt is the start of b as one printable line: invalid UTF-8 and control characters
// dropped, runs of white space folded, at most 200 characters.
func Excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > excerptRunes {
		s = string([]rune(s)[:excerptRunes]) + "…"
	}
	return s
}
