package provision

import (
	"fmt"
	"strings"
)

// maxPage is the largest page directory collections serve ($top), so a list usually fits
// in the one answer of its batch and needs no next-link round trip.
const maxPage = 999

// maxInValues is how many values one $filter "in (...)" list carries. Graph caps the
// number of expressions in a directory-object filter at 15, so longer lists are split.
const maxInValues = 15

// quote renders s as an OData string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// eqFilter renders "prop eq 'value'".
func eqFilter(prop, value string) string { return prop + " eq " + quote(value) }

// inFilter renders "prop in ('a','b')", each value an OData string literal.
func inFilter(prop string, values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = quote(v)
	}
	return prop + " in (" + strings.Join(q, ",") + ")"
}

// inFilterChunks splits xs into lists of at most maxInValues, each small enough for one
// inFilter.
func inFilterChunks(xs []string) [][]string {
	var out [][]string
	for _, s := range chunk(len(xs), maxInValues) {
		out = append(out, xs[s.from:s.from+s.n])
	}
	return out
}

// pageSize is the $top of a list read: as large as Graph serves.
func pageSize() *int32 {
	top := int32(maxPage)
	return &top
}

// str dereferences an optional string.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// flag dereferences an optional bool; nil is false.
func flag(p *bool) bool { return p != nil && *p }

// uuidStr renders an optional uuid.
func uuidStr[T fmt.Stringer](p *T) string {
	if p == nil {
		return ""
	}
	return (*p).String()
}

// sameID compares two directory object ids (GUIDs, in whatever case they were written).
func sameID(a, b string) bool { return strings.EqualFold(a, b) }
