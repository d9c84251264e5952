package rights

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/provisionhq/provision/provision/graph"
)

// Operation names a call of a run whose rights can be missing; each belongs to a step of the
// rights table, which says what allows it.
type Operation string

// The operations of a run (graph.md §5.1); each kind of object says which it performs.
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
	OpReadGrants              Operation = "read-grants"
	OpReadGroups              Operation = "read-groups"
	OpManageExchangeMailboxes Operation = "manage-exchange-mailboxes"
	// OpRegisterExchangeServicePrincipal registers (or removes) the application's service
	// principal in Exchange Online (New-/Get-/Remove-ServicePrincipal).
	OpRegisterExchangeServicePrincipal Operation = "register-exchange-service-principal"
	// OpManageMailboxAccess grants FullAccess on a mailbox (Add-/Get-/Remove-MailboxPermission)
	// and sets its SMTP AUTH switch (Get-/Set-CASMailbox).
	OpManageMailboxAccess Operation = "manage-mailbox-access"
	// OpReadTransportConfig reads the organisation's SMTP AUTH setting (Get-TransportConfig).
	OpReadTransportConfig Operation = "read-transport-config"
)

// Requirement is what an identity needs for an operation: the step of the rights table the
// operation belongs to, which doctor checks against the same table before a run.
type Requirement struct {
	Operation Operation
	// Action says what the operation does, as a user reads it.
	Action string
	// Step is the rights table's step, with every alternative that allows it.
	Step Step
	// AppPermissions are the application permissions (Microsoft Graph's, or Exchange Online's
	// for Send-As) named in the step's app-only alternatives, least privileged first.
	AppPermissions []string
}

// opStep places an operation in the rights table, with its own wording.
type opStep struct {
	op     Operation
	action string
	step   StepID
}

func operationSteps() []opStep {
	return []opStep{
		{OpReadServicePrincipals, "read the Microsoft Graph and Exchange Online service principals", StepReadApplications},
		{OpFindApplication, "find the application", StepReadApplications},
		{OpCreateApplication, "create the application", StepWriteApplication},
		{OpUpdateApplication, "update the application or its secrets", StepWriteApplication},
		{OpCreateServicePrincipal, "create the enterprise application (service principal)", StepWriteApplication},
		{OpUpdateServicePrincipal, "update the enterprise application", StepWriteApplication},
		{OpGrantDelegated, "grant admin consent to delegated permissions (oauth2PermissionGrants)", StepGrantDelegated},
		{OpGrantApplicationRoles, "grant admin consent to application permissions (appRoleAssignedTo)", StepGrantApplication},
		{OpAssignUsers, "assign users and groups to the enterprise application", StepAssign},
		{OpReadUsers, "look up users", StepReadUsers},
		{OpReadGrants, "read the application's delegated permission grants", StepReadConsent},
		{OpReadGroups, "look up groups", StepReadGroups},
		{OpManageExchangeMailboxes, "grant Send-As in Exchange Online", StepSendAs},
		{OpRegisterExchangeServicePrincipal, "register the application's service principal in Exchange Online", StepExchangeServicePrincipal},
		{OpManageMailboxAccess, "grant the application FullAccess on a mailbox, or set its SMTP AUTH", StepMailboxAccess},
		{OpReadTransportConfig, "read the organisation's SMTP AUTH setting (Get-TransportConfig)", StepExchangeServicePrincipal},
	}
}

// Operations lists every operation, in run order.
func Operations() []Operation {
	var out []Operation
	for _, o := range operationSteps() {
		out = append(out, o.op)
	}
	return out
}

// Requirements lists every operation's requirement, in run order.
func Requirements() []Requirement {
	var out []Requirement
	for _, o := range operationSteps() {
		step, ok := StepOf(o.step)
		if !ok {
			continue
		}
		r := Requirement{Operation: o.op, Action: o.action, Step: step}
		for _, alt := range step.AppOnly {
			for _, right := range alt {
				if right.Kind != DirectoryRole && !slices.Contains(r.AppPermissions, right.Name) {
					r.AppPermissions = append(r.AppPermissions, right.Name)
				}
			}
		}
		out = append(out, r)
	}
	return out
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
	Err         *graph.Error
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
	alts := make([]string, len(r.Step.AppOnly))
	for i, alt := range r.Step.AppOnly {
		names := make([]string, len(alt))
		for j, right := range alt {
			names[j] = right.String()
		}
		alts[i] = strings.Join(names, " and ")
	}
	fmt.Fprintf(&b, "An app-only identity needs %s", orList(alts))
	if len(r.Step.UserRoles) > 0 {
		names := make([]string, len(r.Step.UserRoles))
		for i, role := range r.Step.UserRoles {
			names[i] = role.Name
		}
		fmt.Fprintf(&b, "; a signed-in user needs the Entra role %s", orList(names))
	}
	if r.Step.Note != "" {
		fmt.Fprintf(&b, " (%s)", r.Step.Note)
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
	e, ok := graph.AsError(err)
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
