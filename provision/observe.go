package provision

import (
	"context"
	"fmt"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/applicationswithuniquename"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/graph"
)

// AppFields are the application properties observe selects, so responses carry only what
// planning reads; export selects the same, for AppFromModel to convert.
func AppFields() []string {
	return []string{"id", "appId", "displayName", "uniqueName", "signInAudience", "web", "spa", "publicClient",
		"requiredResourceAccess", "tags", "passwordCredentials"}
}

// ResourceFields are the properties read of a resource API's service principal: its app
// roles and delegated scopes, which turn permission names into ids.
func ResourceFields() []string {
	return []string{"id", "appId", "displayName", "appRoles", "oauth2PermissionScopes"}
}

// ServicePrincipalFields are the properties read of an application's own service principal.
func ServicePrincipalFields() []string {
	return []string{"id", "appId", "appRoleAssignmentRequired", "tags"}
}

// maxPage is the largest page directory collections serve ($top), so a list usually fits
// in the one answer of its batch and needs no next-link round trip.
const maxPage = 999

// quote renders s as an OData string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// observe reads what planning needs for every document, in three $batch round trips whatever
// the number of documents: the applications and resource APIs, then the applications'
// service principals, then their grants and app role assignments. A later round is skipped
// when nothing needs it (an empty tenant costs one). It never writes.
func (e *Engine) observe(ctx context.Context, wants []Desired) ([]*Observed, error) {
	client := e.Graph.Graph
	out := make([]*Observed, len(wants))
	for i := range out {
		out[i] = &Observed{}
	}

	// Round 1: the applications by their lookup keys, and each distinct resource API once.
	first := e.newBatch()
	resourceKeys := map[string]string{} // api as written -> batch key
	single := map[string]bool{}         // keys answered with one object, not a page
	for i, w := range wants {
		switch {
		case w.AppID != "":
			f := "appId eq " + quote(w.AppID)
			first.add(fmt.Sprintf("app%d", i))(client.Applications().ToGetRequestInformation(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
				QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: &f, Select: AppFields()}}))
		default:
			if w.UniqueName != "" {
				first.add(fmt.Sprintf("unique%d", i))(client.ApplicationsWithUniqueName(&w.UniqueName).ToGetRequestInformation(ctx,
					&applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderGetRequestConfiguration{
						QueryParameters: &applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderGetQueryParameters{Select: AppFields()}}))
			}
			f := "displayName eq " + quote(w.Name)
			first.add(fmt.Sprintf("app%d", i))(client.Applications().ToGetRequestInformation(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
				QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: &f, Select: AppFields()}}))
		}
		for _, api := range w.Permissions {
			if _, ok := resourceKeys[api.API]; ok {
				continue
			}
			key := fmt.Sprintf("res%d", len(resourceKeys))
			resourceKeys[api.API] = key
			appID := api.API
			if id, ok := wellKnownAPIs()[api.API]; ok {
				appID = id
			}
			if manifests.IsGUID(appID) {
				single[key] = true
				first.add(key)(client.ServicePrincipalsWithAppId(&appID).ToGetRequestInformation(ctx,
					&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
						QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: ResourceFields()}}))
				continue
			}
			f := "displayName eq " + quote(api.API)
			first.add(key)(client.ServicePrincipals().ToGetRequestInformation(ctx, &serviceprincipals.ServicePrincipalsRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipals.ServicePrincipalsRequestBuilderGetQueryParameters{Filter: &f, Select: ResourceFields()}}))
		}
	}
	people := newDirectoryLookup(wants) // the users and groups of assignments and sendAs
	people.add(ctx, e, first)
	res, err := first.send(ctx)
	if err != nil {
		return nil, err
	}
	directory, err := people.read(ctx, e, res)
	if err != nil {
		return nil, err
	}
	for _, o := range out {
		o.Directory = directory
	}
	var resources []ResourceServicePrincipal
	seen := map[string]bool{}
	for _, key := range resourceKeys {
		var sps []ResourceServicePrincipal
		if single[key] {
			var sp *ResourceServicePrincipal
			if sp, err = getOne(e, res, key, models.CreateServicePrincipalFromDiscriminatorValue, ResourceFromModel); sp != nil {
				sps = append(sps, *sp)
			}
		} else {
			sps, err = getList[models.ServicePrincipalCollectionResponseable](ctx, e, res, key, models.CreateServicePrincipalCollectionResponseFromDiscriminatorValue, ResourceFromModel)
		}
		if err != nil {
			return nil, fmt.Errorf("read resource service principals: %w", graph.ExplainDenied(err, graph.OpReadServicePrincipals))
		}
		for _, sp := range sps {
			if !seen[sp.ID] {
				seen[sp.ID] = true
				resources = append(resources, sp)
			}
		}
	}
	matched := make([]*ObservedApp, len(wants))
	for i, w := range wants {
		o := out[i]
		o.Resources = resources
		if w.UniqueName != "" && w.AppID == "" {
			app, err := getOne(e, res, fmt.Sprintf("unique%d", i), models.CreateApplicationFromDiscriminatorValue, AppFromModel)
			if err != nil {
				return nil, fmt.Errorf("read application %q: %w", w.UniqueName, graph.ExplainDenied(err, graph.OpFindApplication))
			}
			if app != nil {
				o.Apps = append(o.Apps, *app)
			}
		}
		apps, err := getList[models.ApplicationCollectionResponseable](ctx, e, res, fmt.Sprintf("app%d", i), models.CreateApplicationCollectionResponseFromDiscriminatorValue, AppFromModel)
		if err != nil {
			return nil, fmt.Errorf("read applications named %q: %w", w.Name, graph.ExplainDenied(err, graph.OpFindApplication))
		}
		for _, a := range apps {
			if len(o.Apps) == 0 || o.Apps[0].ID != a.ID {
				o.Apps = append(o.Apps, a)
			}
		}
		// The planner decides which app is meant; observe reads further only for an
		// unambiguous match, the one the plan can be about.
		if app, err := matchApp(w, o.Apps); err == nil && app != nil {
			matched[i] = app
		}
	}

	// Round 2: the matched applications' service principals.
	second := e.newBatch()
	for i, app := range matched {
		if app != nil {
			appID := app.AppID
			second.add(fmt.Sprintf("sp%d", i))(client.ServicePrincipalsWithAppId(&appID).ToGetRequestInformation(ctx,
				&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
					QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: ServicePrincipalFields()}}))
		}
	}
	if second.empty() {
		return out, nil
	}
	if res, err = second.send(ctx); err != nil {
		return nil, err
	}
	third := e.newBatch()
	for i, app := range matched {
		if app == nil {
			continue
		}
		sp, err := getOne(e, res, fmt.Sprintf("sp%d", i), models.CreateServicePrincipalFromDiscriminatorValue, ServicePrincipalFromModel)
		if err != nil {
			return nil, fmt.Errorf("read service principal of %s: %w", app.AppID, graph.ExplainDenied(err, graph.OpReadServicePrincipals))
		}
		out[i].ServicePrincipal = sp
		if sp == nil {
			continue
		}
		// Round 3: what the service principal has been granted.
		top := int32(maxPage)
		f := "clientId eq " + quote(sp.ID)
		third.add(fmt.Sprintf("grants%d", i))(client.Oauth2PermissionGrants().ToGetRequestInformation(ctx,
			&oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration{
				QueryParameters: &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetQueryParameters{Filter: &f, Top: &top}}))
		third.add(fmt.Sprintf("roles%d", i))(client.ServicePrincipals().ByServicePrincipalId(sp.ID).AppRoleAssignments().ToGetRequestInformation(ctx,
			&serviceprincipals.ItemAppRoleAssignmentsRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipals.ItemAppRoleAssignmentsRequestBuilderGetQueryParameters{Top: &top}}))
		if wants[i].Assignments != nil {
			assignedToRequest(ctx, e, third, fmt.Sprintf("assigned%d", i), sp.ID)
		}
	}
	if third.empty() {
		return out, nil
	}
	if res, err = third.send(ctx); err != nil {
		return nil, err
	}
	for i, o := range out {
		if o.ServicePrincipal == nil {
			continue
		}
		if o.Grants, err = getList[models.OAuth2PermissionGrantCollectionResponseable](ctx, e, res, fmt.Sprintf("grants%d", i), models.CreateOAuth2PermissionGrantCollectionResponseFromDiscriminatorValue, GrantFromModel); err != nil {
			return nil, fmt.Errorf("read permission grants: %w", graph.ExplainDenied(err, graph.OpReadGrants))
		}
		if o.AppRoleAssignments, err = getList[models.AppRoleAssignmentCollectionResponseable](ctx, e, res, fmt.Sprintf("roles%d", i), models.CreateAppRoleAssignmentCollectionResponseFromDiscriminatorValue, AppRoleAssignmentFromModel); err != nil {
			return nil, fmt.Errorf("read app role assignments: %w", err)
		}
		if o.AssignedTo, err = readAssignedTo(ctx, e, res, fmt.Sprintf("assigned%d", i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// str dereferences an optional string.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// uuidStr renders an optional uuid.
func uuidStr[T fmt.Stringer](p *T) string {
	if p == nil {
		return ""
	}
	return (*p).String()
}

// AppFromModel converts an SDK application (read with AppFields) to what the planner
// compares; secrets keep their metadata only, never a value.
func AppFromModel(m models.Applicationable) ObservedApp {
	a := ObservedApp{
		ID: str(m.GetId()), AppID: str(m.GetAppId()), DisplayName: str(m.GetDisplayName()),
		UniqueName: str(m.GetUniqueName()), SignInAudience: str(m.GetSignInAudience()), Tags: m.GetTags(),
	}
	if w := m.GetWeb(); w != nil {
		a.Web = w.GetRedirectUris()
	}
	if s := m.GetSpa(); s != nil {
		a.SPA = s.GetRedirectUris()
	}
	if p := m.GetPublicClient(); p != nil {
		a.PublicClient = p.GetRedirectUris()
	}
	for _, r := range m.GetRequiredResourceAccess() {
		rra := RequiredResourceAccess{ResourceAppID: str(r.GetResourceAppId())}
		for _, ra := range r.GetResourceAccess() {
			rra.ResourceAccess = append(rra.ResourceAccess, ResourceAccess{ID: uuidStr(ra.GetId()), Type: str(ra.GetTypeEscaped())})
		}
		a.RequiredResourceAccess = append(a.RequiredResourceAccess, rra)
	}
	for _, p := range m.GetPasswordCredentials() {
		pc := PasswordCredential{KeyID: uuidStr(p.GetKeyId()), DisplayName: str(p.GetDisplayName()), Hint: str(p.GetHint())}
		if t := p.GetStartDateTime(); t != nil {
			pc.StartDate = t.UTC().Format("2006-01-02T15:04:05Z")
		}
		if t := p.GetEndDateTime(); t != nil {
			pc.EndDate = t.UTC().Format("2006-01-02T15:04:05Z")
		}
		a.PasswordCredentials = append(a.PasswordCredentials, pc)
	}
	return a
}

// ResourceFromModel converts an SDK service principal read with ResourceFields.
func ResourceFromModel(m models.ServicePrincipalable) ResourceServicePrincipal {
	r := ResourceServicePrincipal{ID: str(m.GetId()), AppID: str(m.GetAppId()), DisplayName: str(m.GetDisplayName())}
	for _, a := range m.GetAppRoles() {
		enabled := a.GetIsEnabled() != nil && *a.GetIsEnabled()
		r.AppRoles = append(r.AppRoles, AppRole{ID: uuidStr(a.GetId()), Value: str(a.GetValue()), IsEnabled: enabled, AllowedMemberTypes: a.GetAllowedMemberTypes()})
	}
	for _, s := range m.GetOauth2PermissionScopes() {
		enabled := s.GetIsEnabled() != nil && *s.GetIsEnabled()
		r.Scopes = append(r.Scopes, PermissionScope{ID: uuidStr(s.GetId()), Value: str(s.GetValue()), IsEnabled: enabled, Type: str(s.GetTypeEscaped())})
	}
	return r
}

// ServicePrincipalFromModel converts an SDK service principal read with ServicePrincipalFields.
func ServicePrincipalFromModel(m models.ServicePrincipalable) ObservedServicePrincipal {
	required := m.GetAppRoleAssignmentRequired() != nil && *m.GetAppRoleAssignmentRequired()
	return ObservedServicePrincipal{ID: str(m.GetId()), AppID: str(m.GetAppId()), AppRoleAssignmentRequired: required, Tags: m.GetTags()}
}

// GrantFromModel converts an SDK delegated permission grant (admin consent).
func GrantFromModel(m models.OAuth2PermissionGrantable) Grant {
	return Grant{ID: str(m.GetId()), ClientID: str(m.GetClientId()), ResourceID: str(m.GetResourceId()),
		ConsentType: str(m.GetConsentType()), PrincipalID: str(m.GetPrincipalId()), Scope: str(m.GetScope())}
}

// AppRoleAssignmentFromModel converts an app role assignment the service principal holds
// (an application permission granted to it).
func AppRoleAssignmentFromModel(m models.AppRoleAssignmentable) AppRoleAssignment {
	return AppRoleAssignment{ID: str(m.GetId()), AppRoleID: uuidStr(m.GetAppRoleId()), ResourceID: uuidStr(m.GetResourceId()),
		ResourceDisplayName: str(m.GetResourceDisplayName()), PrincipalID: uuidStr(m.GetPrincipalId())}
}
