package simtenant

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// servicePrincipals is /servicePrincipals as a collection.
func (t *Tenant) servicePrincipals() collection {
	return collection{kind: t.kinds.servicePrincipal, items: t.dir.ServicePrincipals, name: "servicePrincipals",
		canRead: t.canReadApps, create: t.createServicePrincipal, update: t.updateServicePrincipal,
		canDelete: t.canWriteSP, remove: t.deleteServicePrincipal}
}

func (t *Tenant) routeServicePrincipals(rq *request, segs []seg) *response {
	c := t.servicePrincipals()
	root := segs[0]
	if !root.keyed {
		return t.routeRoot(rq, segs, c)
	}
	sp, errResp := t.lookup(rq, c.items, root, "appId")
	if errResp != nil {
		return errResp
	}
	if len(segs) == 1 {
		return t.routeMember(rq, c, sp)
	}
	nav := segs[1]
	navPath := fmt.Sprintf("servicePrincipals('%s')/%s", sp.id(), nav.name)
	switch {
	case len(segs) == 2 && rq.method == http.MethodPost && (is(nav, "addPassword") || is(nav, "removePassword")):
		if !t.canWriteSP(rq, sp) {
			return rq.denied()
		}
		if is(nav, "addPassword") {
			return t.addPassword(rq, sp, false)
		}
		return t.removePassword(rq, sp)
	case is(nav, "owners"):
		return t.routeOwners(rq, segs[1:], sp, func() bool { return t.canWriteSP(rq, sp) })
	case is(nav, "appRoleAssignedTo"):
		return t.routeAssignments(rq, segs[1:], navPath, func(a *entry) bool { return str(a.Props["resourceId"]) == sp.id() },
			func(body map[string]any) *response { return t.createAssignment(rq, body, sp.id(), "", navPath) })
	case is(nav, "appRoleAssignments"):
		return t.routeAssignments(rq, segs[1:], navPath, func(a *entry) bool { return str(a.Props["principalId"]) == sp.id() },
			func(body map[string]any) *response { return t.createAssignment(rq, body, "", sp.id(), navPath) })
	case is(nav, "oauth2PermissionGrants") && !nav.keyed && len(segs) == 2:
		if rq.method != http.MethodGet {
			return rq.methodNotAllowed()
		}
		return t.listGrants(rq, navPath, func(g *entry) bool { return str(g.Props["clientId"]) == sp.id() })
	}
	return rq.noRoute(nav.name)
}

// canWriteSP: Application.ReadWrite.All, or OwnedBy on an SP the caller owns (or whose app it owns).
func (t *Tenant) canWriteSP(rq *request, sp *entry) bool {
	if rq.caller.can("Application.ReadWrite.All", "Directory.ReadWrite.All") {
		return true
	}
	if !rq.caller.can("Application.ReadWrite.OwnedBy") {
		return false
	}
	if slices.Contains(t.dir.Owners[sp.id()], rq.caller.spID) {
		return true
	}
	app := findBy(t.dir.Applications, "appId", str(sp.Props["appId"]))
	return app != nil && slices.Contains(t.dir.Owners[app.id()], rq.caller.spID)
}

func (t *Tenant) createServicePrincipal(rq *request) *response {
	k := t.kinds.servicePrincipal
	body, errResp := rq.decodeEntity(k)
	if errResp != nil {
		return errResp
	}
	for _, ro := range []string{"id", "createdDateTime"} {
		if _, ok := body[ro]; ok {
			return rq.badRequest(fmt.Sprintf("Property '%s' is read-only and cannot be set.", ro))
		}
	}
	appID := str(body["appId"])
	app := findBy(t.dir.Applications, "appId", appID)
	if app == nil || !t.visible(app) {
		msg := fmt.Sprintf("The appId '%s' of the service principal does not reference a valid application object.", appID)
		resp := rq.badRequest(msg)
		asMap(resp.body)["error"].(map[string]any)["details"] = []any{map[string]any{"code": "NoBackingApplicationObject", "message": msg, "target": "appId"}}
		return resp
	}
	if !rq.caller.can("Application.ReadWrite.All", "Directory.ReadWrite.All") {
		if !rq.caller.can("Application.ReadWrite.OwnedBy") {
			return rq.denied()
		}
		if !slices.Contains(t.dir.Owners[app.id()], rq.caller.spID) {
			return rq.graphError(http.StatusForbidden, codeDenied, "When using this permission, the backing application of the service principal being created must in the local tenant")
		}
	}
	if existing := findBy(t.dir.ServicePrincipals, "appId", appID); existing != nil {
		return rq.graphError(http.StatusConflict, codeDuplicate, "Another object with the same value for property servicePrincipalNames already exists.")
	}
	props := t.servicePrincipalFromApp(app, rq.now)
	props["createdByAppId"] = rq.caller.clientID
	delete(body, "appId")
	mergePatch(props, body)
	sp := t.dir.add(t.dir.ServicePrincipals, props, rq.now)
	t.dir.Owners[sp.id()] = []string{rq.caller.spID}
	resp := rq.entityResponse(http.StatusCreated, k, "servicePrincipals", sp)
	resp.header.Set("Location", fmt.Sprintf("https://graph.microsoft.com/v2/%s/directoryObjects/%s/Microsoft.DirectoryServices.ServicePrincipal", t.dir.TenantID, sp.id()))
	return resp
}

// servicePrincipalFromApp builds the enterprise app the service derives from an application,
// created at created (stamped in whole seconds, as the recordings show).
func (t *Tenant) servicePrincipalFromApp(app *entry, created time.Time) map[string]any {
	p := t.kinds.servicePrincipal.newDefaults()
	a := app.Props
	p["id"] = uuid.NewString()
	p["createdDateTime"] = created.UTC().Format("2006-01-02T15:04:05Z")
	p["accountEnabled"] = true
	p["appDisplayName"] = a["displayName"]
	p["displayName"] = a["displayName"]
	p["appId"] = a["appId"]
	p["appOwnerOrganizationId"] = t.dir.TenantID
	p["appRoleAssignmentRequired"] = false
	p["appRoles"] = cloneValue(a["appRoles"])
	p["oauth2PermissionScopes"] = cloneValue(asMap(a["api"])["oauth2PermissionScopes"])
	p["info"] = cloneValue(a["info"])
	p["replyUrls"] = cloneValue(asMap(a["web"])["redirectUris"])
	p["homepage"] = asMap(a["web"])["homePageUrl"]
	p["logoutUrl"] = asMap(a["web"])["logoutUrl"]
	p["servicePrincipalNames"] = append([]any{a["appId"]}, cloneValue(a["identifierUris"]).([]any)...)
	p["servicePrincipalType"] = "Application"
	p["signInAudience"] = a["signInAudience"]
	p["tags"] = cloneValue(a["tags"])
	p["verifiedPublisher"] = cloneValue(a["verifiedPublisher"])
	if p["tags"] == nil {
		p["tags"] = []any{}
	}
	return p
}

func (t *Tenant) updateServicePrincipal(rq *request, sp *entry) *response {
	if !t.canWriteSP(rq, sp) {
		return rq.denied()
	}
	body, errResp := rq.decodeEntity(t.kinds.servicePrincipal)
	if errResp != nil {
		return errResp
	}
	for _, ro := range []string{"id", "appId", "appOwnerOrganizationId", "createdDateTime"} {
		if v, ok := body[ro]; ok && !strings.EqualFold(fmt.Sprint(v), fmt.Sprint(sp.Props[ro])) {
			return rq.badRequest(fmt.Sprintf("Property '%s' is read-only and cannot be set.", ro))
		}
	}
	mergePatch(sp.Props, body)
	return noContent()
}

// deleteServicePrincipal moves the SP to the deleted items and removes its grants, app role
// assignments (as client, principal or resource) and directory roles, which a restore does not
// bring back in the simulator [unverified against the service].
func (t *Tenant) deleteServicePrincipal(sp *entry) {
	id := sp.id()
	delete(t.dir.ServicePrincipals, id)
	t.softDelete(t.dir.DeletedServicePrincipals, sp)
	delete(t.dir.DirectoryRoles, id)
	for gid, g := range t.dir.Grants {
		if str(g.Props["clientId"]) == id || str(g.Props["resourceId"]) == id {
			delete(t.dir.Grants, gid)
		}
	}
	for aid, a := range t.dir.Assignments {
		if str(a.Props["principalId"]) == id || str(a.Props["resourceId"]) == id {
			delete(t.dir.Assignments, aid)
		}
	}
}
