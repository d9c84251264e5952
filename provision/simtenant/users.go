package simtenant

import (
	"fmt"
	"net/http"
)

func (t *Tenant) canReadUsers(rq *request) bool {
	return rq.caller.can("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
}

func (t *Tenant) routeUsers(rq *request, segs []seg) *response {
	k := t.kinds.user
	root := segs[0]
	if !t.canReadUsers(rq) && !(len(segs) > 1 && is(segs[1], "appRoleAssignments")) {
		return rq.denied()
	}
	if !root.keyed {
		if len(segs) == 2 && segs[1].name == "$count" {
			return t.countCollection(rq, k, t.dir.Users)
		}
		if len(segs) > 1 {
			return rq.noRoute(segs[1].name)
		}
		if rq.method != http.MethodGet {
			return rq.methodNotAllowed()
		}
		items, errResp := rq.filterItems(k, t.visibleItems(t.dir.Users))
		if errResp != nil {
			return errResp
		}
		return rq.listResponse(k, "users", items)
	}
	u, errResp := t.lookup(rq, t.dir.Users, root, "userPrincipalName")
	if errResp != nil {
		return errResp
	}
	if len(segs) == 1 {
		if rq.method != http.MethodGet {
			return rq.methodNotAllowed()
		}
		return rq.entityResponse(http.StatusOK, k, "users", u)
	}
	if is(segs[1], "appRoleAssignments") {
		navPath := fmt.Sprintf("users('%s')/appRoleAssignments", u.id())
		return t.routeAssignments(rq, segs[1:], navPath, func(a *entry) bool { return str(a.Props["principalId"]) == u.id() },
			func(body map[string]any) *response { return t.createAssignment(rq, body, "", u.id(), navPath) })
	}
	return rq.noRoute(segs[1].name)
}
