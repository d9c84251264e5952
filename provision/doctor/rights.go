// Package doctor tells who is signed in and whether that identity holds the rights each step
// of a provision run needs: it reads the identity's rights from its access tokens (the Graph
// token's roles or scopes and directory roles, the Exchange Online token's roles), compares
// them with what each step needs (the table of package rights, which graph.ExplainDenied
// cites too), and names the least-privileged grant that fixes each step it cannot perform.
// Plan runs the same check and warns before any write.
//
// Inspect does the I/O (two token requests); Steps, Check and Warnings are pure.
package doctor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/provisionhq/provision/provision/rights"
)

// The table of what each step needs lives in package rights, which graph.ExplainDenied cites
// too; doctor names its parts as its reports and callers always have.

// Kind says where a right lives.
type Kind = rights.Kind

// The kinds of rights.
const (
	GraphPermission    = rights.GraphPermission
	ExchangePermission = rights.ExchangePermission
	DirectoryRole      = rights.DirectoryRole
)

// Right is one permission or role.
type Right = rights.Right

func perm(name string) Right    { return Right{Kind: GraphPermission, Name: name} }
func exoPerm(name string) Right { return Right{Kind: ExchangePermission, Name: name} }
func role(name string) Right    { return Right{Kind: DirectoryRole, Name: name} }

// The Entra roles doctor knows, by display name.
const (
	RoleGlobalAdmin            = rights.RoleGlobalAdmin
	RoleApplicationAdmin       = rights.RoleApplicationAdmin
	RoleCloudApplicationAdmin  = rights.RoleCloudApplicationAdmin
	RolePrivilegedRoleAdmin    = rights.RolePrivilegedRoleAdmin
	RoleUserAdmin              = rights.RoleUserAdmin
	RoleDirectoryReaders       = rights.RoleDirectoryReaders
	RoleExchangeAdmin          = rights.RoleExchangeAdmin
	RoleExchangeRecipientAdmin = rights.RoleExchangeRecipientAdmin
)

// RoleName returns the display name of a role template id, or the id itself.
func RoleName(templateID string) string { return rights.RoleName(templateID) }

// Alternative is a set of rights that together let an identity perform a step.
type Alternative = rights.Alternative

// StepID names a step of a run.
type StepID = rights.StepID

// The steps of a run, in run order.
const (
	StepReadApplications = rights.StepReadApplications
	StepReadConsent      = rights.StepReadConsent
	StepWriteApplication = rights.StepWriteApplication
	StepGrantDelegated   = rights.StepGrantDelegated
	StepGrantApplication = rights.StepGrantApplication
	StepAssign           = rights.StepAssign
	StepReadUsers        = rights.StepReadUsers
	StepReadGroups       = rights.StepReadGroups
	StepSendAs           = rights.StepSendAs
)

// Step is one thing a run does and the rights that allow it.
type Step = rights.Step

// Need says which parts of a run a set of manifests uses.
type Need = rights.Need

// Everything is the Need of a run that uses every feature: doctor without a manifest.
func Everything() Need { return rights.Everything() }

// Steps lists the steps a run with need performs, with the rights each needs.
func Steps(need Need) []Step { return rights.Steps(need) }

// Held is what an identity holds, as its tokens say.
type Held struct {
	AppOnly bool
	// Graph are the Microsoft Graph application permissions (roles claim) of an application,
	// or the delegated scopes (scp claim) of a user.
	Graph []string
	// Exchange are the Office 365 Exchange Online application permissions (roles claim of the
	// Exchange token).
	Exchange []string
	// Roles are the Entra roles, by display name (from the wids claim).
	Roles []string
}

// has reports whether h holds r.
func (h Held) has(r Right) bool {
	switch r.Kind {
	case GraphPermission:
		return slices.Contains(h.Graph, r.Name)
	case ExchangePermission:
		return slices.Contains(h.Exchange, r.Name)
	}
	return slices.Contains(h.Roles, r.Name)
}

// with returns h plus rs.
func (h Held) with(rs []Right) Held {
	out := Held{AppOnly: h.AppOnly, Graph: slices.Clone(h.Graph), Exchange: slices.Clone(h.Exchange), Roles: slices.Clone(h.Roles)}
	for _, r := range rs {
		switch r.Kind {
		case GraphPermission:
			out.Graph = append(out.Graph, r.Name)
		case ExchangePermission:
			out.Exchange = append(out.Exchange, r.Name)
		default:
			out.Roles = append(out.Roles, r.Name)
		}
	}
	return out
}

// alternatives are the ways h's kind of identity can perform s.
func alternatives(s Step, appOnly bool) []Alternative {
	if appOnly {
		return s.AppOnly
	}
	if len(s.UserRoles) == 0 {
		return []Alternative{{}}
	}
	return rights.AnyOf(s.UserRoles...)
}

// satisfied returns the first alternative h holds entirely, or nil.
func satisfied(s Step, h Held) (Alternative, bool) {
	if !h.AppOnly && len(s.UserScopes) > 0 && !slices.ContainsFunc(s.UserScopes, func(sc string) bool { return slices.Contains(h.Graph, sc) }) {
		return nil, false
	}
	for _, alt := range alternatives(s, h.AppOnly) {
		if !slices.ContainsFunc(alt, func(r Right) bool { return !h.has(r) }) {
			return alt, true
		}
	}
	return nil, false
}

// missing returns the rights of the alternative closest to h (fewest missing, least
// privileged on a tie) that h lacks; for a user without a needed scope, the scope too.
func missing(s Step, h Held) []Right {
	var best []Right
	for i, alt := range alternatives(s, h.AppOnly) {
		var lack []Right
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
	Step Step `json:"step"`
	OK   bool `json:"ok"`
	// HeldBy is the alternative the identity holds, when OK.
	HeldBy Alternative `json:"heldBy,omitempty"`
	// Fix is what to grant so the step works, drawn from the report's Fixes.
	Fix []Right `json:"fix,omitempty"`
}

// Report is the outcome of Check.
type Report struct {
	Steps []StepResult `json:"steps"`
	// Fixes is the smallest set of grants, least privileged first, that makes every step work:
	// a grant that a broader one in the set already covers is left out.
	Fixes []Right `json:"fixes"`
}

// OK reports whether every step can be performed.
func (r Report) OK() bool { return len(r.Fixes) == 0 }

// Check compares what h holds with what each step needs.
func Check(h Held, steps []Step) Report {
	rep := Report{Fixes: []Right{}}
	var failing []Step
	var fixes []Right
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
func reduce(h Held, failing []Step, fixes []Right) []Right {
	helps := func(r Right) int {
		n := 0
		for _, s := range failing {
			if _, ok := satisfied(s, h.with([]Right{r})); ok {
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
	slices.SortStableFunc(order, func(a, b Right) int { return helps(a) - helps(b) })
	kept := slices.Clone(fixes)
	for _, r := range order {
		without := slices.DeleteFunc(slices.Clone(kept), func(x Right) bool { return x == r })
		all := h.with(without)
		if !slices.ContainsFunc(failing, func(s Step) bool { _, ok := satisfied(s, all); return !ok }) {
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
