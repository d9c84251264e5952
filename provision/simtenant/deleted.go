package simtenant

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Deleting an application or a service principal soft-deletes it, as the directory does: the
// object moves to /directory/deletedItems with deletedDateTime set, stays there 30 days, and
// can be read, restored (POST .../restore) or deleted for good (DELETE) until then. Restoring
// an application does not restore its service principal; each is restored on its own.

// deletedRetention is how long a deleted object stays restorable.
const deletedRetention = 30 * 24 * time.Hour

// softDelete moves e (already out of its live collection) into the deleted items m.
func (t *Tenant) softDelete(m map[string]*entry, e *entry) {
	e.Props["deletedDateTime"] = timestamp(t.clock.Now())
	m[e.id()] = e
}

// purgeDeleted deletes for good what was deleted more than 30 days before now. The caller holds t.mu.
func (t *Tenant) purgeDeleted(now time.Time) {
	for _, m := range []map[string]*entry{t.dir.DeletedApplications, t.dir.DeletedServicePrincipals} {
		for _, e := range m {
			when, err := time.Parse(time.RFC3339Nano, str(e.Props["deletedDateTime"]))
			if err == nil && !now.Before(when.Add(deletedRetention)) {
				t.eraseDeleted(m, e)
			}
		}
	}
}

// eraseDeleted forgets what a deleted object kept for its restore.
func (t *Tenant) eraseDeleted(m map[string]*entry, e *entry) {
	t.forgetSecrets(e)
	delete(t.dir.Owners, e.id())
	delete(m, e.id())
}

// deletedOfType returns the deleted items of the type an OData cast names (microsoft.graph.x,
// or graph.x as the SDK writes it), with its kind.
func (t *Tenant) deletedOfType(cast string) (*kind, map[string]*entry, bool) {
	switch strings.TrimPrefix(strings.ToLower(cast), "microsoft.") {
	case "graph.application":
		return t.kinds.application, t.dir.DeletedApplications, true
	case "graph.serviceprincipal":
		return t.kinds.servicePrincipal, t.dir.DeletedServicePrincipals, true
	}
	return nil, nil, false
}

// routeDirectory serves /directory/deletedItems: the typed lists, one item, its restore and
// its permanent deletion.
func (t *Tenant) routeDirectory(rq *request, segs []seg) *response {
	if len(segs) < 2 || !is(segs[1], "deletedItems") {
		return rq.noRoute(segs[len(segs)-1].name)
	}
	items := segs[1]
	rest := segs[2:]
	if !items.keyed {
		if len(rest) == 0 {
			// The OData cast is a required part of the list's URI (directory-deleteditems-list).
			return rq.badRequest("The type of the deleted items must be given: /directory/deletedItems/microsoft.graph.application or /directory/deletedItems/microsoft.graph.servicePrincipal.")
		}
		k, m, ok := t.deletedOfType(rest[0].name)
		if !ok || len(rest) > 1 {
			return rq.noRoute(rest[len(rest)-1].name)
		}
		if rq.method != http.MethodGet {
			return rq.methodNotAllowed()
		}
		if !t.canReadApps(rq) {
			return rq.denied()
		}
		found, errResp := rq.filterItems(k, sorted(m))
		if errResp != nil {
			return errResp
		}
		return rq.listResponse(k, "directory/deletedItems/"+rest[0].name, found)
	}
	e, k, m := t.findDeleted(items.key)
	if e == nil {
		return rq.notFound(items.key)
	}
	switch {
	case len(rest) == 0 && rq.method == http.MethodGet:
		if !t.canReadApps(rq) {
			return rq.denied()
		}
		return t.directoryObjectResponse(rq, http.StatusOK, k, e)
	case len(rest) == 0 && rq.method == http.MethodDelete:
		if !t.canWriteDeleted(rq, e) {
			return rq.denied()
		}
		t.eraseDeleted(m, e)
		return noContent()
	case len(rest) == 1 && is(rest[0], "restore") && rq.method == http.MethodPost:
		if !t.canWriteDeleted(rq, e) {
			return rq.denied()
		}
		return t.restore(rq, k, m, e)
	case len(rest) == 0 || len(rest) == 1 && is(rest[0], "restore"):
		return rq.methodNotAllowed()
	}
	return rq.noRoute(rest[len(rest)-1].name)
}

// findDeleted returns a deleted object by id with its kind and the deleted items holding it.
func (t *Tenant) findDeleted(id string) (*entry, *kind, map[string]*entry) {
	id = strings.ToLower(id)
	if e := t.dir.DeletedApplications[id]; e != nil {
		return e, t.kinds.application, t.dir.DeletedApplications
	}
	if e := t.dir.DeletedServicePrincipals[id]; e != nil {
		return e, t.kinds.servicePrincipal, t.dir.DeletedServicePrincipals
	}
	return nil, nil, nil
}

// canWriteDeleted: Application.ReadWrite.All, or Application.ReadWrite.OwnedBy on an object
// the caller owned before its deletion.
func (t *Tenant) canWriteDeleted(rq *request, e *entry) bool {
	if rq.caller.can("Application.ReadWrite.All", "Directory.ReadWrite.All") {
		return true
	}
	return rq.caller.can("Application.ReadWrite.OwnedBy") && slices.Contains(t.dir.Owners[e.id()], rq.caller.spID)
}

// restore brings a deleted object back, refusing what would collide with a live object.
func (t *Tenant) restore(rq *request, k *kind, m map[string]*entry, e *entry) *response {
	appID := str(e.Props["appId"])
	switch k {
	case t.kinds.application:
		if u := str(e.Props["uniqueName"]); u != "" && findBy(t.dir.Applications, "uniqueName", u) != nil {
			return rq.graphError(http.StatusConflict, codeDuplicate, "Another object with the same value for property uniqueName already exists.")
		}
		delete(m, e.id())
		e.Props["deletedDateTime"] = nil
		t.dir.Applications[e.id()] = e
		// A service principal still live under this appId (a first-party one, say) keeps
		// mirroring the application, as before the deletion.
		t.syncServicePrincipal(e)
	default:
		if findBy(t.dir.ServicePrincipals, "appId", appID) != nil {
			return rq.graphError(http.StatusConflict, codeDuplicate, "Another object with the same value for property servicePrincipalNames already exists.")
		}
		if str(e.Props["appOwnerOrganizationId"]) == t.dir.TenantID && findBy(t.dir.Applications, "appId", appID) == nil {
			return rq.badRequest(fmt.Sprintf("The application '%s' of the service principal is deleted: restore the application first.", appID))
		}
		delete(m, e.id())
		e.Props["deletedDateTime"] = nil
		t.dir.ServicePrincipals[e.id()] = e
	}
	return t.directoryObjectResponse(rq, http.StatusOK, k, e)
}
