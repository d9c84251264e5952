// Package rights is the one table of what each step of a provision run needs: the Microsoft
// Graph permissions, Exchange Online permissions and Entra roles that allow it, least
// privileged first. doctor checks a signed-in identity against it before a run, and
// ExplainDenied cites it when Graph refuses a step during one, so the two cannot
// disagree. (The simulated tenant's enforcement, simtenant/auth.go, is a model of Microsoft's
// side and is kept apart on purpose.)
package rights

import "strings"

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

// The Entra roles the table names, by display name.
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
		RoleGlobalAdmin:            "62e90394-69f5-4237-9190-012177145e10",
		RoleApplicationAdmin:       "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
		RoleCloudApplicationAdmin:  "158c047a-c907-4556-b7ef-446551a6b5f7",
		RolePrivilegedRoleAdmin:    "e8611ab8-c189-46e8-94e1-60213ab1f814",
		RoleUserAdmin:              "fe930be7-5e62-47db-91af-98c3a49a38b1",
		RoleDirectoryReaders:       "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
		RoleExchangeAdmin:          "29232cdf-9323-42fd-ade2-1d097af3e4de",
		RoleExchangeRecipientAdmin: "31392ffb-586c-42d1-9346-e59415a2cc4e",
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
	// StepExchangeServicePrincipal registers the application in Exchange Online and reads the
	// organisation's transport settings: Exchange Administrator.
	StepExchangeServicePrincipal StepID = "exchange-service-principal"
	// StepMailboxAccess grants FullAccess on mailboxes and sets their SMTP AUTH: Exchange
	// Recipient Administrator is enough.
	StepMailboxAccess StepID = "mailbox-access"
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

// AnyOf makes one alternative per right: any one of them suffices.
func AnyOf(rights ...Right) []Alternative {
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
	// ExchangeServicePrincipal: some mailbox has appAccess (or the registration is removed),
	// and the organisation's SMTP AUTH setting is read.
	ExchangeServicePrincipal bool
	// MailboxAccess: mailboxes are listed (FullAccess, SMTP AUTH).
	MailboxAccess bool
}

// Everything is the Need of a run that uses every feature: doctor without a manifest, and
// ExplainDenied, which does not know the manifests.
func Everything() Need {
	return Need{DelegatedConsent: true, ApplicationConsent: true, GraphAppRoles: true, Assignments: true, Users: true, Groups: true, SendAs: true,
		ExchangeServicePrincipal: true, MailboxAccess: true}
}

// Steps lists the steps a run with need performs, with the rights each needs. Reading and
// writing the application are always there.
func Steps(need Need) []Step {
	readers := []Right{role(RoleDirectoryReaders), role(RoleApplicationAdmin), role(RoleCloudApplicationAdmin),
		role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)}
	steps := []Step{
		{ID: StepReadApplications, Action: "find the application and read the APIs' service principals and the permissions it holds",
			AppOnly: AnyOf(append([]Right{perm("Application.Read.All"), perm("Application.ReadWrite.All"), perm("Application.ReadWrite.OwnedBy"),
				perm("Directory.Read.All"), perm("Directory.ReadWrite.All")}, readers...)...),
			UserScopes: []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.AccessAsUser.All"},
			Note:       "Application.ReadWrite.OwnedBy only finds applications the identity owns"},
		{ID: StepReadConsent, Action: "read the application's delegated permission grants",
			AppOnly: AnyOf(append([]Right{perm("DelegatedPermissionGrant.Read.All"), perm("DelegatedPermissionGrant.ReadWrite.All"),
				perm("Directory.Read.All"), perm("Directory.ReadWrite.All")}, readers...)...),
			UserScopes: []string{"DelegatedPermissionGrant.Read.All", "DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All", "Directory.AccessAsUser.All"}},
		{ID: StepWriteApplication, Action: "create and update the application, its enterprise application and its secrets",
			AppOnly: AnyOf(perm("Application.ReadWrite.All"), perm("Application.ReadWrite.OwnedBy"), perm("Directory.ReadWrite.All"),
				role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RoleGlobalAdmin)),
			UserRoles:  []Right{role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RoleGlobalAdmin)},
			UserScopes: []string{"Application.ReadWrite.All", "Directory.AccessAsUser.All"},
			Note: "Application.ReadWrite.OwnedBy is enough for applications the identity created or owns; " +
				"an application made in the portal needs Application.ReadWrite.All"},
	}
	if need.DelegatedConsent {
		steps = append(steps, Step{ID: StepGrantDelegated, Action: "grant admin consent to delegated permissions",
			AppOnly: AnyOf(perm("DelegatedPermissionGrant.ReadWrite.All"), perm("Directory.ReadWrite.All"),
				role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)),
			UserRoles:  []Right{role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)},
			UserScopes: []string{"DelegatedPermissionGrant.ReadWrite.All", "Directory.AccessAsUser.All"}})
	}
	if need.ApplicationConsent {
		s := Step{ID: StepGrantApplication, Action: "grant admin consent to application permissions",
			AppOnly:    AnyOf(perm("AppRoleAssignment.ReadWrite.All"), role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)),
			UserRoles:  []Right{role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)},
			UserScopes: []string{"AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All"},
			Note:       "Microsoft Graph's application permissions need Privileged Role Administrator; other APIs' need Cloud Application Administrator"}
		if !need.GraphAppRoles {
			s.AppOnly = append(s.AppOnly, AnyOf(role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin))...)
			s.UserRoles = []Right{role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)}
			s.Note = ""
		}
		steps = append(steps, s)
	}
	if need.Assignments {
		steps = append(steps, Step{ID: StepAssign, Action: "assign users and groups to the enterprise application",
			AppOnly: AnyOf(perm("AppRoleAssignment.ReadWrite.All"), role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin),
				role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)),
			UserRoles: []Right{role(RoleCloudApplicationAdmin), role(RoleApplicationAdmin), role(RoleUserAdmin),
				role(RolePrivilegedRoleAdmin), role(RoleGlobalAdmin)},
			UserScopes: []string{"AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All"}})
	}
	if need.Users {
		steps = append(steps, Step{ID: StepReadUsers, Action: "look up the users the manifest names",
			AppOnly: AnyOf(append([]Right{perm("User.Read.All"), perm("User.ReadWrite.All"), perm("Directory.Read.All"),
				perm("Directory.ReadWrite.All"), perm("User.ReadBasic.All")}, readers...)...),
			UserScopes: []string{"User.Read.All", "User.ReadBasic.All", "Directory.Read.All", "Directory.AccessAsUser.All"},
			Note:       "User.ReadBasic.All finds users but does not show whether an account is disabled"})
	}
	if need.Groups {
		steps = append(steps, Step{ID: StepReadGroups, Action: "look up the groups the manifest names (assignments, Send-As trustees)",
			AppOnly: AnyOf(append([]Right{perm("Group.Read.All"), perm("GroupMember.Read.All"), perm("Group.ReadWrite.All"),
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
	exchangeStep := func(id StepID, action string, roles []string, note string) Step {
		var alts []Alternative
		var users []Right
		for _, r := range roles {
			alts = append(alts, Alternative{exoPerm("Exchange.ManageAsApp"), role(r)})
			users = append(users, role(r))
		}
		return Step{ID: id, Action: action, AppOnly: alts, UserRoles: users, Note: note}
	}
	if need.ExchangeServicePrincipal {
		steps = append(steps, exchangeStep(StepExchangeServicePrincipal,
			"register the application's service principal in Exchange Online and read the organisation's SMTP AUTH setting",
			[]string{RoleExchangeAdmin, RoleGlobalAdmin},
			"New-ServicePrincipal and Get-TransportConfig need Exchange Administrator; Exchange Recipient Administrator is not enough"))
	}
	if need.MailboxAccess {
		steps = append(steps, exchangeStep(StepMailboxAccess, "grant FullAccess on the listed mailboxes and set their SMTP AUTH",
			[]string{RoleExchangeRecipientAdmin, RoleExchangeAdmin, RoleGlobalAdmin}, "an application needs both the Exchange.ManageAsApp permission and an Exchange role"))
	}
	return steps
}

// StepOf returns the step id names, with the rights of a run that uses every feature.
func StepOf(id StepID) (Step, bool) {
	for _, s := range Steps(Everything()) {
		if s.ID == id {
			return s, true
		}
	}
	return Step{}, false
}
