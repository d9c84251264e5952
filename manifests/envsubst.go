package manifests

import (
	"fmt"
	"strings"
)

// substitutionError is a problem with one ${...} reference; offset is the byte offset of its
// '$' in the scalar, so the diagnostic can point at the reference itself.
type substitutionError struct {
	offset  int
	message string
}

// substitute expands ${NAME} and ${NAME:-default} in s from env, and turns $${ into a literal
// ${. It reports every bad reference rather than the first, and never puts a variable's value
// in a message (it may be a secret).
func substitute(s string, env func(string) (string, bool)) (string, []substitutionError) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var (
		b    strings.Builder
		errs []substitutionError
	)
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			errs = append(errs, substitutionError{i, "unterminated ${: close the reference with }, or write $${ for a literal ${"})
			b.WriteString(s[i:])
			break
		}
		body := s[i+2 : i+2+end]
		name, def, hasDefault := strings.Cut(body, ":-")
		switch {
		case !ValidVariableName(name):
			errs = append(errs, substitutionError{i, fmt.Sprintf("invalid reference ${%s}: write ${NAME} or ${NAME:-default} with NAME made of letters, digits and _, or $${ for a literal ${", body)})
		default:
			v, ok := lookup(env, name)
			switch {
			case ok && (v != "" || !hasDefault):
				b.WriteString(v)
			case hasDefault:
				b.WriteString(def)
			default:
				errs = append(errs, substitutionError{i, fmt.Sprintf("environment variable %s is not set: set it, or write ${%s:-default} to give a default", name, name)})
			}
		}
		i += 2 + end + 1
	}
	return b.String(), errs
}

func lookup(env func(string) (string, bool), name string) (string, bool) {
	if env == nil {
		return "", false
	}
	return env(name)
}

// ValidVariableName reports whether name can be written as ${NAME} in a manifest: letters,
// digits and _, not starting with a digit. Env files are held to the same rule.
func ValidVariableName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
