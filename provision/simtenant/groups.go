package simtenant

import (
	"fmt"
	"net/http"
)

func (t *Tenant) canReadGroups(rq *request) bool {
	return rq.caller.can("Group.Read.All", "GroupMember.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
}

func (t *Tenant) routeGroups(rq *request, segs []seg) *response {
	k := t.kinds.group
	root := segs[0]
	if !t.canReadGroups(rq) && !(len(segs) > 1 && is(segs[1], "appRoleAssignments")) {
		return rq.denied()
	}
	if !root.keyed {
		if len(segs) == 2 && segs[1].name == "$count" {
			return t.countCollection(rq, k, t.dir.Groups)
		}
		if len(segs) > 1 {
			return rq.noRoute(segs[1].name)
		}
		if rq.method != http.MethodGet {
			return rq.methodNotAllowed()
		}
		items, errResp := rq.filterItems(k, t.visibleItems(t.dir.Groups))
		if errResp != nil {
			return errResp
		}
		return rq.listResponse(k, "groups", items)
	}
	g, errResp := t.lookup(rq, t.dir.Groups, root)
	if errResp != nil {
		return errResp
	}
	if len(segs) == 1 {
		if rq.method != http.MethodGet {
			return rq.methodNotAllowed()
		}
		return rq.entityResponse(http.StatusOK, k, "groups", g)
	}
	if is(segs[1], "appRoleAssignments") {
		navPath := fmt.Sprintf("groups('%s')/appRoleAssignments", g.id())
		return t.routeAssignments(rq, segs[1:], navPath, func(a *entry) bool { return str(a.Props["principalId"]) == g.id() },
			func(body map[string]any) *response { return t.createAssignment(rq, body, "", g.id(), navPath) })
	}
	return rq.noRoute(segs[1].name)
}
