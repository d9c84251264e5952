// Package sets treats string slices as sets: the engine compares and shows lists whose order
// carries no meaning (redirect URIs, scopes, tags) in one canonical form, and export writes
// them in it.
package sets

import "slices"

// Sorted returns xs sorted without duplicates, as a new slice (empty, not nil, for no
// elements): the form sets are compared and shown in.
func Sorted(xs []string) []string {
	out := append([]string{}, xs...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Same reports whether a and b hold the same elements, whatever their order and repeats.
func Same(a, b []string) bool { return slices.Equal(Sorted(a), Sorted(b)) }
