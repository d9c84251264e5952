package sets

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSorted(t *testing.T) {
	for _, tc := range []struct {
		reason string
		in     []string
		want   []string
	}{
		{"nil gives an empty set, which JSON shows as []", nil, []string{}},
		{"order and repeats carry no meaning", []string{"b", "a", "b"}, []string{"a", "b"}},
	} {
		if diff := cmp.Diff(tc.want, Sorted(tc.in)); diff != "" {
			t.Errorf("%s: Sorted(%q) -want +got:\n%s", tc.reason, tc.in, diff)
		}
	}
	in := []string{"b", "a"}
	Sorted(in)
	if in[0] != "b" {
		t.Error("Sorted changed its argument")
	}
	if !Same([]string{"a", "b", "a"}, []string{"b", "a"}) || Same([]string{"a"}, []string{"a", "b"}) {
		t.Error("Same compares elements, not order or repeats")
	}
}
