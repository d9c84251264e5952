package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/rights"
)

// resourceKind reads the resource APIs' service principals (Microsoft Graph, Office 365
// Exchange Online, any API a manifest names): the permissions they offer, which turn
// permission names into ids. It plans no change; its plan resolves the document's permissions
// for the kinds after it (the application's requiredResourceAccess, consent).
//
// Observe: round 1, each distinct api of every document once (by appId when it is one or
// a well-known API, else by display name). A complete observation also reads, in round 2,
// the APIs the registration requests and, in round 4, the APIs of grants and app role
// assignments not known by then.
type resourceKind struct{}

func (resourceKind) name() Kind { return "" }

func (resourceKind) traits() traits {
	return traits{operations: []rights.Operation{rights.OpReadServicePrincipals}}
}

// DesiredAPI is the permissions requested from one resource API.
type DesiredAPI struct {
	API         string // display name or appId, as written
	Path        string // manifest path of the entry, e.g. application.permissions[0]
	Delegated   []DesiredName
	Application []DesiredName
}

// ResourceServicePrincipal is an API's service principal and the permissions it offers.
type ResourceServicePrincipal struct {
	ID          string
	AppID       string
	DisplayName string
	AppRoles    []AppRole
	Scopes      []PermissionScope
}

// AppRole is an application permission (or a user role) a resource offers.
type AppRole struct {
	ID                 string
	Value              string
	IsEnabled          bool
	AllowedMemberTypes []string
}

// PermissionScope is a delegated permission a resource offers. Type is "Admin" when only an
// administrator may consent, "User" otherwise.
type PermissionScope struct {
	ID        string
	Value     string
	IsEnabled bool
	Type      string
}

// resourceFields are the properties read of a resource API's service principal.
func resourceFields() []string {
	return []string{"id", "appId", "displayName", "appRoles", "oauth2PermissionScopes"}
}

// resourceFromModel converts an SDK service principal read with resourceFields.
func resourceFromModel(m models.ServicePrincipalable) ResourceServicePrincipal {
	r := ResourceServicePrincipal{ID: str(m.GetId()), AppID: str(m.GetAppId()), DisplayName: str(m.GetDisplayName())}
	for _, a := range m.GetAppRoles() {
		r.AppRoles = append(r.AppRoles, AppRole{ID: uuidStr(a.GetId()), Value: str(a.GetValue()), IsEnabled: flag(a.GetIsEnabled()), AllowedMemberTypes: a.GetAllowedMemberTypes()})
	}
	for _, s := range m.GetOauth2PermissionScopes() {
		r.Scopes = append(r.Scopes, PermissionScope{ID: uuidStr(s.GetId()), Value: str(s.GetValue()), IsEnabled: flag(s.GetIsEnabled()), Type: str(s.GetTypeEscaped())})
	}
	return r
}

func (resourceKind) observe(ctx context.Context, n int, r *round) {
	switch {
	case n == 1:
		seen := map[string]bool{}
		for _, w := range r.wants {
			for _, api := range w.Permissions {
				if !seen[api.API] {
					seen[api.API] = true
					readResource(ctx, r, api.API)
				}
			}
		}
	case n == 2 && r.opts.Complete:
		for i, w := range r.wants {
			app, err := matchApp(w, r.obs[i].Apps)
			if err != nil || app == nil {
				continue
			}
			for _, rra := range app.RequiredResourceAccess {
				if ResourceByAppID(r.obs[i].Resources, rra.ResourceAppID) == nil {
					readResource(ctx, r, rra.ResourceAppID)
				}
			}
		}
	case n == 4 && r.opts.Complete:
		seen := map[string]bool{}
		for _, o := range r.obs {
			var ids []string
			for _, g := range o.Grants {
				ids = append(ids, g.ResourceID)
			}
			for _, a := range o.AppRoleAssignments {
				ids = append(ids, a.ResourceID)
			}
			for _, id := range ids {
				if k := strings.ToLower(id); !seen[k] && ResourceByID(o.Resources, id) == nil {
					seen[k] = true
					readResourceByID(ctx, r, id)
				}
			}
		}
	}
}

// readResource queues the read of the API a manifest (or a registration) names by appId or
// display name, adding what it finds to every document's resources.
func readResource(ctx context.Context, r *round, api string) {
	client := r.e.Graph.Graph
	appID := api
	if id, ok := manifests.WellKnownAPIAppID(api); ok {
		appID = id
	}
	if manifests.IsGUID(appID) {
		r.graph(func(_ context.Context, res graph.BatchResponse) error {
			sp, err := decodeOne(r.e, res, models.CreateServicePrincipalFromDiscriminatorValue, resourceFromModel)
			if err != nil {
				return fmt.Errorf("read resource API %s: %w", api, rights.ExplainDenied(err, rights.OpReadServicePrincipals))
			}
			if sp != nil {
				addResources(r, *sp)
			}
			return nil
		})(client.ServicePrincipalsWithAppId(&appID).ToGetRequestInformation(ctx,
			&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: resourceFields()}}))
		return
	}
	f := eqFilter("displayName", api)
	r.graph(func(ctx context.Context, res graph.BatchResponse) error {
		sps, err := decodeList[models.ServicePrincipalCollectionResponseable](ctx, r.e, res, models.CreateServicePrincipalCollectionResponseFromDiscriminatorValue, resourceFromModel)
		if err != nil {
			return fmt.Errorf("read resource API %q: %w", api, rights.ExplainDenied(err, rights.OpReadServicePrincipals))
		}
		addResources(r, sps...)
		return nil
	})(client.ServicePrincipals().ToGetRequestInformation(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Filter: &f, Select: resourceFields()}}))
}

// readResourceByID queues the read of a resource API by object id (the resource of a grant
// or an app role assignment).
func readResourceByID(ctx context.Context, r *round, id string) {
	r.graph(func(_ context.Context, res graph.BatchResponse) error {
		sp, err := decodeOne(r.e, res, models.CreateServicePrincipalFromDiscriminatorValue, resourceFromModel)
		if err != nil {
			return fmt.Errorf("read resource API %s: %w", id, rights.ExplainDenied(err, rights.OpReadServicePrincipals))
		}
		if sp != nil {
			addResources(r, *sp)
		}
		return nil
	})(r.e.Graph.Graph.ServicePrincipals().ByServicePrincipalId(id).ToGetRequestInformation(ctx,
		&serviceprincipals.ServicePrincipalItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ServicePrincipalItemRequestBuilderGetQueryParameters{Select: resourceFields()}}))
}

// addResources adds resource APIs to every document's list, each once: the APIs of one tenant
// serve every document.
func addResources(r *round, sps ...ResourceServicePrincipal) {
	for _, o := range r.obs {
		for _, sp := range sps {
			if ResourceByID(o.Resources, sp.ID) == nil {
				o.Resources = append(o.Resources, sp)
			}
		}
	}
}

// plan resolves the document's permissions for the kinds after it.
func (resourceKind) plan(d *docPlan) {
	apis, probs := resolveAPIs(d.want, d.obs.Resources)
	d.apis = apis
	d.probs = append(d.probs, probs...)
}

func (resourceKind) apply(context.Context, *Engine, *Change, *appState) (string, error) {
	return "", fmt.Errorf("resource APIs are read, never written")
}

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
	} else if id, ok := manifests.WellKnownAPIAppID(api); ok {
		appID = id
	}
	if appID != "" {
		if r := ResourceByAppID(resources, appID); r != nil {
			return r, nil
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
		names = append(names, manifests.WellKnownAPINames()...)
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

// PermissionName returns the value of the permission id of type typ ("Scope" or "Role") on r,
// or the id itself when r does not offer it (a permission since removed from the API), or r
// is nil: the name a plan shows.
func (r *ResourceServicePrincipal) PermissionName(id, typ string) string {
	if v, _ := r.permission(id, typ); v != "" {
		return v
	}
	return id
}

// OfferedPermission returns the value of the enabled permission id of type typ on r, or ""
// when r does not offer it (or r is nil): the name a manifest may write.
func (r *ResourceServicePrincipal) OfferedPermission(id, typ string) string {
	if v, enabled := r.permission(id, typ); enabled {
		return v
	}
	return ""
}

// permission looks up the permission id of type typ on r: its value ("" when r has none) and
// whether it is enabled.
func (r *ResourceServicePrincipal) permission(id, typ string) (string, bool) {
	if r == nil {
		return "", false
	}
	if typ == AccessScope {
		for _, s := range r.Scopes {
			if strings.EqualFold(s.ID, id) {
				return s.Value, s.IsEnabled
			}
		}
		return "", false
	}
	for _, a := range r.AppRoles {
		if strings.EqualFold(a.ID, id) {
			return a.Value, a.IsEnabled
		}
	}
	return "", false
}

// ResourceByID returns the resource service principal with object id id, or nil.
func ResourceByID(rs []ResourceServicePrincipal, id string) *ResourceServicePrincipal {
	for i := range rs {
		if strings.EqualFold(rs[i].ID, id) {
			return &rs[i]
		}
	}
	return nil
}

// ResourceByAppID returns the resource service principal with appId appID, or nil.
func ResourceByAppID(rs []ResourceServicePrincipal, appID string) *ResourceServicePrincipal {
	for i := range rs {
		if strings.EqualFold(rs[i].AppID, appID) {
			return &rs[i]
		}
	}
	return nil
}

// resourceLabel names a resource service principal for an address: its display name when
// known, else the name Graph reported alongside, else its object id.
func resourceLabel(rs []ResourceServicePrincipal, id, reported string) string {
	if r := ResourceByID(rs, id); r != nil && r.DisplayName != "" {
		return r.DisplayName
	}
	if reported != "" {
		return reported
	}
	return id
}

// suggestion renders the closest names to name as " (did you mean X or Y?)", or "".
func suggestion(name string, candidates []string) string {
	return quotedSuggestion(manifests.ClosestNames(name, candidates, 3))
}

// quotedSuggestion renders names as " (did you mean X or Y?)", or "" when there are none.
func quotedSuggestion(names []string) string {
	if len(names) == 0 {
		return ""
	}
	quoted := make([]string, len(names))
	for i, c := range names {
		quoted[i] = fmt.Sprintf("%q", c)
	}
	return " (did you mean " + strings.Join(quoted, " or ") + "?)"
}
