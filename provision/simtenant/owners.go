package simtenant

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// msgOwnerExists is the service's answer to adding an owner twice.
const msgOwnerExists = "One or more added object references already exist for the following modified properties: 'owners'."

// routeOwners serves the owners of an application or a service principal: GET owners,
// POST owners/$ref, and DELETE owners/{id}/$ref or owners/$ref?@id={url}. segs[0] is the
// owners segment. canWrite reports whether the caller may change obj.
func (t *Tenant) routeOwners(rq *request, segs []seg, obj *entry, canWrite func() bool) *response {
	nav := segs[0]
	ref := len(segs) == 2 && segs[1].name == "$ref"
	if id := rq.query.Get("@id"); !nav.keyed && ref && rq.method == http.MethodDelete && id != "" {
		nav.keyed, nav.key = true, objectIDOf(id)
	}
	switch {
	case !nav.keyed && len(segs) == 1:
		if rq.method != http.MethodGet {
			return rq.methodNotAllowed()
		}
		if !t.canReadApps(rq) {
			return rq.denied()
		}
		var owners []typedObject
		for _, id := range t.dir.Owners[obj.id()] {
			if o, ok := t.directoryObject(id); ok {
				owners = append(owners, o)
			}
		}
		return rq.directoryObjectList(owners)
	case !nav.keyed && ref:
		if rq.method != http.MethodPost {
			return rq.methodNotAllowed()
		}
		if !canWrite() {
			return rq.denied()
		}
		return t.addOwner(rq, obj)
	case nav.keyed && ref:
		if rq.method != http.MethodDelete {
			return rq.methodNotAllowed()
		}
		if !canWrite() {
			return rq.denied()
		}
		owners := t.dir.Owners[obj.id()]
		i := slices.IndexFunc(owners, func(id string) bool { return strings.EqualFold(id, nav.key) })
		if i < 0 {
			return rq.notFound(nav.key)
		}
		t.dir.Owners[obj.id()] = slices.Delete(slices.Clone(owners), i, i+1)
		return noContent()
	}
	return rq.noRoute(segs[len(segs)-1].name)
}

// objectIDOf is the object id at the end of a reference URL
// (https://graph.microsoft.com/v1.0/directoryObjects/{id}), or "" if there is none.
func objectIDOf(ref string) string {
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	return u.Path[strings.LastIndexByte(u.Path, '/')+1:]
}

// addOwner adds the user or service principal named by the body's @odata.id.
func (t *Tenant) addOwner(rq *request, obj *entry) *response {
	body, errResp := rq.decodeBody()
	if errResp != nil {
		return errResp
	}
	ref := str(body["@odata.id"])
	id := objectIDOf(ref)
	if id == "" {
		return rq.badRequest("Invalid object identifier '" + ref + "'.")
	}
	o, ok := t.directoryObject(id)
	if !ok {
		return rq.notFound(id)
	}
	if o.kind != t.kinds.user && o.kind != t.kinds.servicePrincipal {
		return rq.badRequest("Invalid object identifier '" + id + "': an owner is a user or a service principal.")
	}
	if slices.Contains(t.dir.Owners[obj.id()], o.entry.id()) {
		return rq.badRequest(msgOwnerExists)
	}
	t.dir.Owners[obj.id()] = append(slices.Clone(t.dir.Owners[obj.id()]), o.entry.id())
	return noContent()
}
