package provision

import (
	"fmt"
	"github.com/provisionhq/provision/manifests"
	"slices"
	"strings"
)

// The consentType of a tenant-wide delegated permission grant.
const allPrincipals = "AllPrincipals"

// planConsent diffs the admin consent of the application's service principal (sp, nil when
// it does not exist yet). With adminConsent it owns one AllPrincipals grant per resource,
// carrying exactly the delegated scopes, and one app role assignment per application
// permission; anything else of those kinds is removed. Without it, consent is left alone and
// a warning lists what is still unconsented. Per-user grants (consentType Principal) are
// never touched: users gave them.
func planConsent(want Desired, sp *ObservedServicePrincipal, apis []resolvedAPI, o *Observed) ([]Change, []Warning) {
	if !want.PermissionsManaged {
		return nil, nil
	}
	grants := map[string][]Grant{} // by resource id
	var assignments []AppRoleAssignment
	if sp != nil {
		for _, g := range o.Grants {
			if g.ConsentType == allPrincipals && strings.EqualFold(g.ClientID, sp.ID) {
				k := strings.ToLower(g.ResourceID)
				grants[k] = append(grants[k], g)
			}
		}
		for _, a := range o.AppRoleAssignments {
			if strings.EqualFold(a.PrincipalID, sp.ID) {
				assignments = append(assignments, a)
			}
		}
	}
	if !want.AdminConsent {
		return nil, pendingConsent(want, apis, grants, assignments)
	}

	var changes []Change
	handled := map[string]bool{}
	wantRoles := map[string]bool{} // resourceID/appRoleID
	for _, api := range apis {
		res := strings.ToLower(api.Resource.ID)
		handled[res] = true
		addr := fmt.Sprintf("%s.consent[%q].delegated", want.Address, api.Name)
		scopes := make([]string, len(api.Delegated))
		for i, p := range api.Delegated {
			scopes[i] = p.Value
		}
		scopes = set(scopes)
		have := grants[res]
		switch {
		case len(scopes) == 0:
			for _, g := range have {
				changes = append(changes, deleteGrant(addr, g, "no delegated permissions listed for this api"))
			}
		case len(have) == 0:
			changes = append(changes, Change{
				Address: addr, Kind: KindDelegatedGrant, Action: Create,
				Attrs: []AttrChange{
					{Name: "consentType", After: allPrincipals},
					{Name: "scope", After: scopes},
				},
				Source: api.Source,
				Target: Target{ResourceID: api.Resource.ID, Scope: strings.Join(scopes, " ")},
			})
		default:
			if current := strings.Fields(have[0].Scope); !sameSet(current, scopes) {
				changes = append(changes, Change{
					Address: addr, Kind: KindDelegatedGrant, Action: Update,
					Attrs:  []AttrChange{{Name: "scope", Before: set(current), After: scopes}},
					Source: api.Source,
					Target: Target{ID: have[0].ID, ResourceID: api.Resource.ID, Scope: strings.Join(scopes, " ")},
				})
			}
			for _, g := range have[1:] {
				changes = append(changes, deleteGrant(addr, g, "duplicate tenant-wide grant for the same api"))
			}
		}
		for _, p := range api.Application {
			key := strings.ToLower(api.Resource.ID + "/" + p.ID)
			wantRoles[key] = true
			if slices.ContainsFunc(assignments, func(a AppRoleAssignment) bool {
				return strings.ToLower(a.ResourceID+"/"+a.AppRoleID) == key
			}) {
				continue
			}
			changes = append(changes, Change{
				Address: fmt.Sprintf("%s.consent[%q].role[%q]", want.Address, api.Name, p.Value),
				Kind:    KindAppRoleGrant, Action: Create,
				Attrs:  []AttrChange{{Name: "appRoleId", After: p.ID}, {Name: "id", KnownAfterApply: true}},
				Source: p.Source,
				Target: Target{ResourceID: api.Resource.ID, AppRoleID: p.ID},
			})
		}
	}
	for res, gs := range grants {
		if handled[res] {
			continue
		}
		name := resourceLabel(o.Resources, gs[0].ResourceID, "")
		for _, g := range gs {
			changes = append(changes, deleteGrant(fmt.Sprintf("%s.consent[%q].delegated", want.Address, name), g, "api not in the manifest"))
		}
	}
	seen := map[string]bool{}
	for _, a := range assignments {
		key := strings.ToLower(a.ResourceID + "/" + a.AppRoleID)
		if wantRoles[key] || seen[key] {
			// A second assignment of the same role cannot exist in Graph; skipping keeps
			// addresses unique even if a fake returns one.
			continue
		}
		seen[key] = true
		res := resourceByID(o.Resources, a.ResourceID)
		name := resourceLabel(o.Resources, a.ResourceID, a.ResourceDisplayName)
		role := res.permissionName(a.AppRoleID, AccessRole)
		changes = append(changes, Change{
			Address: fmt.Sprintf("%s.consent[%q].role[%q]", want.Address, name, role),
			Kind:    KindAppRoleGrant, Action: Delete, Reason: "not in the manifest",
			Attrs:  []AttrChange{{Name: "appRoleId", Before: a.AppRoleID}},
			Target: Target{ID: a.ID, ResourceID: a.ResourceID, AppRoleID: a.AppRoleID},
		})
	}
	return changes, nil
}

// deleteGrant is the removal of a tenant-wide grant.
func deleteGrant(addr string, g Grant, reason string) Change {
	return Change{
		Address: addr, Kind: KindDelegatedGrant, Action: Delete, Reason: reason,
		Attrs:  []AttrChange{{Name: "scope", Before: set(strings.Fields(g.Scope))}},
		Target: Target{ID: g.ID, ResourceID: g.ResourceID},
	}
}

// resourceLabel names a resource service principal for an address: its display name when
// known, else the name Graph reported alongside, else its object id.
func resourceLabel(rs []ResourceServicePrincipal, id, reported string) string {
	if r := resourceByID(rs, id); r != nil && r.DisplayName != "" {
		return r.DisplayName
	}
	if reported != "" {
		return reported
	}
	return id
}

// pendingConsent warns about the listed permissions no admin has consented to yet, when the
// manifest leaves consent to someone else.
func pendingConsent(want Desired, apis []resolvedAPI, grants map[string][]Grant, assignments []AppRoleAssignment) []Warning {
	var missing []string
	for _, api := range apis {
		var granted []string
		for _, g := range grants[strings.ToLower(api.Resource.ID)] {
			granted = append(granted, strings.Fields(g.Scope)...)
		}
		var names []string
		for _, p := range api.Delegated {
			if !slices.Contains(granted, p.Value) {
				names = append(names, p.Value)
			}
		}
		for _, p := range api.Application {
			if !slices.ContainsFunc(assignments, func(a AppRoleAssignment) bool {
				return strings.EqualFold(a.ResourceID, api.Resource.ID) && strings.EqualFold(a.AppRoleID, p.ID)
			}) {
				names = append(names, p.Value)
			}
		}
		if len(names) > 0 {
			missing = append(missing, fmt.Sprintf("%s: %s", api.Name, strings.Join(set(names), ", ")))
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
		if strings.EqualFold(api.Resource.AppID, ExchangeAppID) {
			for _, p := range api.Delegated {
				exo[p.Value] = true
			}
		}
	}
	var warnings []Warning
	for _, api := range apis {
		if !strings.EqualFold(api.Resource.AppID, GraphAppID) {
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
