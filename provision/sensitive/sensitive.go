// Package sensitive carries secret values (client secrets, tokens) with a type that will not
// print them: every formatting, logging and JSON path renders "(sensitive)", and only an
// explicit Reveal gives the value, so a secret cannot leak through a %v or a json.Marshal.
package sensitive

import "log/slog"

// Mask is what a sensitive value prints as.
const Mask = "(sensitive)"

// String is a secret string value.
type String struct{ value string }

// New wraps v.
func New(v string) String { return String{value: v} }

// Reveal returns the value. Call it only where the value must leave the process on purpose:
// a sink, a token request.
func (s String) Reveal() string { return s.value }

// IsZero reports whether no value is held.
func (s String) IsZero() bool { return s.value == "" }

// String renders the mask.
func (s String) String() string { return Mask }

// GoString renders the mask, so %#v hides the value too.
func (s String) GoString() string { return Mask }

// MarshalJSON renders the mask.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + Mask + `"`), nil }

// MarshalText renders the mask.
func (s String) MarshalText() ([]byte, error) { return []byte(Mask), nil }

// LogValue renders the mask in slog output.
func (s String) LogValue() slog.Value { return slog.StringValue(Mask) }
