// Package doctor tells who is signed in and whether that identity holds the rights each step
// of a provision run needs: it reads the identity's rights from its access tokens (the Graph
// token's roles or scopes and directory roles, the Exchange Online token's roles), compares
// them with what each step needs, and names the least-privileged grant that fixes each step
// it cannot perform. Plan runs the same check and warns before any write.
//
// Inspect does the I/O (two token requests); Steps, Check and Warnings are pure.
package doctor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/provisionhq/provision/provision/graph"
)

// Kind says where a right lives.
type Kind string

// The kinds of rights.
const (
	// GraphPermission is a Microsoft Graph application permission (an app role the identity's
	// service principal holds), or a delegated scope for a signed-in user.
	GraphPermission Kind = "graph"
	// ExchangePermission is an Office 365 Exchange Online application permission.
	ExchangePermission Kind = "exchange"
	// DirectoryRole is a Microsoft Entra role assigned to the user or service principal.
	DirectoryRole Kind = "role"
)

// Right is one permission or role.
type Right struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name"`
}

// String names the right as an administrator finds it in the portal.
func (r Right) String() string {
	switch r.Kind {
	case ExchangePermission:
		return r.Name + " (Office 365 Exchange Online)"
	case DirectoryRole:
		return r.Name + " (Entra role)"
	}
	return r.Name
}

func perm(name string) Right    { return Right{GraphPermission, name} }
func exoPerm(name string) Right { return Right{ExchangePermission, name} }
func role(name string) Right    { return Right{DirectoryRole, name} }

// The Entra roles doctor knows, by display name.
const (
	RoleGlobalAdmin            = "Global Administrator"
	RoleApplicationAdmin       = "Application Administrator"
	RoleCloudApplicationAdmin  = "Cloud Application Administrator"
	RolePrivilegedRoleAdmin    = "Privileged Role Administrator"
	RoleUserAdmin              = "User Administrator"
	RoleDirectoryReaders       = "Directory Readers"
	RoleExchangeAdmin          = "Exchange Administrator"
	RoleExchangeRecipientAdmin = "Exchange Recipient Administrator"
)

// roleTemplates maps role names to their template ids, the values of the wids claim.
func roleTemplates() map[string]string {
	return map[string]string{
		RoleGlobalAdmin:            graph.RoleGlobalAdmin,
		RoleApplicationAdmin:       graph.RoleApplicationAdmin,
		RoleCloudApplicationAdmin:  graph.RoleCloudApplicationAdmin,
		RolePrivilegedRoleAdmin:    graph.RolePrivilegedRoleAdmin,
		RoleUserAdmin:              graph.RoleUserAdmin,
		RoleDirectoryReaders:       "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
		RoleExchangeAdmin:          graph.RoleExchangeAdmin,
		RoleExchangeRecipientAdmin: graph.RoleExchangeRecipientAdmin,
	}
}

// RoleName returns the display name of a role template id, or the id itself.
func RoleName(templateID string) string {
	for name, id := range roleTemplates() {
		if strings.EqualFold(id, templateID) {
			return name
		}
	}
	return templateID
}

// Alternative is a set of rights that together let an identity perform a step.
type Alternative []Right

// StepID names a step of a run.
type StepID string

// The steps of a run, in run order.
const (
	StepReadApplications StepID = "read-applications"
	StepReadConsent      StepID = "read-consent"
	StepWriteApplication StepID = "write-application"
	StepGrantDelegated   StepID = "grant-delegated-permissions"
	StepGrantApplication StepID = "grant-application-permissions"
	StepAssign           StepID = "assign-users-and-groups"
	StepReadUsers        StepID = "read-users"
	StepReadGroups       StepID = "read-groups"
	StepSendAs           StepID = "send-as"
)

// Step is one thing a run does and the rights that allow it.
type Step struct {
	ID     StepID `json:"id"`
	Action string `json:"action"`
	// AppOnly are the alternatives for an application identity (service principal), least
	// privileged first: the first one is the fix doctor recommends.
	AppOnly []Alternative `json:"appOnly"`
	// UserRoles are the Entra roles of which a signed-in user needs one; empty when any
	// member user may.
	UserRoles []Right `json:"userRoles,omitempty"`
	// UserScopes are the delegated scopes of which a user's token needs one; empty for
	// Exchange, whose admin API checks roles only.
	UserScopes []string `json:"userScopes,omitempty"`
	// Note is a caveat worth printing.
	Note string `json:"note,omitempty"`
}

// anyOf makes one alternative per right.
func anyOf(rights ...Right) []Alternative {
	out := make([]Alternative, len(rights))
	for i, r := range rights {
		out[i] = Alternative{r}
	}
	return out
}

// Need says which parts of a run a set of manifests uses; the zero value is a run that only
// reads the application.
type Need struct {
	DelegatedConsent   bool // adminConsent with delegated permissions
	ApplicationConsent bool // adminConsent with application permissions
	GraphAppRoles      bool // ... some of them Microsoft Graph's
	Assignments        bool
	Users              bool // users named (assignments, Send-As)
	Groups             bool // groups looked up (assignments, Send-As trustees)
	SendAs             bool
}

// Everything is the Need of a run that uses every feature: doctor without a manifest.
func Everything() Need {
	return Need{DelegatedConsent: true, ApplicationConsent: true, GraphAppRoles: true, Assignments: true, Users: true, Groups: true, SendAs: true}
}

// Steps lists the steps a run with need performs, with the rights each needs. Reading and
// writing the application are always there.
func Steps(need Need) []Step {
	readers := []Right{role(RoleDirectoryReaders), role(RoleApplicationAdmin), role(RoleCloudApplicationAdmin),
		role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)}
	steps := []Step{
		{ID: StepReadApplications, Action: "find the application and read the APIs' service principals and the permissions it holds",
			AppOnly: anyOf(append([]Right{perm("Application.Read.All"), perm("Application.ReadWrite.All"), perm("Application.ReadWrite.OwnedBy"),
				perm("Directory.Read.All"), perm("Directory.ReadWrite.All")}, readers...)...),
			UserScopes: []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.AccessAsUser.All"},
			Note:       "Application.ReadWrite.OwnedBy only finds applications the identity owns"},
		{ID: StepReadConsent, Action: "read the application's delegated permission grants",
			AppOnly: anyOf(append([]Right{perm("DelegatedPermissionGrant.Read.All"), perm("DelegatedPermissionGrant.ReadWrite.All"),
				perm("Directory.Read.All"), perm("Directory.ReadWrite.All")}, readers...)...),
			UserScopes: []string{"DelegatedPermissionGrant.Read.All", "DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All", "Directory.AccessAsUser.All"}},
		{ID: StepWriteApplication, Action: "create and update the application, its enterprise application and its secrets",
			AppOnly: anyOf(perm("Application.ReadWrite.All"), perm("Application.ReadWrite.OwnedBy"), perm("Directory.ReadWrite.All"),
				role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RoleGlobalAdmin)),
			UserRoles:  []Right{role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RoleGlobalAdmin)},
			UserScopes: []string{"Application.ReadWrite.All", "Directory.AccessAsUser.All"},
			Note: "Application.ReadWrite.OwnedBy is enough for applications the identity created or owns; " +
				"an application made in the portal needs Application.ReadWrite.All"},
	}
	if need.DelegatedConsent {
		steps = append(steps, Step{ID: StepGrantDelegated, Action: "grant admin consent to delegated permissions",
			AppOnly: anyOf(perm("DelegatedPermissionGrant.ReadWrite.All"), perm("Directory.ReadWrite.All"),
				role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)),
			UserRoles:  []Right{role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)},
			UserScopes: []string{"DelegatedPermissionGrant.ReadWrite.All", "Directory.AccessAsUser.All"}})
	}
	if need.ApplicationConsent {
		s := Step{ID: StepGrantApplication, Action: "grant admin consent to application permissions",
			AppOnly:    anyOf(perm("AppRoleAssignment.ReadWrite.All"), role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)),
			UserRoles:  []Right{role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)},
			UserScopes: []string{"AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All"},
			Note:       "Microsoft Graph's application permissions need Privileged Role Administrator; other APIs' need Cloud Application Administrator"}
		if !need.GraphAppRoles {
			s.AppOnly = append(s.AppOnly, anyOf(role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin))...)
			s.UserRoles = []Right{role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)}
			s.Note = ""
		}
		steps = append(steps, s)
	}
	if need.Assignments {
		steps = append(steps, Step{ID: StepAssign, Action: "assign users and groups to the enterprise application",
			AppOnly: anyOf(perm("AppRoleAssignment.ReadWrite.All"), role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin),
				role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)),
			UserRoles: []Right{role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RoleUserAdmin),
				role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)},
			UserScopes: []string{"AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All"}})
	}
	if need.Users {
		steps = append(steps, Step{ID: StepReadUsers, Action: "look up the users the manifest names",
			AppOnly: anyOf(append([]Right{perm("User.Read.All"), perm("User.ReadWrite.All"), perm("Directory.Read.All"),
				perm("Directory.ReadWrite.All"), perm("User.ReadBasic.All")}, readers...)...),
			UserScopes: []string{"User.Read.All", "User.ReadBasic.All", "Directory.Read.All", "Directory.AccessAsUser.All"},
			Note:       "User.ReadBasic.All finds users but does not show whether an account is disabled"})
	}
	if need.Groups {
		steps = append(steps, Step{ID: StepReadGroups, Action: "look up the groups the manifest names (assignments, Send-As trustees)",
			AppOnly: anyOf(append([]Right{perm("Group.Read.All"), perm("GroupMember.Read.All"), perm("Group.ReadWrite.All"),
				perm("Directory.Read.All"), perm("Directory.ReadWrite.All")}, readers...)...),
			UserScopes: []string{"Group.Read.All", "GroupMember.Read.All", "Directory.Read.All", "Directory.AccessAsUser.All"}})
	}
	if need.SendAs {
		var alts []Alternative
		for _, r := range []string{RoleExchangeRecipientAdmin, RoleExchangeAdmin, RoleGlobalAdmin} {
			alts = append(alts, Alternative{exoPerm("Exchange.ManageAsApp"), role(r)})
		}
		steps = append(steps, Step{ID: StepSendAs, Action: "grant Send-As in Exchange Online",
			AppOnly:   alts,
			UserRoles: []Right{role(RoleExchangeRecipientAdmin), role(RoleExchangeAdmin), role(RoleGlobalAdmin)},
			Note:      "an application needs both the Exchange.ManageAsApp permission and an Exchange role"})
	}
	return steps
}

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

// with returns h plus rights.
func (h Held) with(rights []Right) Held {
	out := Held{AppOnly: h.AppOnly, Graph: slices.Clone(h.Graph), Exchange: slices.Clone(h.Exchange), Roles: slices.Clone(h.Roles)}
	for _, r := range rights {
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
func (s Step) alternatives(appOnly bool) []Alternative {
	if appOnly {
		return s.AppOnly
	}
	if len(s.UserRoles) == 0 {
		return []Alternative{{}}
	}
	return anyOf(s.UserRoles...)
}

// satisfied returns the first alternative h holds entirely, or nil.
func (s Step) satisfied(h Held) (Alternative, bool) {
	if !h.AppOnly && len(s.UserScopes) > 0 && !slices.ContainsFunc(s.UserScopes, func(sc string) bool { return slices.Contains(h.Graph, sc) }) {
		return nil, false
	}
	for _, alt := range s.alternatives(h.AppOnly) {
		if !slices.ContainsFunc(alt, func(r Right) bool { return !h.has(r) }) {
			return alt, true
		}
	}
	return nil, false
}

// missing returns the rights of the alternative closest to h (fewest missing, least
// privileged on a tie) that h lacks; for a user without a needed scope, the scope too.
func (s Step) missing(h Held) []Right {
	var best []Right
	for i, alt := range s.alternatives(h.AppOnly) {
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
		if alt, ok := s.satisfied(h); ok {
			res.OK, res.HeldBy = true, alt
		} else {
			failing = append(failing, s)
			for _, r := range s.missing(h) {
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
		if alt, ok := rep.Steps[i].Step.satisfied(all); ok {
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
			if _, ok := s.satisfied(h.with([]Right{r})); ok {
				n++
				continue
			}
			for _, alt := range s.alternatives(h.AppOnly) {
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
		if !slices.ContainsFunc(failing, func(s Step) bool { _, ok := s.satisfied(all); return !ok }) {
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
