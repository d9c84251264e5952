package simtenant

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

func (t *Tenant) routeGrants(rq *request, segs []seg) *response {
	k := t.kinds.grant
	root := segs[0]
	if !root.keyed {
		if len(segs) > 1 {
			return rq.noRoute(segs[1].name)
		}
		switch rq.method {
		case http.MethodGet:
			return t.listGrants(rq, "oauth2PermissionGrants", func(*entry) bool { return true })
		case http.MethodPost:
			return t.createGrant(rq)
		}
		return rq.methodNotAllowed()
	}
	if len(segs) > 1 {
		return rq.noRoute(segs[1].name)
	}
	g := t.dir.Grants[root.key]
	if g == nil || !t.visible(g) {
		return rq.notFound(root.key)
	}
	switch rq.method {
	case http.MethodGet:
		if !t.canReadGrants(rq) {
			return rq.denied()
		}
		return rq.entityResponse(http.StatusOK, k, "oauth2PermissionGrants", g)
	case http.MethodPatch:
		if !rq.caller.can("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All") {
			return rq.denied()
		}
		body, errResp := rq.decodeEntity(k)
		if errResp != nil {
			return errResp
		}
		for name, v := range body {
			if name != "scope" && fmt.Sprint(v) != fmt.Sprint(g.Props[name]) {
				return rq.badRequest(fmt.Sprintf("Property '%s' is read-only and cannot be set.", name))
			}
		}
		if s, ok := body["scope"]; ok {
			g.Props["scope"] = s // replaces the whole list, as documented
		}
		return noContent()
	case http.MethodDelete:
		if !rq.caller.can("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All") {
			return rq.denied()
		}
		delete(t.dir.Grants, g.id())
		return noContent()
	}
	return rq.methodNotAllowed()
}

func (t *Tenant) canReadGrants(rq *request) bool {
	return rq.caller.can("DelegatedPermissionGrant.ReadWrite.All", "DelegatedPermissionGrant.Read.All",
		"Directory.Read.All", "Directory.ReadWrite.All")
}

// listGrants lists grants with the item-level @odata.id the service adds.
func (t *Tenant) listGrants(rq *request, path string, match func(*entry) bool) *response {
	if !t.canReadGrants(rq) {
		return rq.denied()
	}
	k := t.kinds.grant
	var all []*entry
	for _, g := range t.visibleItems(t.dir.Grants) {
		if match(g) {
			all = append(all, g)
		}
	}
	items, errResp := rq.filterItems(k, all)
	if errResp != nil {
		return errResp
	}
	resp := rq.listResponse(k, path, items)
	if sel, _ := rq.selection(k); sel == nil && resp.status == http.StatusOK {
		for _, v := range asList(asMap(resp.body)["value"]) {
			m := asMap(v)
			m["@odata.id"] = fmt.Sprintf("https://graph.microsoft.com/v2/%s/oauth2PermissionGrants/%s", t.dir.TenantID, str(m["id"]))
		}
	}
	return resp
}

func (t *Tenant) createGrant(rq *request) *response {
	if !rq.caller.can("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All") {
		return rq.denied()
	}
	k := t.kinds.grant
	body, errResp := rq.decodeEntity(k)
	if errResp != nil {
		return errResp
	}
	clientID, resourceID := strings.ToLower(str(body["clientId"])), strings.ToLower(str(body["resourceId"]))
	consent, principalID := str(body["consentType"]), strings.ToLower(str(body["principalId"]))
	for _, id := range []string{clientID, resourceID} {
		sp := t.dir.ServicePrincipals[id]
		if sp == nil || !t.visible(sp) {
			return rq.badRequest(fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
		}
	}
	switch consent {
	case "AllPrincipals":
		if principalID != "" {
			return rq.badRequest("Invalid value specified for property 'principalId' of resource 'OAuth2PermissionGrant'.")
		}
	case "Principal":
		u := t.dir.Users[principalID]
		if u == nil || !t.visible(u) {
			return rq.badRequest(fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", principalID))
		}
	default:
		return rq.badRequest("Invalid value specified for property 'consentType' of resource 'OAuth2PermissionGrant'.")
	}
	scope, _ := body["scope"].(string)
	if len(scope) > 3850 {
		return rq.badRequest("Invalid value specified for property 'scope' of resource 'OAuth2PermissionGrant'.")
	}
	id := grantID(clientID, resourceID, principalID)
	if _, dup := t.dir.Grants[id]; dup {
		code := codeDuplicate
		if t.opts.DuplicateGrantStatus == http.StatusBadRequest {
			code = codeBadRequest
		}
		return rq.graphError(t.opts.DuplicateGrantStatus, code, msgDuplicateGrant)
	}
	var principal any
	if principalID != "" {
		principal = principalID
	}
	g := t.dir.add(t.dir.Grants, map[string]any{
		"id": id, "clientId": clientID, "consentType": consent, "principalId": principal, "resourceId": resourceID, "scope": scope,
	}, rq.now)
	return rq.entityResponse(http.StatusCreated, k, "oauth2PermissionGrants", g)
}

// grantID is the service's deterministic id: base64url(clientId ‖ resourceId [‖ principalId]),
// each GUID in .NET byte order, unpadded. It is why a second grant for the same key conflicts.
func grantID(clientID, resourceID, principalID string) string {
	b := append(guidBytesLE(clientID), guidBytesLE(resourceID)...)
	if principalID != "" {
		b = append(b, guidBytesLE(principalID)...)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
