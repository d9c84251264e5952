// Package dotenv reads env files, the KEY=VALUE format docker compose reads with --env-file,
// so one manifest can take its ${…} values from one file per tenant.
//
// The rules are compose's: blank lines and lines starting with # are skipped; a line may start
// with "export "; an unquoted value ends at a # that follows a blank (an inline comment) and is
// trimmed; a single-quoted value is literal (\' writes a quote); a double-quoted value
// understands \n, \r, \t, \\, \" and \$; quoted values may span lines; a later definition of a
// name wins. Unlike compose, values are not interpolated: "$" is an ordinary character, so a
// value is exactly what the file says.
package dotenv

import (
	"errors"
	"fmt"
	"strings"

	"github.com/provisionhq/provision/manifests"
)

// Var is one definition of an env file.
type Var struct {
	Name  string
	Value string
	Line  int // 1-based line where the definition starts
}

// Parse reads the definitions of an env file's content; file names it in errors. It reports
// every malformed line, each as file:line: message; a message never contains a value, which
// may be a secret.
func Parse(file string, data []byte) ([]Var, error) {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	var (
		vars []Var
		errs []error
	)
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		s := strings.TrimLeft(lines[i], " \t")
		if s == "" || s[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(s, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			s = strings.TrimLeft(rest, " \t")
		}
		name, raw, ok := strings.Cut(s, "=")
		name = strings.TrimSpace(name)
		if !ok {
			fail(lineNo, "no \"=\" on this line: write NAME=VALUE (or start the line with # for a comment)")
			continue
		}
		if !manifests.ValidVariableName(name) {
			fail(lineNo, "%q is not a variable name: use letters, digits and _, not starting with a digit", name)
			continue
		}
		if v := strings.TrimLeft(raw, " \t"); v == "" || (v[0] != '"' && v[0] != '\'') {
			vars = append(vars, Var{Name: name, Value: unquoted(raw), Line: lineNo})
			continue
		}
		raw = strings.TrimLeft(raw, " \t")
		value, after, end, err := quoted(raw, lines[i+1:])
		if err != nil {
			fail(lineNo, "the value of %s opens a %s quote that is never closed: close it, or escape the quote with \\", name, quoteName(raw[0]))
			break // the rest of the file is inside the quote
		}
		i += end
		if rest := strings.TrimLeft(after, " \t"); rest != "" && rest[0] != '#' {
			fail(lineNo+end, "text after the closing quote of %s: put a comment after a blank and #, or move the text inside the quotes", name)
			continue
		}
		vars = append(vars, Var{Name: name, Value: value, Line: lineNo})
	}
	return vars, errors.Join(errs...)
}

// unquoted is an unquoted value: up to an inline comment (a # after a blank), trimmed.
func unquoted(raw string) string {
	for j := 1; j < len(raw); j++ {
		if raw[j] == '#' && (raw[j-1] == ' ' || raw[j-1] == '\t') {
			raw = raw[:j]
			break
		}
	}
	return strings.TrimSpace(raw)
}

// quoted reads a value that starts with a quote at raw[0], continuing onto the next lines
// until the closing quote. It returns the value, the text after the closing quote, and how
// many of next it consumed.
func quoted(raw string, next []string) (value, after string, consumed int, err error) {
	q := raw[0]
	var b strings.Builder
	s := raw[1:]
	for {
		for j := 0; j < len(s); j++ {
			c := s[j]
			switch {
			case c == '\\' && j+1 < len(s) && q == '\'' && s[j+1] == '\'':
				b.WriteByte('\'')
				j++
			case c == '\\' && j+1 < len(s) && q == '"':
				j++
				switch s[j] {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case 't':
					b.WriteByte('\t')
				case '\\', '"', '$':
					b.WriteByte(s[j])
				default:
					b.WriteByte('\\')
					b.WriteByte(s[j])
				}
			case c == q:
				return b.String(), s[j+1:], consumed, nil
			default:
				b.WriteByte(c)
			}
		}
		if consumed == len(next) {
			return "", "", 0, errors.New("unterminated quote")
		}
		b.WriteByte('\n')
		s = next[consumed]
		consumed++
	}
}

func quoteName(q byte) string {
	if q == '"' {
		return "double"
	}
	return "single"
}
