package simtenant

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// These helpers change the tenant "behind provision's back", as an admin clicking in the portal
// would: they skip the API's permission checks and replication lag (objects are visible at once).

// PortalApp describes an application registration made in the portal.
type PortalApp struct {
	DisplayName    string
	UniqueName     string
	SignInAudience string // default AzureADMyOrg
	RedirectURIs   []string
	// Delegated maps a resource appId to scope values: requested in requiredResourceAccess, and
	// consented tenant-wide (an AllPrincipals grant) when AdminConsent is set.
	Delegated map[string][]string
	// Application maps a resource appId to app role values, granted when AdminConsent is set.
	Application  map[string][]string
	AdminConsent bool
	// ServicePrincipal creates the enterprise app (implied by AdminConsent).
	ServicePrincipal bool
}

// PortalIDs are the ids of what SeedPortalApp created.
type PortalIDs struct {
	ObjectID, AppID, ServicePrincipalID string
}

// SeedPortalApp creates an application (and its SP, permissions and consent) directly.
func (t *Tenant) SeedPortalApp(p PortalApp) (PortalIDs, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	created := t.settled()
	audience := p.SignInAudience
	if audience == "" {
		audience = "AzureADMyOrg"
	}
	props := t.applicationDefaults(map[string]any{"signInAudience": audience})
	props["id"], props["appId"], props["displayName"] = uuid.NewString(), uuid.NewString(), p.DisplayName
	props["createdDateTime"], props["publisherDomain"] = timestamp(created), t.dir.Domain
	if p.UniqueName != "" {
		props["uniqueName"] = p.UniqueName
	}
	asMap(props["web"])["redirectUris"] = toAnyList(p.RedirectURIs)
	var rra []any
	for _, resAppID := range sortedKeys(p.Delegated, p.Application) {
		res := findBy(t.dir.ServicePrincipals, "appId", resAppID)
		if res == nil {
			return PortalIDs{}, fmt.Errorf("seed portal app: no resource %s", resAppID)
		}
		var access []any
		for _, v := range p.Delegated[resAppID] {
			id := permissionID(res, "oauth2PermissionScopes", v)
			if id == "" {
				return PortalIDs{}, fmt.Errorf("seed portal app: %s has no scope %s", resAppID, v)
			}
			access = append(access, map[string]any{"id": id, "type": "Scope"})
		}
		for _, v := range p.Application[resAppID] {
			id := permissionID(res, "appRoles", v)
			if id == "" {
				return PortalIDs{}, fmt.Errorf("seed portal app: %s has no app role %s", resAppID, v)
			}
			access = append(access, map[string]any{"id": id, "type": "Role"})
		}
		rra = append(rra, map[string]any{"resourceAppId": resAppID, "resourceAccess": access})
	}
	props["requiredResourceAccess"] = orEmpty(rra)
	app := t.dir.add(t.dir.Applications, props, created)
	ids := PortalIDs{ObjectID: app.id(), AppID: str(props["appId"])}
	if !p.ServicePrincipal && !p.AdminConsent {
		return ids, nil
	}
	sp := t.dir.add(t.dir.ServicePrincipals, t.servicePrincipalFromApp(app, created), created)
	ids.ServicePrincipalID = sp.id()
	if !p.AdminConsent {
		return ids, nil
	}
	for resAppID, scopes := range p.Delegated {
		res := findBy(t.dir.ServicePrincipals, "appId", resAppID)
		id := grantID(sp.id(), res.id(), "")
		t.dir.add(t.dir.Grants, map[string]any{"id": id, "clientId": sp.id(), "consentType": "AllPrincipals",
			"principalId": nil, "resourceId": res.id(), "scope": strings.Join(scopes, " ")}, created)
	}
	for resAppID, roles := range p.Application {
		res := findBy(t.dir.ServicePrincipals, "appId", resAppID)
		for _, v := range roles {
			t.assignRole(sp, res, permissionID(res, "appRoles", v), created)
		}
	}
	return ids, nil
}

// AddRedirectURI adds a web redirect URI to the application with appID.
func (t *Tenant) AddRedirectURI(appID, uri string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	app := findBy(t.dir.Applications, "appId", appID)
	if app == nil {
		return fmt.Errorf("add redirect URI: no application %s", appID)
	}
	web := asMap(app.Props["web"])
	web["redirectUris"] = append(asList(web["redirectUris"]), uri)
	t.syncServicePrincipal(app)
	return nil
}

// RemoveGrantScope removes one scope from the AllPrincipals grant of client on resource (appIds).
func (t *Tenant) RemoveGrantScope(clientAppID, resourceAppID, scope string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, err := t.allPrincipalsGrant(clientAppID, resourceAppID)
	if err != nil {
		return fmt.Errorf("remove grant scope: %w", err)
	}
	scopes := slices.DeleteFunc(strings.Fields(str(g.Props["scope"])), func(s string) bool { return s == scope })
	g.Props["scope"] = strings.Join(scopes, " ")
	return nil
}

// DeleteGrant deletes the AllPrincipals grant of client on resource (appIds).
func (t *Tenant) DeleteGrant(clientAppID, resourceAppID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, err := t.allPrincipalsGrant(clientAppID, resourceAppID)
	if err != nil {
		return fmt.Errorf("delete grant: %w", err)
	}
	delete(t.dir.Grants, g.id())
	return nil
}

// AddAppRoleAssignment grants the client the app role value of the resource (appIds).
func (t *Tenant) AddAppRoleAssignment(clientAppID, resourceAppID, roleValue string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp := findBy(t.dir.ServicePrincipals, "appId", clientAppID)
	res := findBy(t.dir.ServicePrincipals, "appId", resourceAppID)
	if sp == nil || res == nil {
		return fmt.Errorf("add app role assignment: no service principal for %s or %s", clientAppID, resourceAppID)
	}
	id := permissionID(res, "appRoles", roleValue)
	if id == "" {
		return fmt.Errorf("add app role assignment: %s has no app role %s", resourceAppID, roleValue)
	}
	t.assignRole(sp, res, id, t.settled())
	return nil
}

// Application returns a copy of the application with appID as Graph would return it.
func (t *Tenant) Application(appID string) (map[string]any, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	app := findBy(t.dir.Applications, "appId", appID)
	if app == nil {
		return nil, false
	}
	return cloneMap(app.Props), true
}

// ServicePrincipal returns a copy of the service principal of appID.
func (t *Tenant) ServicePrincipal(appID string) (map[string]any, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp := findBy(t.dir.ServicePrincipals, "appId", appID)
	if sp == nil {
		return nil, false
	}
	return cloneMap(sp.Props), true
}

// Grants returns copies of the oauth2PermissionGrants whose client is the SP of appID.
func (t *Tenant) Grants(appID string) []map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.related(t.dir.Grants, "clientId", appID)
}

// AppRoleAssignments returns copies of the app role assignments held by the SP of appID.
func (t *Tenant) AppRoleAssignments(appID string) []map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.related(t.dir.Assignments, "principalId", appID)
}

// AppRoleAssignedTo returns copies of the assignments on the SP of appID as a resource
// (user and group assignments of an enterprise app).
func (t *Tenant) AppRoleAssignedTo(appID string) []map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.related(t.dir.Assignments, "resourceId", appID)
}

func (t *Tenant) related(m map[string]*entry, prop, appID string) []map[string]any {
	sp := findBy(t.dir.ServicePrincipals, "appId", appID)
	if sp == nil {
		return nil
	}
	var out []map[string]any
	for _, e := range sorted(m) {
		if str(e.Props[prop]) == sp.id() {
			out = append(out, cloneMap(e.Props))
		}
	}
	return out
}

// UserID returns the object id of the user with the UPN.
func (t *Tenant) UserID(upn string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := findBy(t.dir.Users, "userPrincipalName", upn)
	if u == nil {
		return "", false
	}
	return u.id(), true
}

// GroupID returns the object id of the group with the display name.
func (t *Tenant) GroupID(displayName string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := findBy(t.dir.Groups, "displayName", displayName)
	if g == nil {
		return "", false
	}
	return g.id(), true
}

func (t *Tenant) allPrincipalsGrant(clientAppID, resourceAppID string) (*entry, error) {
	sp := findBy(t.dir.ServicePrincipals, "appId", clientAppID)
	res := findBy(t.dir.ServicePrincipals, "appId", resourceAppID)
	if sp == nil || res == nil {
		return nil, fmt.Errorf("no service principal for %s or %s", clientAppID, resourceAppID)
	}
	g := t.dir.Grants[grantID(sp.id(), res.id(), "")]
	if g == nil {
		return nil, fmt.Errorf("no AllPrincipals grant of %s on %s", clientAppID, resourceAppID)
	}
	return g, nil
}

// settled is a creation time old enough that replication lag never hides the object.
func (t *Tenant) settled() time.Time { return t.clock.Now().Add(-t.faultsLag() - time.Second) }

func permissionID(res *entry, list, value string) string {
	for _, p := range asList(res.Props[list]) {
		if m := asMap(p); str(m["value"]) == value {
			return str(m["id"])
		}
	}
	return ""
}

func sortedKeys(ms ...map[string][]string) []string {
	var out []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}
