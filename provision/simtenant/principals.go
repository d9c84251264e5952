package simtenant

import (
	"fmt"
	"net/http"
)

func (t *Tenant) canReadUsers(rq *request) bool {
	return rq.caller.can("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
}

func (t *Tenant) canReadGroups(rq *request) bool {
	return rq.caller.can("Group.Read.All", "GroupMember.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
}

// routePrincipals serves /users and /groups, which the fake treats alike: read-only
// collections (seeded, never created through Graph) whose members hold app role assignments.
// Reading takes canRead, except a principal's own appRoleAssignments, which routeAssignments
// checks instead. keyProps are the entity type's alternate keys.
func (t *Tenant) routePrincipals(rq *request, segs []seg, k *kind, m map[string]*entry, name string, canRead func(*request) bool, keyProps ...string) *response {
	c := collection{kind: k, items: m, name: name, canRead: canRead}
	root := segs[0]
	if !canRead(rq) && !(len(segs) > 1 && is(segs[1], "appRoleAssignments")) {
		return rq.denied()
	}
	if !root.keyed {
		return t.routeRoot(rq, segs, c)
	}
	p, errResp := t.lookup(rq, m, root, keyProps...)
	if errResp != nil {
		return errResp
	}
	if len(segs) == 1 {
		return t.routeMember(rq, c, p)
	}
	if is(segs[1], "appRoleAssignments") {
		navPath := fmt.Sprintf("%s('%s')/appRoleAssignments", name, p.id())
		return t.routeAssignments(rq, segs[1:], navPath, func(a *entry) bool { return str(a.Props["principalId"]) == p.id() },
			func(body map[string]any) *response { return t.createAssignment(rq, body, "", p.id(), navPath) })
	}
	if name == "users" && is(segs[1], "manager") && len(segs) == 2 {
		if rq.method != http.MethodGet {
			return rq.methodNotAllowed()
		}
		// No simulated user has a manager; Graph answers 404 for the missing reference.
		return rq.graphError(http.StatusNotFound, codeNotFound,
			"Resource 'manager' does not exist or one of its queried reference-property objects are not present.")
	}
	return rq.noRoute(segs[1].name)
}
