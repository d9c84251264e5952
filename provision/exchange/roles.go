package exchange

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The Entra directory roles that carry the Exchange roles of provision's cmdlets, app-only
// (mailbox.md §1.13). They are package rights' names; this package does not import rights,
// which explains errors of the clients and may come to import this one.
const (
	// RoleExchangeAdministrator carries Organization Management.
	RoleExchangeAdministrator = "Exchange Administrator"
	// RoleRecipientAdministrator carries Recipient Management; Exchange Administrator holds it too.
	RoleRecipientAdministrator = "Exchange Recipient Administrator"
)

// RequiredRole names the least-privileged Entra directory role that lets an app-only caller
// run cmdlet (mailbox.md §1.13): Exchange Administrator (Organization Management: Role
// Management, View-Only Configuration) for the service principal cmdlets and the transport
// config; Exchange Recipient Administrator (Mail Recipients) for mailbox permissions, client
// access settings, Send-As and the rest.
func RequiredRole(cmdlet string) string {
	c := strings.ToLower(cmdlet)
	if strings.HasSuffix(c, "-serviceprincipal") || strings.HasSuffix(c, "-transportconfig") {
		return RoleExchangeAdministrator
	}
	return RoleRecipientAdministrator
}

// AccessDeniedError is a cmdlet Exchange refused with 403 because the caller's role does not
// include it (Exchange RBAC leaves such cmdlets out of the caller's session). It names the role
// to assign; errors.As still finds the *Error underneath, so IsForbidden holds.
type AccessDeniedError struct {
	// Cmdlet is the refused cmdlet.
	Cmdlet string
	// Role is the Entra directory role that carries it (RequiredRole).
	Role string
	// Err is the refusal as the service sent it.
	Err *Error
}

// Error names the cmdlet, the role to assign and what identifies the refusal.
func (e *AccessDeniedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: access denied: the signed-in identity needs the %s role (an Entra directory role on its service principal); "+
		"a role granted minutes ago needs a fresh token and time to propagate", e.Cmdlet, e.Role)
	if e.Err.Diagnostics != "" {
		b.WriteString(" (x-ms-diagnostics: " + e.Err.Diagnostics + ")")
	}
	if e.Err.RequestID != "" {
		b.WriteString(" (request-id " + e.Err.RequestID + ")")
	}
	return b.String()
}

// Unwrap returns the service's answer.
func (e *AccessDeniedError) Unwrap() error { return e.Err }

// withRole turns a 403 into an *AccessDeniedError naming the role; a 401 (the application
// permission Exchange.ManageAsApp, not a role) and other errors pass unchanged.
func withRole(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusForbidden {
		return &AccessDeniedError{Cmdlet: e.Cmdlet, Role: RequiredRole(e.Cmdlet), Err: e}
	}
	return err
}

// IsAlreadyExists reports whether err says the object to create exists already (a second
// New-ServicePrincipal for the same application).
func IsAlreadyExists(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return strings.HasSuffix(e.Type, "AlreadyExistsException") || strings.Contains(strings.ToLower(e.Message), "already exist")
}
