package simtenant

import (
	"net/http"
	"strings"
)

// seg is one path segment, with an OData key folded in: "applications(appId='x')" and
// "applications/x" both become {name: applications, keyed, keyProp: appId|"", key: x}.
type seg struct {
	name    string
	keyed   bool
	keyProp string
	key     string
}

// splitPath splits on '/', except inside a quoted key value.
func splitPath(p string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\'':
			quoted = !quoted
			cur.WriteByte(c)
		case c == '/' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
			}
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func isCollection(s string) bool {
	switch strings.ToLower(s) {
	case "applications", "serviceprincipals", "oauth2permissiongrants", "users", "groups",
		"approleassignedto", "approleassignments", "owners", "deleteditems", "directoryobjects":
		return true
	}
	return false
}

func isAction(s string) bool {
	switch strings.ToLower(s) {
	case "delta", "getbyids", "validateproperties", "addpassword", "removepassword":
		return true
	}
	// OData casts, written in full or, as the SDK's URL templates do, as graph.{type}.
	return strings.HasPrefix(strings.ToLower(s), "microsoft.graph.") || strings.HasPrefix(strings.ToLower(s), "graph.")
}

// parseSegments folds keys into their collection segment.
func parseSegments(raw []string) []seg {
	var out []seg
	for i := 0; i < len(raw); i++ {
		s := raw[i]
		if open := strings.IndexByte(s, '('); open > 0 && strings.HasSuffix(s, ")") {
			sg := seg{name: s[:open], keyed: true}
			key := s[open+1 : len(s)-1]
			if prop, val, ok := strings.Cut(key, "="); ok && !strings.HasPrefix(key, "'") {
				sg.keyProp, key = strings.TrimSpace(prop), strings.TrimSpace(val)
			}
			sg.key = unquote(key)
			out = append(out, sg)
			continue
		}
		sg := seg{name: s}
		if isCollection(s) && i+1 < len(raw) && !strings.HasPrefix(raw[i+1], "$") && !isAction(raw[i+1]) {
			sg.keyed, sg.key = true, raw[i+1]
			i++
		}
		out = append(out, sg)
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	return s
}

func is(s seg, name string) bool { return strings.EqualFold(s.name, name) }

// dispatch routes one Graph operation. The caller holds t.mu.
func (t *Tenant) dispatch(rq *request) *response {
	segs := parseSegments(splitPath(rq.path))
	if len(segs) == 0 {
		return rq.noRoute("")
	}
	if rq.beta() && !betaServes(rq, segs) {
		return rq.betaNotServed()
	}
	t.purgeDeleted(rq.now)
	switch strings.ToLower(segs[0].name) {
	case "applications":
		return t.routeApplications(rq, segs)
	case "serviceprincipals":
		return t.routeServicePrincipals(rq, segs)
	case "oauth2permissiongrants":
		return t.routeGrants(rq, segs)
	case "users":
		return t.routePrincipals(rq, segs, t.kinds.user, t.dir.Users, "users", t.canReadUsers, "userPrincipalName")
	case "groups":
		return t.routePrincipals(rq, segs, t.kinds.group, t.dir.Groups, "groups", t.canReadGroups)
	case "directory":
		return t.routeDirectory(rq, segs)
	case "directoryobjects":
		return t.routeDirectoryObjects(rq, segs)
	case "me":
		return rq.badRequest("/me request is only valid with delegated authentication flow.")
	}
	return rq.noRoute(segs[0].name)
}

// lookup resolves a keyed segment in a collection; objects not yet replicated are not found.
// keyProps are the alternate keys the entity type declares.
func (t *Tenant) lookup(rq *request, m map[string]*entry, s seg, keyProps ...string) (*entry, *response) {
	var e *entry
	switch prop := strings.ToLower(s.keyProp); prop {
	case "", "id":
		e = m[s.key]
		if e == nil {
			e = m[strings.ToLower(s.key)]
		}
		if e == nil && len(keyProps) > 0 && keyProps[0] == "userPrincipalName" {
			e = findBy(m, "userPrincipalName", s.key)
		}
	default:
		found := false
		for _, kp := range keyProps {
			if strings.EqualFold(kp, prop) {
				e, found = findBy(m, kp, s.key), true
			}
		}
		if !found {
			return nil, rq.badRequest("The request URI is not valid. The alternate key '" + s.keyProp + "' is not defined on this entity set.")
		}
	}
	if e == nil || !t.visible(e) {
		return nil, rq.notFound(s.key)
	}
	return e, nil
}

// countCollection answers GET /{collection}/$count over the visible objects.
func (t *Tenant) countCollection(rq *request, k *kind, m map[string]*entry) *response {
	if rq.method != http.MethodGet {
		return rq.methodNotAllowed()
	}
	items, errResp := rq.filterItems(k, t.visibleItems(m))
	if errResp != nil {
		return errResp
	}
	return rq.countResponse(len(items))
}

// visibleItems lists a collection as a replica that has not seen the newest writes would.
func (t *Tenant) visibleItems(m map[string]*entry) []*entry {
	var out []*entry
	for _, e := range sorted(m) {
		if t.visible(e) {
			out = append(out, e)
		}
	}
	return out
}
