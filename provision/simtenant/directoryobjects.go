package simtenant

import (
	"fmt"
	"net/http"
	"strings"
)

// Directory objects are users, groups, applications and service principals seen through the
// type they share: lists of them (owners, getByIds) mix types, each item names its own with
// @odata.type and carries that type's default properties.

// maxGetByIDs is the most ids one getByIds call accepts (directoryobject-getbyids).
const maxGetByIDs = 1000

// typedObject is a directory object with its kind and whether the caller may read it.
type typedObject struct {
	entry   *entry
	kind    *kind
	canRead func(*request) bool
}

// directoryObject finds a live object of any type by id. The caller holds t.mu.
func (t *Tenant) directoryObject(id string) (typedObject, bool) {
	id = strings.ToLower(id)
	for _, c := range []typedObject{
		{entry: t.dir.Users[id], kind: t.kinds.user, canRead: t.canReadUsers},
		{entry: t.dir.Groups[id], kind: t.kinds.group, canRead: t.canReadGroups},
		{entry: t.dir.ServicePrincipals[id], kind: t.kinds.servicePrincipal, canRead: t.canReadApps},
		{entry: t.dir.Applications[id], kind: t.kinds.application, canRead: t.canReadApps},
	} {
		if c.entry != nil && t.visible(c.entry) {
			return c, true
		}
	}
	return typedObject{}, false
}

// view renders an object as an item of a directoryObject collection. An object of a type the
// caller may not read keeps only its type and id, its other properties null ("limited
// information returned for inaccessible member objects").
func (o typedObject) view(rq *request, sel []string) map[string]any {
	names := sel
	if names == nil {
		names = o.kind.defaultSelect
	}
	v := o.kind.project(o.entry.Props, names)
	if !o.canRead(rq) {
		for k := range v {
			v[k] = nil
		}
		v["id"] = o.entry.id()
	}
	v["@odata.type"] = "#microsoft.graph." + o.kind.typeName
	return v
}

// directoryObjectResponse answers one object addressed as a directory object (a deleted item,
// /directoryObjects/{id}, a restore): its full form with its @odata.type.
func (t *Tenant) directoryObjectResponse(rq *request, status int, k *kind, e *entry) *response {
	sel, errResp := rq.selection(k)
	if errResp != nil {
		return errResp
	}
	body := k.project(e.Props, sel)
	body["@odata.type"] = "#microsoft.graph." + k.typeName
	body["@odata.context"] = rq.contextURL("directoryObjects", nil, true)
	return jsonResponse(status, body)
}

// directoryObjectList answers a list of directory objects of mixed types.
func (rq *request) directoryObjectList(objs []typedObject) *response {
	value := make([]any, 0, len(objs))
	for _, o := range objs {
		value = append(value, o.view(rq, nil))
	}
	return jsonResponse(http.StatusOK, map[string]any{"@odata.context": rq.contextURL("directoryObjects", nil, false), "value": value})
}

// routeDirectoryObjects serves GET /directoryObjects/{id} and POST /directoryObjects/getByIds.
func (t *Tenant) routeDirectoryObjects(rq *request, segs []seg) *response {
	root := segs[0]
	switch {
	case !root.keyed && len(segs) == 2 && is(segs[1], "getByIds"):
		if rq.method != http.MethodPost {
			return rq.methodNotAllowed()
		}
		return t.getByIDs(rq)
	case root.keyed && len(segs) == 1:
		if rq.method != http.MethodGet {
			return rq.methodNotAllowed()
		}
		o, ok := t.directoryObject(root.key)
		if !ok {
			return rq.notFound(root.key)
		}
		if !o.canRead(rq) {
			return rq.denied()
		}
		return t.directoryObjectResponse(rq, http.StatusOK, o.kind, o.entry)
	}
	return rq.noRoute(segs[len(segs)-1].name)
}

// getByIDs returns the objects among ids of the types asked for (all when types is empty), in
// the order asked; unknown ids are left out.
func (t *Tenant) getByIDs(rq *request) *response {
	body, errResp := rq.decodeBody()
	if errResp != nil {
		return errResp
	}
	ids := strList(body["ids"])
	if len(ids) == 0 || len(ids) > maxGetByIDs {
		return rq.badRequest(fmt.Sprintf("Invalid value specified for property 'ids': give between 1 and %d object ids.", maxGetByIDs))
	}
	types := map[string]bool{}
	for _, ty := range strList(body["types"]) {
		types[strings.ToLower(ty)] = true
	}
	if !t.canReadUsers(rq) && !t.canReadGroups(rq) && !t.canReadApps(rq) {
		return rq.denied()
	}
	var out []typedObject
	for _, id := range ids {
		o, ok := t.directoryObject(id)
		if ok && (len(types) == 0 || types[strings.ToLower(o.kind.typeName)]) {
			out = append(out, o)
		}
	}
	return rq.directoryObjectList(out)
}
