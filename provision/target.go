package provision

import (
	"fmt"
	"slices"
	"strings"
)

// target keeps the changes at, or under, one of targets (a.b["x"] is under a.b), and the
// changes they depend on: the creation or adoption, in the same application, of the kinds the
// targeted kind needs (its traits). Warnings are kept as they are, with one saying that the
// plan is partial, and one per target that matches no change.
func target(cs []Change, ws []Warning, targets []string) ([]Change, []Warning) {
	keep := make([]bool, len(cs))
	needs := map[string]map[Kind]bool{} // application address -> kinds needed
	for _, t := range targets {
		matched := false
		for i, c := range cs {
			if c.Address == t || isUnder(c.Address, t) {
				keep[i], matched = true, true
				for _, k := range needsOf(c.Kind) {
					if needs[c.Target.App] == nil {
						needs[c.Target.App] = map[Kind]bool{}
					}
					needs[c.Target.App][k] = true
				}
			}
		}
		if !matched {
			ws = append(ws, Warning{Address: t, Message: fmt.Sprintf("--target %s matches no change of the plan", t)})
		}
	}
	var out []Change
	for i, c := range cs {
		if keep[i] || (needs[c.Target.App][c.Kind] && (c.Action == Create || c.Action == Adopt)) {
			out = append(out, c)
		}
	}
	if out == nil {
		out = []Change{}
	}
	ws = append(ws, Warning{Message: fmt.Sprintf("the plan is partial: only %s and what %s on (--target); run without --target to see everything that differs",
		strings.Join(targets, ", "), map[bool]string{true: "it depends", false: "they depend"}[len(targets) == 1])})
	return out, ws
}

// isUnder reports whether addr lies under parent.
func isUnder(addr, parent string) bool {
	return strings.HasPrefix(addr, parent) && len(addr) > len(parent) && (addr[len(parent)] == '.' || addr[len(parent)] == '[')
}

// needsOf lists the kinds a change of kind k depends on.
func needsOf(k Kind) []Kind {
	if x := kindNamed(k); x != nil {
		return slices.Clone(x.traits().needs)
	}
	return nil
}
