package manifests

import (
	"cmp"
	"slices"
	"strings"
)

// Severity says whether a diagnostic stops the manifest from being used.
type Severity int

// The severities a diagnostic may have. Only errors make a manifest invalid.
const (
	Error Severity = iota
	Warning
)

// String returns the lower-case name of the severity, as printed in JSON output.
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText writes the severity as its name, so JSON output reads "error" or "warning".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Diagnostic is one problem found in a manifest, pointing at the value it is about.
type Diagnostic struct {
	Pos      Pos      `json:"pos"`
	Path     string   `json:"path,omitempty"` // the value's path, e.g. application.permissions[0].delegated[2]; empty for the document or the file
	Message  string   `json:"message"`        // what is wrong and what to do about it
	Severity Severity `json:"severity"`
}

// String renders the diagnostic as file:line:col: path: message, the form editors and
// terminals link. A warning's message starts with "warning: " so it is never mistaken for an
// error.
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.Pos.String())
	b.WriteString(": ")
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	if d.Severity == Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// Diagnostics is every problem found in one or more manifests. It is an error so that a caller
// that only wants to fail can return it as one.
type Diagnostics []Diagnostic

// Error joins every diagnostic, one per line.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// HasErrors reports whether any diagnostic is an error (warnings alone leave a manifest usable).
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns only the diagnostics of severity Error.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Error {
			out = append(out, d)
		}
	}
	return out
}

// sort orders diagnostics by file, line and column, then path and message, so output is stable
// whatever order the checks ran in.
func (ds Diagnostics) sort() {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Message, b.Message),
		)
	})
}
