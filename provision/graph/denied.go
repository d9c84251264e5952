package graph

import (
	"fmt"
	"net/http"
	"strings"
)

// Operation names a step of a run whose rights can be missing.
type Operation string

// The operations of graph.md §5.1.
const (
	OpReadServicePrincipals   Operation = "read-service-principals"
	OpFindApplication         Operation = "find-application"
	OpCreateApplication       Operation = "create-application"
	OpUpdateApplication       Operation = "update-application"
	OpCreateServicePrincipal  Operation = "create-service-principal"
	OpUpdateServicePrincipal  Operation = "update-service-principal"
	OpGrantDelegated          Operation = "grant-delegated-permissions"
	OpGrantApplicationRoles   Operation = "grant-application-permissions"
	OpAssignUsers             Operation = "assign-users"
	OpReadUsers               Operation = "read-users"
	OpManageExchangeMailboxes Operation = "manage-exchange-mailboxes"
)

// Role is an Entra directory role, by name and template id (the token's wids claim).
type Role struct {
	Name       string
	TemplateID string
}

// Template ids of the Entra directory roles that matter to provision (the wids claim).
const (
	RoleApplicationDeveloper   = "cf1c38e5-3621-4004-a7cb-879624dced7c"
	RoleCloudApplicationAdmin  = "158c047a-c907-4556-b7ef-446551a6b5f7"
	RoleApplicationAdmin       = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
	RolePrivilegedRoleAdmin    = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	RoleUserAdmin              = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	RoleExchangeAdmin          = "29232cdf-9323-42fd-ade2-1d097af3e4de"
	RoleExchangeRecipientAdmin = "31392ffb-586c-42d1-9346-e59415a2cc4e"
	RoleGlobalAdmin            = "62e90394-69f5-4237-9190-012177145e10"
)

// Requirement is what an identity needs for an operation.
type Requirement struct {
	Operation Operation
	// Action says what the operation does, as a user reads it.
	Action string
	// AppPermissions are the Microsoft Graph application permissions of which one suffices
	// for an app-only identity, least privileged first.
	AppPermissions []string
	// AlsoNeeded are permissions needed in addition to one of AppPermissions.
	AlsoNeeded []string
	// Roles are the Entra roles of which one lets a signed-in user do it; empty when any
	// member user can.
	Roles []Role
	// Note is a caveat worth printing.
	Note string
}

// Requirements lists every operation's requirement, in run order, for doctor.
func Requirements() []Requirement {
	var (
		roleApplicationDeveloper   = Role{"Application Developer", RoleApplicationDeveloper}
		roleCloudApplicationAdmin  = Role{"Cloud Application Administrator", RoleCloudApplicationAdmin}
		roleApplicationAdmin       = Role{"Application Administrator", RoleApplicationAdmin}
		rolePrivilegedRoleAdmin    = Role{"Privileged Role Administrator", RolePrivilegedRoleAdmin}
		roleUserAdmin              = Role{"User Administrator", RoleUserAdmin}
		roleExchangeAdmin          = Role{"Exchange Administrator", RoleExchangeAdmin}
		roleExchangeRecipientAdmin = Role{"Exchange Recipient Administrator", RoleExchangeRecipientAdmin}
		roleGlobalAdmin            = Role{"Global Administrator", RoleGlobalAdmin}
	)
	return []Requirement{
		{Operation: OpReadServicePrincipals, Action: "read the Microsoft Graph and Exchange Online service principals",
			AppPermissions: []string{"Application.Read.All"},
			Note:           "any member user can read service principals by default"},
		{Operation: OpFindApplication, Action: "find the application",
			AppPermissions: []string{"Application.Read.All", "Application.ReadWrite.OwnedBy"},
			Note:           "Application.ReadWrite.OwnedBy only sees applications the identity owns"},
		{Operation: OpCreateApplication, Action: "create the application",
			AppPermissions: []string{"AppRegistration.Create", "Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"},
			Roles:          []Role{roleApplicationDeveloper, roleCloudApplicationAdmin, roleApplicationAdmin},
			Note:           "a user may also create applications when the tenant lets users register applications"},
		{Operation: OpUpdateApplication, Action: "update the application or its secrets",
			AppPermissions: []string{"Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"},
			Roles:          []Role{roleCloudApplicationAdmin, roleApplicationAdmin},
			Note:           "Application.ReadWrite.OwnedBy works only if the identity owns the application"},
		{Operation: OpCreateServicePrincipal, Action: "create the enterprise application (service principal)",
			AppPermissions: []string{"Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"},
			Roles:          []Role{roleCloudApplicationAdmin, roleApplicationAdmin},
			Note:           "with Application.ReadWrite.OwnedBy the identity must own the application"},
		{Operation: OpUpdateServicePrincipal, Action: "update the enterprise application",
			AppPermissions: []string{"Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"},
			Roles:          []Role{roleCloudApplicationAdmin, roleApplicationAdmin}},
		{Operation: OpGrantDelegated, Action: "grant admin consent to delegated permissions (oauth2PermissionGrants)",
			AppPermissions: []string{"DelegatedPermissionGrant.ReadWrite.All"},
			AlsoNeeded:     []string{"Application.Read.All"},
			Roles:          []Role{roleCloudApplicationAdmin, roleApplicationAdmin, rolePrivilegedRoleAdmin}},
		{Operation: OpGrantApplicationRoles, Action: "grant admin consent to application permissions (appRoleAssignedTo)",
			AppPermissions: []string{"AppRoleAssignment.ReadWrite.All"},
			AlsoNeeded:     []string{"Application.Read.All"},
			Roles:          []Role{rolePrivilegedRoleAdmin, roleGlobalAdmin},
			Note: "Cloud Application Administrator and Application Administrator can consent application permissions " +
				"of other APIs, but not of Microsoft Graph"},
		{Operation: OpAssignUsers, Action: "assign users and groups to the enterprise application",
			AppPermissions: []string{"AppRoleAssignment.ReadWrite.All"},
			AlsoNeeded:     []string{"Application.Read.All"},
			Roles:          []Role{roleCloudApplicationAdmin, roleApplicationAdmin, roleUserAdmin}},
		{Operation: OpReadUsers, Action: "look up users",
			AppPermissions: []string{"User.ReadBasic.All", "User.Read.All"},
			Note:           "a signed-in member user needs no extra role"},
		{Operation: OpManageExchangeMailboxes, Action: "grant Send-As in Exchange Online",
			AppPermissions: []string{"Exchange.ManageAsApp (Office 365 Exchange Online)"},
			Roles:          []Role{roleExchangeRecipientAdmin, roleExchangeAdmin},
			Note:           "an app-only identity needs both the Exchange.ManageAsApp permission and one of the roles"},
	}
}

// RequirementOf returns the requirement of op.
func RequirementOf(op Operation) (Requirement, bool) {
	for _, r := range Requirements() {
		if r.Operation == op {
			return r, true
		}
	}
	return Requirement{}, false
}

// DeniedError is a refused operation with what it needs. It unwraps to the Graph error, which
// keeps the request id for support.
type DeniedError struct {
	Requirement Requirement
	Err         *Error
}

// Error explains the refusal and the rights that fix it.
func (e *DeniedError) Error() string {
	r := e.Requirement
	var b strings.Builder
	if e.Err.Status == http.StatusUnauthorized {
		fmt.Fprintf(&b, "%s: the token was rejected (%s); check that the credential signs in to the right tenant and "+
			"cloud for this Graph endpoint. Once signed in, ", r.Action, e.Err)
	} else {
		fmt.Fprintf(&b, "%s: permission denied (%s). ", r.Action, e.Err)
	}
	fmt.Fprintf(&b, "An app-only identity needs the Microsoft Graph application permission %s", orList(r.AppPermissions))
	if len(r.AlsoNeeded) > 0 {
		fmt.Fprintf(&b, " and %s", strings.Join(r.AlsoNeeded, " and "))
	}
	if len(r.Roles) > 0 {
		names := make([]string, len(r.Roles))
		for i, role := range r.Roles {
			names[i] = role.Name
		}
		fmt.Fprintf(&b, "; a signed-in user needs the Entra role %s", orList(names))
	}
	if r.Note != "" {
		fmt.Fprintf(&b, " (%s)", r.Note)
	}
	b.WriteString(".")
	return b.String()
}

// Unwrap returns the Graph error.
func (e *DeniedError) Unwrap() error { return e.Err }

func orList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// ExplainDenied turns a 403 Authorization_RequestDenied (or any 401) from op into a
// *DeniedError naming the permission and role op needs; other errors are returned unchanged.
func ExplainDenied(err error, op Operation) error {
	e, ok := AsError(err)
	if !ok {
		return err
	}
	denied := e.Status == http.StatusUnauthorized ||
		(e.Status == http.StatusForbidden && (e.Code == "Authorization_RequestDenied" || e.Code == "" || e.Code == "Forbidden"))
	if !denied {
		return err
	}
	r, ok := RequirementOf(op)
	if !ok {
		return err
	}
	return &DeniedError{Requirement: r, Err: e}
}
