package provision

import (
	"fmt"
	"slices"
	"strings"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/internal/sets"
)

// Admin consent is two kinds: the delegated permissions of each API are one tenant-wide
// grant (delegatedGrantKind), each application permission is one app role assignment of the
// service principal on the API's (appRoleGrantKind). With adminConsent the manifest owns
// both: what it does not list is removed. Without it, consent is left alone and a warning
// lists what is still unconsented. Per-user grants (consentType Principal) are never
// touched: users gave them. This file holds what the two share.

// The consentType of a tenant-wide delegated permission grant.
const allPrincipals = "AllPrincipals"

// consent is the admin consent the document's service principal holds.
type consent struct {
	grants      map[string][]Grant // tenant-wide grants by lower-cased resource id
	assignments []AppRoleAssignment
}

// consentOf collects the consent d's service principal (nil: none yet) holds.
func consentOf(d *docPlan) consent {
	c := consent{grants: map[string][]Grant{}}
	if d.sp == nil {
		return c
	}
	for _, g := range d.obs.Grants {
		if g.ConsentType == allPrincipals && strings.EqualFold(g.ClientID, d.sp.ID) {
			k := strings.ToLower(g.ResourceID)
			c.grants[k] = append(c.grants[k], g)
		}
	}
	for _, a := range d.obs.AppRoleAssignments {
		if strings.EqualFold(a.PrincipalID, d.sp.ID) {
			c.assignments = append(c.assignments, a)
		}
	}
	return c
}

// holds reports whether the service principal holds app role roleID on resourceID.
func (c consent) holds(resourceID, roleID string) bool {
	return slices.ContainsFunc(c.assignments, func(a AppRoleAssignment) bool {
		return strings.EqualFold(a.ResourceID, resourceID) && strings.EqualFold(a.AppRoleID, roleID)
	})
}

// consentWarnings are the warnings about consent as a whole: what is still unconsented when
// the manifest leaves consent to someone else, and IMAP/POP/SMTP scopes asked of Microsoft
// Graph only.
func consentWarnings(d *docPlan, c consent) []Warning {
	var out []Warning
	if d.want.PermissionsManaged && !d.want.AdminConsent {
		out = append(out, pendingConsent(d.want, d.apis, c)...)
	}
	return append(out, exchangeProtocolWarnings(d.want, d.apis)...)
}

// pendingConsent warns about the listed permissions no admin has consented to yet, when the
// manifest leaves consent to someone else.
func pendingConsent(want Desired, apis []resolvedAPI, c consent) []Warning {
	var missing []string
	for _, api := range apis {
		var granted []string
		for _, g := range c.grants[strings.ToLower(api.Resource.ID)] {
			granted = append(granted, strings.Fields(g.Scope)...)
		}
		var names []string
		for _, p := range api.Delegated {
			if !slices.Contains(granted, p.Value) {
				names = append(names, p.Value)
			}
		}
		for _, p := range api.Application {
			if !c.holds(api.Resource.ID, p.ID) {
				names = append(names, p.Value)
			}
		}
		if len(names) > 0 {
			missing = append(missing, fmt.Sprintf("%s: %s", api.Name, strings.Join(sets.Sorted(names), ", ")))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return []Warning{{
		Address: want.Address,
		Message: fmt.Sprintf("admin consent is pending for %s; set adminConsent: true, or have an administrator grant it",
			strings.Join(missing, "; ")),
		Source: want.pos("application.adminConsent"),
	}}
}

// exchangeProtocolWarnings flags IMAP, POP and SMTP delegated scopes requested from Microsoft
// Graph alone: tokens for those protocols are issued for Office 365 Exchange Online, so
// consent to Graph's same-named scopes does not pre-consent them. The plan follows the
// manifest literally and only warns.
func exchangeProtocolWarnings(want Desired, apis []resolvedAPI) []Warning {
	exo := map[string]bool{}
	for _, api := range apis {
		if strings.EqualFold(api.Resource.AppID, manifests.ExchangeOnlineAppID) {
			for _, p := range api.Delegated {
				exo[p.Value] = true
			}
		}
	}
	var warnings []Warning
	for _, api := range apis {
		if !strings.EqualFold(api.Resource.AppID, manifests.MicrosoftGraphAppID) {
			continue
		}
		// One warning per API entry, naming every such scope, at the first one's line.
		var names []string
		var source manifests.Pos
		for _, p := range api.Delegated {
			switch p.Value {
			case "IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send":
			default:
				continue
			}
			if exo[p.Value] {
				continue
			}
			if len(names) == 0 {
				source = p.Source
			}
			names = append(names, p.Value)
		}
		if len(names) == 0 {
			continue
		}
		list, verb := strings.Join(names, ", "), "are"
		if len(names) == 1 {
			verb = "is"
		}
		warnings = append(warnings, Warning{
			Address: fmt.Sprintf("%s.consent[%q].delegated", want.Address, api.Name),
			Message: fmt.Sprintf("%s %s requested from Microsoft Graph only: IMAP, POP and SMTP tokens are issued for "+
				"Office 365 Exchange Online, so consent to the Graph scopes does not cover them; to pre-consent, "+
				"also list %s as delegated under Office 365 Exchange Online", list, verb, list),
			Source: source,
		})
	}
	return warnings
}
