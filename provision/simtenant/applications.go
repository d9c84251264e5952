package simtenant

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// applications is /applications as a collection.
func (t *Tenant) applications() collection {
	return collection{kind: t.kinds.application, items: t.dir.Applications, name: "applications", canRead: t.canReadApps,
		create: func(rq *request) *response { return t.createApplication(rq, "") }, update: t.updateApplication,
		canDelete: t.canWriteApp, remove: t.deleteApplication}
}

func (t *Tenant) routeApplications(rq *request, segs []seg) *response {
	c := t.applications()
	root := segs[0]
	if !root.keyed {
		return t.routeRoot(rq, segs, c)
	}
	if len(segs) == 1 && rq.method == http.MethodPatch && strings.EqualFold(root.keyProp, "uniqueName") {
		return t.upsertApplication(rq, root.key)
	}
	app, errResp := t.lookup(rq, c.items, root, "appId", "uniqueName")
	if errResp != nil {
		return errResp
	}
	if len(segs) == 1 {
		return t.routeMember(rq, c, app)
	}
	if len(segs) == 2 && rq.method == http.MethodPost {
		switch {
		case is(segs[1], "addPassword"):
			if !t.canWriteApp(rq, app) {
				return rq.denied()
			}
			return t.addPassword(rq, app, true)
		case is(segs[1], "removePassword"):
			if !t.canWriteApp(rq, app) {
				return rq.denied()
			}
			return t.removePassword(rq, app)
		}
	}
	if is(segs[1], "owners") {
		return t.routeOwners(rq, segs[1:], app, func() bool { return t.canWriteApp(rq, app) })
	}
	return rq.noRoute(segs[len(segs)-1].name)
}

func (t *Tenant) canReadApps(rq *request) bool {
	return rq.caller.can("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All",
		"Directory.ReadWrite.All", "Application.ReadWrite.OwnedBy")
}

// canWriteApp: Application.ReadWrite.All, or Application.ReadWrite.OwnedBy on an app the caller owns.
func (t *Tenant) canWriteApp(rq *request, app *entry) bool {
	if rq.caller.can("Application.ReadWrite.All", "Directory.ReadWrite.All") {
		return true
	}
	return rq.caller.can("Application.ReadWrite.OwnedBy") && slices.Contains(t.dir.Owners[app.id()], rq.caller.spID)
}

// upsertApplication is PATCH /applications(uniqueName='…'): 201 with the new app under
// Prefer: create-if-missing, 204 when it existed, 404 without the header.
func (t *Tenant) upsertApplication(rq *request, uniqueName string) *response {
	existing := findBy(t.dir.Applications, "uniqueName", uniqueName)
	if existing != nil && t.visible(existing) {
		return t.updateApplication(rq, existing)
	}
	if !strings.Contains(strings.ToLower(rq.header.Get("Prefer")), "create-if-missing") {
		return rq.notFound(uniqueName)
	}
	if existing != nil {
		// Written moments ago, not replicated here yet: the create collides with it.
		return rq.graphError(http.StatusConflict, codeDuplicate, "Another object with the same value for property uniqueName already exists.")
	}
	return t.createApplication(rq, uniqueName)
}

func (t *Tenant) createApplication(rq *request, uniqueName string) *response {
	if !rq.caller.can("Application.ReadWrite.All", "Application.ReadWrite.OwnedBy", "AppRegistration.Create", "Directory.ReadWrite.All") {
		return rq.denied()
	}
	k := t.kinds.application
	body, errResp := rq.decodeEntity(k)
	if errResp != nil {
		return errResp
	}
	if s, ok := body["displayName"].(string); !ok || strings.TrimSpace(s) == "" {
		return rq.badRequest("Invalid value specified for property 'displayName' of resource 'Application'.")
	}
	if len(asList(body["passwordCredentials"])) > 0 {
		return rq.badRequest("Adding passwordCredentials when creating an application is not supported; use the addPassword action.")
	}
	for _, ro := range []string{"id", "appId", "publisherDomain", "createdDateTime"} {
		if _, ok := body[ro]; ok {
			return rq.badRequest(fmt.Sprintf("Property '%s' is read-only and cannot be set.", ro))
		}
	}
	if uniqueName != "" {
		if u, ok := body["uniqueName"].(string); ok && u != uniqueName {
			return rq.badRequest("Property 'uniqueName' in the body does not match the key in the request URI.")
		}
		body["uniqueName"] = uniqueName
	}
	if u, ok := body["uniqueName"].(string); ok && findBy(t.dir.Applications, "uniqueName", u) != nil {
		return rq.graphError(http.StatusConflict, codeDuplicate, "Another object with the same value for property uniqueName already exists.")
	}
	props := t.applicationDefaults(body)
	mergePatch(props, body)
	props["id"], props["appId"] = uuid.NewString(), uuid.NewString()
	props["createdDateTime"] = timestamp(rq.now)
	props["publisherDomain"] = t.dir.Domain
	props["createdByAppId"] = rq.caller.clientID
	if errResp := t.validateApplication(rq, props, nil); errResp != nil {
		return errResp
	}
	app := t.dir.add(t.dir.Applications, props, rq.now)
	t.dir.Owners[app.id()] = []string{rq.caller.spID}
	resp := rq.entityResponse(http.StatusCreated, k, "applications", app)
	resp.header.Set("Location", fmt.Sprintf("https://graph.microsoft.com/v2/%s/directoryObjects/%s/Microsoft.DirectoryServices.Application", t.dir.TenantID, app.id()))
	return resp
}

// applicationDefaults is a new application as the service fills it in (reference §4.12).
func (t *Tenant) applicationDefaults(body map[string]any) map[string]any {
	p := t.kinds.application.newDefaults()
	audience, _ := body["signInAudience"].(string)
	if audience == "" {
		audience = "AzureADandPersonalMicrosoftAccount"
	}
	var tokenVersion any
	if strings.Contains(audience, "Personal") {
		tokenVersion = float64(2)
	}
	p["signInAudience"] = audience
	p["api"] = map[string]any{"acceptMappedClaims": nil, "knownClientApplications": []any{}, "oauth2PermissionScopes": []any{},
		"preAuthorizedApplications": []any{}, "requestedAccessTokenVersion": tokenVersion}
	p["info"] = map[string]any{"logoUrl": nil, "marketingUrl": nil, "privacyStatementUrl": nil, "supportUrl": nil, "termsOfServiceUrl": nil}
	p["parentalControlSettings"] = map[string]any{"countriesBlockedForMinors": []any{}, "legalAgeGroupRule": "Allow"}
	p["publicClient"] = map[string]any{"redirectUris": []any{}}
	p["spa"] = map[string]any{"redirectUris": []any{}}
	p["web"] = map[string]any{"homePageUrl": nil, "logoutUrl": nil, "redirectUris": []any{}, "redirectUriSettings": []any{},
		"implicitGrantSettings": map[string]any{"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}}
	p["verifiedPublisher"] = map[string]any{"displayName": nil, "verifiedPublisherId": nil, "addedDateTime": nil}
	p["oauth2RequirePostResponse"] = false
	return p
}

func (t *Tenant) updateApplication(rq *request, app *entry) *response {
	if !t.canWriteApp(rq, app) {
		return rq.denied()
	}
	k := t.kinds.application
	body, errResp := rq.decodeEntity(k)
	if errResp != nil {
		return errResp
	}
	for _, ro := range []string{"id", "appId", "publisherDomain", "createdDateTime"} {
		if v, ok := body[ro]; ok && !reflect.DeepEqual(v, app.Props[ro]) {
			return rq.badRequest(fmt.Sprintf("Property '%s' is read-only and cannot be set.", ro))
		}
	}
	if v, ok := body["uniqueName"]; ok && app.Props["uniqueName"] != nil && !reflect.DeepEqual(v, app.Props["uniqueName"]) {
		return rq.badRequest("Property 'uniqueName' is immutable once set and cannot be changed.")
	}
	if _, ok := body["passwordCredentials"]; ok && !reflect.DeepEqual(body["passwordCredentials"], app.Props["passwordCredentials"]) {
		return rq.badRequest("Updating passwordCredentials is not supported; use the addPassword and removePassword actions.")
	}
	next := cloneMap(app.Props)
	mergePatch(next, body)
	if errResp := t.validateApplication(rq, next, app.Props); errResp != nil {
		return errResp
	}
	app.Props = next
	t.syncServicePrincipal(app)
	return noContent()
}

// validateApplication enforces what the service checks on create and update.
func (t *Tenant) validateApplication(rq *request, next, prev map[string]any) *response {
	switch next["signInAudience"] {
	case "AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount":
	default:
		return rq.badRequest("Invalid value specified for property 'signInAudience' of resource 'Application'.")
	}
	for _, u := range strList(next["identifierUris"]) {
		if !t.identifierURIAllowed(u, str(next["appId"])) {
			return rq.graphError(http.StatusBadRequest, "HostNameNotOnVerifiedDomain",
				fmt.Sprintf("Values of identifierUris property must use a verified domain of the organization or its subdomain: '%s'", u))
		}
	}
	rra := asList(next["requiredResourceAccess"])
	total := 0
	for _, r := range rra {
		total += len(asList(asMap(r)["resourceAccess"]))
	}
	if len(rra) > 50 || total > 400 {
		return rq.badRequest("The number of required resource access entries exceeds the limit: at most 50 resources and 400 permissions.")
	}
	if prev != nil {
		if !entitlementsKept(asList(prev["appRoles"]), asList(next["appRoles"])) ||
			!entitlementsKept(asList(asMap(prev["api"])["oauth2PermissionScopes"]), asList(asMap(next["api"])["oauth2PermissionScopes"])) {
			return rq.graphError(http.StatusBadRequest, "CannotDeleteOrUpdateEnabledEntitlement", msgEnabledEntitlement)
		}
	}
	return nil
}

// entitlementsKept: every enabled role or scope must survive unchanged, except being disabled.
func entitlementsKept(prev, next []any) bool {
	byID := map[string]map[string]any{}
	for _, n := range next {
		m := asMap(n)
		byID[strings.ToLower(str(m["id"]))] = m
	}
	for _, p := range prev {
		pm := asMap(p)
		if enabled, _ := pm["isEnabled"].(bool); !enabled {
			continue
		}
		nm, ok := byID[strings.ToLower(str(pm["id"]))]
		if !ok {
			return false
		}
		a, b := cloneMap(pm), cloneMap(nm)
		delete(a, "isEnabled")
		delete(b, "isEnabled")
		if !reflect.DeepEqual(a, b) {
			return false
		}
	}
	return true
}

// identifierURIAllowed follows the identifier-URI restrictions of the reference (§4.12).
func (t *Tenant) identifierURIAllowed(u, appID string) bool {
	lu := strings.ToLower(u)
	if rest, ok := strings.CutPrefix(lu, "api://"); ok {
		parts := strings.Split(rest, "/")
		switch {
		case len(parts) == 1:
			return parts[0] == strings.ToLower(appID)
		case parts[0] == strings.ToLower(t.dir.TenantID):
			return true
		case parts[len(parts)-1] == strings.ToLower(appID):
			return true
		}
		return t.verifiedHost(parts[0])
	}
	if rest, ok := strings.CutPrefix(lu, "https://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		return t.verifiedHost(host)
	}
	return false
}

func (t *Tenant) verifiedHost(host string) bool {
	d := strings.ToLower(t.dir.Domain)
	return host == d || strings.HasSuffix(host, "."+d) || strings.HasSuffix(host, ".onmicrosoft.com")
}

// syncServicePrincipal mirrors what the service copies from an application to its SP.
func (t *Tenant) syncServicePrincipal(app *entry) {
	sp := findBy(t.dir.ServicePrincipals, "appId", str(app.Props["appId"]))
	if sp == nil {
		return
	}
	sp.Props["appDisplayName"] = app.Props["displayName"]
	sp.Props["appRoles"] = cloneValue(app.Props["appRoles"])
	sp.Props["oauth2PermissionScopes"] = cloneValue(asMap(app.Props["api"])["oauth2PermissionScopes"])
	sp.Props["signInAudience"] = app.Props["signInAudience"]
	sp.Props["replyUrls"] = cloneValue(asMap(app.Props["web"])["redirectUris"])
	names := []any{app.Props["appId"]}
	sp.Props["servicePrincipalNames"] = append(names, cloneValue(app.Props["identifierUris"]).([]any)...)
}

// deleteApplication moves the app to the deleted items, and its service principal with it
// (restoring the app later does not bring the service principal back, as documented).
func (t *Tenant) deleteApplication(app *entry) {
	delete(t.dir.Applications, app.id())
	t.softDelete(t.dir.DeletedApplications, app)
	if sp := findBy(t.dir.ServicePrincipals, "appId", str(app.Props["appId"])); sp != nil {
		t.deleteServicePrincipal(sp)
	}
}

// inValidity reports whether a credential is started and not expired at now.
func inValidity(cred map[string]any, now time.Time) bool {
	start, err1 := time.Parse(time.RFC3339Nano, str(cred["startDateTime"]))
	end, err2 := time.Parse(time.RFC3339Nano, str(cred["endDateTime"]))
	return err1 == nil && err2 == nil && !now.Before(start) && now.Before(end)
}
