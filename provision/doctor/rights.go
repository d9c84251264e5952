// Package doctor tells who is signed in and whether that identity holds the rights each step
// of a provision run needs: it reads the identity's rights from its access tokens (the Graph
// token's roles or scopes and directory roles, the Exchange Online token's roles), compares
// them with what each step needs (the table of package rights, which rights.ExplainDenied
// cites too), and names the least-privileged grant that fixes each step it cannot perform.
// Plan runs the same check and warns before any write.
//
// Inspect does the I/O (two token requests); rights.Steps, Check and Warnings are pure.
package doctor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/provisionhq/provision/provision/rights"
)

func perm(name string) rights.Right { return rights.Right{Kind: rights.GraphPermission, Name: name} }

// Held is what an identity holds, as its tokens say.
type Held struct {
	AppOnly bool `json:"appOnly"`
	// Graph are the Microsoft Graph application permissions (roles claim) of an application,
	// or the delegated scopes (scp claim) of a user.
	Graph []string `json:"graph"`
	// Exchange are the Office 365 Exchange Online application permissions (roles claim of the
	// Exchange token).
	Exchange []string `json:"exchange"`
	// Roles are the Entra roles, by display name (from the wids claim).
	Roles []string `json:"roles"`
}

// has reports whether h holds r.
func (h Held) has(r rights.Right) bool {
	switch r.Kind {
	case rights.GraphPermission:
		return slices.Contains(h.Graph, r.Name)
	case rights.ExchangePermission:
		return slices.Contains(h.Exchange, r.Name)
	}
	return slices.Contains(h.Roles, r.Name)
}

// with returns h plus rs.
func (h Held) with(rs []rights.Right) Held {
	out := Held{AppOnly: h.AppOnly, Graph: slices.Clone(h.Graph), Exchange: slices.Clone(h.Exchange), Roles: slices.Clone(h.Roles)}
	for _, r := range rs {
		switch r.Kind {
		case rights.GraphPermission:
			out.Graph = append(out.Graph, r.Name)
		case rights.ExchangePermission:
			out.Exchange = append(out.Exchange, r.Name)
		default:
			out.Roles = append(out.Roles, r.Name)
		}
	}
	return out
}

// alternatives are the ways h's kind of identity can perform s.
func alternatives(s rights.Step, appOnly bool) []rights.Alternative {
	if appOnly {
		return s.AppOnly
	}
	if len(s.UserRoles) == 0 {
		return []rights.Alternative{{}}
	}
	return rights.AnyOf(s.UserRoles...)
}

// satisfied returns the first alternative h holds entirely, or nil.
func satisfied(s rights.Step, h Held) (rights.Alternative, bool) {
	if !h.AppOnly && len(s.UserScopes) > 0 && !slices.ContainsFunc(s.UserScopes, func(sc string) bool { return slices.Contains(h.Graph, sc) }) {
		return nil, false
	}
	for _, alt := range alternatives(s, h.AppOnly) {
		if !slices.ContainsFunc(alt, func(r rights.Right) bool { return !h.has(r) }) {
			return alt, true
		}
	}
	return nil, false
}

// missing returns the rights of the alternative closest to h (fewest missing, least
// privileged on a tie) that h lacks; for a user without a needed scope, the scope too.
func missing(s rights.Step, h Held) []rights.Right {
	var best []rights.Right
	for i, alt := range alternatives(s, h.AppOnly) {
		var lack []rights.Right
		for _, r := range alt {
			if !h.has(r) {
				lack = append(lack, r)
			}
		}
		if i == 0 || len(lack) < len(best) {
			best = lack
		}
	}
	if !h.AppOnly && len(s.UserScopes) > 0 && !slices.ContainsFunc(s.UserScopes, func(sc string) bool { return slices.Contains(h.Graph, sc) }) {
		best = append(best, perm(s.UserScopes[0]))
	}
	return best
}

// StepResult is one step checked against an identity.
type StepResult struct {
	Step rights.Step `json:"step"`
	OK   bool        `json:"ok"`
	// HeldBy is the alternative the identity holds, when OK.
	HeldBy rights.Alternative `json:"heldBy,omitempty"`
	// Fix is what to grant so the step works, drawn from the report's Fixes.
	Fix []rights.Right `json:"fix,omitempty"`
}

// Report is the outcome of Check.
type Report struct {
	Steps []StepResult `json:"steps"`
	// Fixes is the smallest set of grants, least privileged first, that makes every step work:
	// a grant that a broader one in the set already covers is left out.
	Fixes []rights.Right `json:"fixes"`
}

// OK reports whether every step can be performed.
func (r Report) OK() bool { return len(r.Fixes) == 0 }

// Check compares what h holds with what each step needs.
func Check(h Held, steps []rights.Step) Report {
	rep := Report{Fixes: []rights.Right{}}
	var failing []rights.Step
	var fixes []rights.Right
	for _, s := range steps {
		res := StepResult{Step: s}
		if alt, ok := satisfied(s, h); ok {
			res.OK, res.HeldBy = true, alt
		} else {
			failing = append(failing, s)
			for _, r := range missing(s, h) {
				if !slices.Contains(fixes, r) {
					fixes = append(fixes, r)
				}
			}
		}
		rep.Steps = append(rep.Steps, res)
	}
	fixes = reduce(h, failing, fixes)
	rep.Fixes = append(rep.Fixes, fixes...)
	all := h.with(fixes)
	for i := range rep.Steps {
		if rep.Steps[i].OK {
			continue
		}
		if alt, ok := satisfied(rep.Steps[i].Step, all); ok {
			for _, r := range alt {
				if !h.has(r) {
					rep.Steps[i].Fix = append(rep.Steps[i].Fix, r)
				}
			}
		}
		for _, sc := range rep.Steps[i].Step.UserScopes {
			if !h.AppOnly && slices.Contains(fixes, perm(sc)) {
				rep.Steps[i].Fix = append(rep.Steps[i].Fix, perm(sc))
				break
			}
		}
	}
	return rep
}

// reduce drops the grants a broader grant in the set already covers: each grant, those that
// help the fewest failing steps first, is dropped when every failing step still works
// without it.
func reduce(h Held, failing []rights.Step, fixes []rights.Right) []rights.Right {
	helps := func(r rights.Right) int {
		n := 0
		for _, s := range failing {
			if _, ok := satisfied(s, h.with([]rights.Right{r})); ok {
				n++
				continue
			}
			for _, alt := range alternatives(s, h.AppOnly) {
				if slices.Contains(alt, r) {
					n++
					break
				}
			}
		}
		return n
	}
	order := slices.Clone(fixes)
	slices.SortStableFunc(order, func(a, b rights.Right) int { return helps(a) - helps(b) })
	kept := slices.Clone(fixes)
	for _, r := range order {
		without := slices.DeleteFunc(slices.Clone(kept), func(x rights.Right) bool { return x == r })
		all := h.with(without)
		if !slices.ContainsFunc(failing, func(s rights.Step) bool { _, ok := satisfied(s, all); return !ok }) {
			kept = without
		}
	}
	return kept
}

// Describe renders a step's fix as a sentence.
func Describe(r StepResult) string {
	if r.OK {
		return "ok"
	}
	if len(r.Fix) == 0 {
		return "cannot be performed"
	}
	names := make([]string, len(r.Fix))
	for i, f := range r.Fix {
		names[i] = f.String()
	}
	return fmt.Sprintf("missing: grant %s", strings.Join(names, " and "))
}
