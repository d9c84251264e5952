package provision

import (
	"fmt"
	"slices"
	"strings"

	"github.com/provisionhq/provision/manifests"
)

// planApplication diffs the registration's own properties. It returns nil when nothing
// differs. An existing registration without the ownership tag is adopted: the change stamps
// the tag along with whatever else differs.
func planApplication(want Desired, app *ObservedApp, apis []resolvedAPI, resources []ResourceServicePrincipal) *Change {
	rra := desiredAccess(apis)
	if app == nil {
		spec := &ApplicationSpec{
			DisplayName:    want.Name,
			UniqueName:     want.UniqueName,
			SignInAudience: want.SignInAudience,
			Tags:           &[]string{ownershipTag},
		}
		if spec.SignInAudience == "" {
			spec.SignInAudience = manifests.SingleOrg.SignInAudience()
		}
		attrs := []AttrChange{{Name: "name", After: want.Name}}
		if want.UniqueName != "" {
			attrs = append(attrs, AttrChange{Name: "uniqueName", After: want.UniqueName})
		}
		attrs = append(attrs, AttrChange{Name: "audience", After: audienceWord(spec.SignInAudience)})
		for _, p := range platforms(want, nil) {
			if p.want != nil {
				uris := set(*p.want)
				p.assign(spec, &uris)
				if len(uris) > 0 {
					attrs = append(attrs, AttrChange{Name: "redirectUris." + p.name, After: uris})
				}
			}
		}
		if want.PermissionsManaged {
			spec.RequiredResourceAccess = &rra
			attrs = append(attrs, accessAttrs(nil, rra, resources, true)...)
		}
		attrs = append(attrs,
			AttrChange{Name: "appId", KnownAfterApply: true},
			AttrChange{Name: "tags", After: []string{ownershipTag}})
		return &Change{
			Address: want.Address, Kind: KindApplication, Action: Create, Attrs: attrs,
			Source: want.pos("application"),
			Target: Target{Application: spec},
		}
	}

	spec := &ApplicationSpec{}
	var attrs []AttrChange
	if app.DisplayName != want.Name {
		spec.DisplayName = want.Name
		attrs = append(attrs, AttrChange{Name: "name", Before: app.DisplayName, After: want.Name})
	}
	if want.SignInAudience != "" && app.SignInAudience != want.SignInAudience {
		spec.SignInAudience = want.SignInAudience
		attrs = append(attrs, AttrChange{Name: "audience", Before: audienceWord(app.SignInAudience), After: audienceWord(want.SignInAudience)})
	}
	for _, p := range platforms(want, app) {
		if p.want != nil && !sameSet(*p.want, p.have) {
			uris := set(*p.want)
			p.assign(spec, &uris)
			attrs = append(attrs, AttrChange{Name: "redirectUris." + p.name, Before: set(p.have), After: uris})
		}
	}
	if want.PermissionsManaged && !sameAccess(app.RequiredResourceAccess, rra) {
		spec.RequiredResourceAccess = &rra
		attrs = append(attrs, accessAttrs(app.RequiredResourceAccess, rra, resources, false)...)
	}
	action, reason := Update, ""
	// A manifest that names the registration by its appId (as provision export writes) has
	// adopted it already: the tag alone is no reason for a change, so an exported manifest
	// plans empty. The tag is stamped with the next change that has one.
	if !slices.Contains(app.Tags, ownershipTag) && (want.AppID == "" || len(attrs) > 0) {
		tags := append(append([]string{}, app.Tags...), ownershipTag)
		spec.Tags = &tags
		action = Adopt
		reason = fmt.Sprintf("adopt existing registration (appId %s) made outside provision", app.AppID)
		attrs = append(attrs, AttrChange{Name: "tags", Before: set(app.Tags), After: set(tags)})
	}
	if len(attrs) == 0 {
		return nil
	}
	return &Change{
		Address: want.Address, Kind: KindApplication, Action: action, Reason: reason, Attrs: attrs,
		Source: want.pos("application"),
		Target: Target{ID: app.ID, AppID: app.AppID, Application: spec},
	}
}

// platform is one redirect URI platform: what the manifest wants (nil: not managed), what the
// tenant has, and where the value goes in a request.
type platform struct {
	name   string
	want   *[]string
	have   []string
	assign func(*ApplicationSpec, *[]string)
}

// platforms lists the three redirect URI platforms of want against app (which may be nil).
func platforms(want Desired, app *ObservedApp) []platform {
	ptr := func(xs []string) *[]string {
		if xs == nil {
			return nil
		}
		return &xs
	}
	if app == nil {
		app = &ObservedApp{}
	}
	return []platform{
		{"web", ptr(want.Web), app.Web, func(s *ApplicationSpec, v *[]string) { s.Web = v }},
		{"spa", ptr(want.SPA), app.SPA, func(s *ApplicationSpec, v *[]string) { s.SPA = v }},
		{"publicClient", ptr(want.PublicClient), app.PublicClient, func(s *ApplicationSpec, v *[]string) { s.PublicClient = v }},
	}
}

// audienceWord returns the manifest word for a Graph signInAudience, or the value itself when
// it has none.
func audienceWord(signInAudience string) string {
	if a := manifests.AudienceFromSignIn(signInAudience); a != "" {
		return string(a)
	}
	return signInAudience
}

// desiredAccess is the requiredResourceAccess the resolved permissions make, one entry per
// resource in manifest order, each permission once.
func desiredAccess(apis []resolvedAPI) []RequiredResourceAccess {
	out := []RequiredResourceAccess{}
	index := map[string]int{}
	for _, api := range apis {
		i, ok := index[api.Resource.AppID]
		if !ok {
			i = len(out)
			index[api.Resource.AppID] = i
			out = append(out, RequiredResourceAccess{ResourceAppID: api.Resource.AppID, ResourceAccess: []ResourceAccess{}})
		}
		add := func(id, typ string) {
			ra := ResourceAccess{ID: id, Type: typ}
			if !slices.Contains(out[i].ResourceAccess, ra) {
				out[i].ResourceAccess = append(out[i].ResourceAccess, ra)
			}
		}
		for _, p := range api.Delegated {
			add(p.ID, AccessScope)
		}
		for _, p := range api.Application {
			add(p.ID, AccessRole)
		}
	}
	return out
}

// accessKeys flattens requiredResourceAccess into "resourceAppId/type/id" strings, the form
// compared as a set.
func accessKeys(rra []RequiredResourceAccess) []string {
	var keys []string
	for _, r := range rra {
		for _, a := range r.ResourceAccess {
			keys = append(keys, strings.ToLower(r.ResourceAppID+"/"+a.Type+"/"+a.ID))
		}
	}
	return keys
}

// sameAccess compares two requiredResourceAccess lists as sets of permissions.
func sameAccess(a, b []RequiredResourceAccess) bool { return sameSet(accessKeys(a), accessKeys(b)) }

// accessAttrs renders the difference between two requiredResourceAccess lists as one
// attribute per resource and type, with permission names instead of ids.
func accessAttrs(have, want []RequiredResourceAccess, resources []ResourceServicePrincipal, create bool) []AttrChange {
	type key struct{ appID, typ string }
	names := func(rra []RequiredResourceAccess) map[key][]string {
		m := map[key][]string{}
		for _, r := range rra {
			res := resourceByAppID(resources, r.ResourceAppID)
			for _, a := range r.ResourceAccess {
				k := key{strings.ToLower(r.ResourceAppID), a.Type}
				m[k] = append(m[k], res.permissionName(a.ID, a.Type))
			}
		}
		return m
	}
	before, after := names(have), names(want)
	var keys []key
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	var attrs []AttrChange
	for _, k := range keys {
		b, a := set(before[k]), set(after[k])
		if slices.Equal(b, a) {
			continue
		}
		label := k.appID
		if res := resourceByAppID(resources, k.appID); res != nil && res.DisplayName != "" {
			label = res.DisplayName
		}
		kind := "application"
		if k.typ == AccessScope {
			kind = "delegated"
		}
		c := AttrChange{Name: fmt.Sprintf("permissions[%q].%s", label, kind), After: a}
		if !create {
			c.Before = b
		}
		attrs = append(attrs, c)
	}
	slices.SortFunc(attrs, func(x, y AttrChange) int { return strings.Compare(x.Name, y.Name) })
	return attrs
}
