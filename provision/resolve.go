package provision

import (
	"fmt"
	"slices"
	"strings"

	"github.com/provisionhq/provision/manifests"
)

// resolvedAPI is a manifest permissions entry matched to the tenant's resource service
// principal, with each name turned into the permission's id.
type resolvedAPI struct {
	Name        string // the display name used in addresses
	Resource    *ResourceServicePrincipal
	Delegated   []resolvedPermission
	Application []resolvedPermission
	Source      manifests.Pos
}

// resolvedPermission is one permission name and its id on the resource.
type resolvedPermission struct {
	Value  string
	ID     string
	Source manifests.Pos
}

// findResource picks the resource service principal a manifest's api names: by appId when it
// is one, by well-known appId for Microsoft Graph and Exchange Online, else by display name,
// which must be unambiguous.
func findResource(api string, resources []ResourceServicePrincipal) (*ResourceServicePrincipal, error) {
	appID := ""
	if manifests.IsGUID(api) {
		appID = api
	} else if id, ok := wellKnownAPIs()[api]; ok {
		appID = id
	}
	if appID != "" {
		for i := range resources {
			if strings.EqualFold(resources[i].AppID, appID) {
				return &resources[i], nil
			}
		}
		return nil, fmt.Errorf("api %q: no service principal with appId %s in the tenant", api, appID)
	}
	var found []*ResourceServicePrincipal
	for i := range resources {
		if resources[i].DisplayName == api {
			found = append(found, &resources[i])
		}
	}
	switch len(found) {
	case 0:
		var names []string
		for _, r := range resources {
			names = append(names, r.DisplayName)
		}
		for n := range wellKnownAPIs() {
			names = append(names, n)
		}
		return nil, fmt.Errorf("api %q: no service principal with this display name in the tenant%s", api, suggestion(api, names))
	case 1:
		return found[0], nil
	}
	var ids []string
	for _, r := range found {
		ids = append(ids, r.AppID)
	}
	slices.Sort(ids)
	return nil, fmt.Errorf("api %q: %d service principals have this display name (appIds %s); write the appId instead",
		api, len(found), strings.Join(ids, ", "))
}

// resolveAPIs matches every permissions entry of want against the tenant and reports every
// name it cannot resolve.
func resolveAPIs(want Desired, resources []ResourceServicePrincipal) ([]resolvedAPI, manifests.Diagnostics) {
	var out []resolvedAPI
	var probs manifests.Diagnostics
	for _, api := range want.Permissions {
		r, err := findResource(api.API, resources)
		if err != nil {
			probs = append(probs, want.problem(api.Path+".api", err))
			continue
		}
		name := r.DisplayName
		if name == "" {
			name = api.API
		}
		got := resolvedAPI{Name: name, Resource: r, Source: want.pos(api.Path)}
		for _, n := range api.Delegated {
			id, err := r.scopeID(n.Name)
			if err != nil {
				probs = append(probs, want.problem(n.Path, err))
				continue
			}
			got.Delegated = append(got.Delegated, resolvedPermission{Value: n.Name, ID: id, Source: want.pos(n.Path)})
		}
		for _, n := range api.Application {
			id, err := r.roleID(n.Name)
			if err != nil {
				probs = append(probs, want.problem(n.Path, err))
				continue
			}
			got.Application = append(got.Application, resolvedPermission{Value: n.Name, ID: id, Source: want.pos(n.Path)})
		}
		out = append(out, got)
	}
	return out, probs
}

// scopeID returns the id of the enabled delegated permission named value.
func (r *ResourceServicePrincipal) scopeID(value string) (string, error) {
	var ids []string
	for _, s := range r.Scopes {
		if s.Value == value && s.IsEnabled {
			ids = append(ids, s.ID)
		}
	}
	switch len(ids) {
	case 1:
		return ids[0], nil
	case 0:
		if _, err := r.roleID(value); err == nil {
			return "", fmt.Errorf("%q is an application permission of %s, not a delegated one: list it under application", value, r.DisplayName)
		}
		var names []string
		for _, s := range r.Scopes {
			if s.IsEnabled {
				names = append(names, s.Value)
			}
		}
		return "", fmt.Errorf("%s has no delegated permission %q%s", r.DisplayName, value, suggestion(value, names))
	}
	return "", fmt.Errorf("%s has %d enabled delegated permissions named %q (ids %s); provision will not guess", r.DisplayName, len(ids), value, strings.Join(ids, ", "))
}

// roleID returns the id of the enabled application permission (an app role that
// applications may hold) named value.
func (r *ResourceServicePrincipal) roleID(value string) (string, error) {
	var ids []string
	for _, a := range r.AppRoles {
		if a.Value == value && a.IsEnabled && slices.Contains(a.AllowedMemberTypes, "Application") {
			ids = append(ids, a.ID)
		}
	}
	switch len(ids) {
	case 1:
		return ids[0], nil
	case 0:
		for _, s := range r.Scopes {
			if s.Value == value && s.IsEnabled {
				return "", fmt.Errorf("%q is a delegated permission of %s, not an application one: list it under delegated", value, r.DisplayName)
			}
		}
		var names []string
		for _, a := range r.AppRoles {
			if a.IsEnabled && slices.Contains(a.AllowedMemberTypes, "Application") {
				names = append(names, a.Value)
			}
		}
		return "", fmt.Errorf("%s has no application permission %q%s", r.DisplayName, value, suggestion(value, names))
	}
	return "", fmt.Errorf("%s has %d enabled application permissions named %q (ids %s); provision will not guess", r.DisplayName, len(ids), value, strings.Join(ids, ", "))
}

// permissionName returns the value of the permission id of type typ ("Scope" or "Role") on r,
// or the id itself when r does not offer it (a permission since removed from the API).
func (r *ResourceServicePrincipal) permissionName(id, typ string) string {
	if r == nil {
		return id
	}
	if typ == AccessScope {
		for _, s := range r.Scopes {
			if strings.EqualFold(s.ID, id) {
				return s.Value
			}
		}
		return id
	}
	for _, a := range r.AppRoles {
		if strings.EqualFold(a.ID, id) {
			return a.Value
		}
	}
	return id
}

// suggestion renders the closest names to name as " (did you mean X or Y?)", or "".
func suggestion(name string, candidates []string) string {
	close := manifests.ClosestNames(name, candidates, 3)
	if len(close) == 0 {
		return ""
	}
	quoted := make([]string, len(close))
	for i, c := range close {
		quoted[i] = fmt.Sprintf("%q", c)
	}
	return " (did you mean " + strings.Join(quoted, " or ") + "?)"
}
