package simtenant

import "net/http"

// collection is a top-level directory collection the fake serves the same way whatever its
// kind (/applications, /servicePrincipals, /users, /groups): $count, a filtered list and a
// create at the root; read, update and delete of one member. Each kind brings its own checks
// and writes; a nil one is a method the collection does not allow.
type collection struct {
	kind    *kind
	items   map[string]*entry
	name    string // the collection's path and @odata.context name
	canRead func(*request) bool
	create  func(*request) *response
	update  func(*request, *entry) *response
	// canDelete and remove are a DELETE's permission check and effect.
	canDelete func(*request, *entry) bool
	remove    func(*entry)
}

// routeRoot serves the collection itself: segs[0] is not keyed.
func (t *Tenant) routeRoot(rq *request, segs []seg, c collection) *response {
	if len(segs) == 2 && segs[1].name == "$count" {
		if !c.canRead(rq) {
			return rq.denied()
		}
		return t.countCollection(rq, c.kind, c.items)
	}
	if len(segs) > 1 {
		return rq.noRoute(segs[1].name)
	}
	switch {
	case rq.method == http.MethodGet:
		if !c.canRead(rq) {
			return rq.denied()
		}
		items, errResp := rq.filterItems(c.kind, t.visibleItems(c.items))
		if errResp != nil {
			return errResp
		}
		return rq.listResponse(c.kind, c.name, items)
	case rq.method == http.MethodPost && c.create != nil:
		return c.create(rq)
	}
	return rq.methodNotAllowed()
}

// routeMember serves one member e of the collection, with no further segment.
func (t *Tenant) routeMember(rq *request, c collection, e *entry) *response {
	switch {
	case rq.method == http.MethodGet:
		if !c.canRead(rq) {
			return rq.denied()
		}
		return rq.entityResponse(http.StatusOK, c.kind, c.name, e)
	case rq.method == http.MethodPatch && c.update != nil:
		return c.update(rq, e)
	case rq.method == http.MethodDelete && c.remove != nil:
		if !c.canDelete(rq, e) {
			return rq.denied()
		}
		c.remove(e)
		return noContent()
	}
	return rq.methodNotAllowed()
}
