package manifests

import (
	"cmp"
	"slices"
	"strings"
)

// ClosestNames returns up to n candidates that look like a misspelling of name, nearest
// first. Comparison ignores case, so a name written in the wrong case comes back with its
// right spelling first. A candidate is close when its edit distance (insertions, deletions,
// substitutions and swaps of neighbours) is at most a third of name's length, and at least 1.
func ClosestNames(name string, candidates []string, n int) []string {
	if n <= 0 || name == "" {
		return nil
	}
	limit := max(1, len([]rune(name))/3)
	lower := strings.ToLower(name)
	type scored struct {
		name string
		dist int
	}
	var found []scored
	seen := map[string]bool{}
	for _, c := range candidates {
		if c == name || seen[c] {
			continue
		}
		seen[c] = true
		if d := editDistance(lower, strings.ToLower(c), limit); d <= limit {
			found = append(found, scored{c, d})
		}
	}
	slices.SortFunc(found, func(a, b scored) int {
		return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(a.name, b.name))
	})
	var out []string
	for _, f := range found {
		if len(out) == n {
			break
		}
		out = append(out, f.name)
	}
	return out
}

// editDistance is the optimal string alignment distance between a and b, in runes. It gives up
// early (returning limit+1) once every alignment is beyond limit, which keeps long unrelated
// names cheap.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
