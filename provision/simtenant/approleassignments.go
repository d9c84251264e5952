package simtenant

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

const defaultAccessRole = "00000000-0000-0000-0000-000000000000"

// routeAssignments serves an appRoleAssignedTo / appRoleAssignments navigation: segs[0] is the
// navigation segment, possibly keyed by an assignment id.
func (t *Tenant) routeAssignments(rq *request, segs []seg, navPath string, match func(*entry) bool, create func(map[string]any) *response) *response {
	k := t.kinds.assignment
	nav := segs[0]
	if len(segs) > 1 {
		if len(segs) == 2 && segs[1].name == "$count" && !nav.keyed {
			if !t.canReadAssignments(rq) {
				return rq.denied()
			}
			return rq.countResponse(len(t.matchingAssignments(match)))
		}
		return rq.noRoute(segs[len(segs)-1].name)
	}
	if !nav.keyed {
		switch rq.method {
		case http.MethodGet:
			if !t.canReadAssignments(rq) {
				return rq.denied()
			}
			items, errResp := rq.filterItems(k, t.matchingAssignments(match))
			if errResp != nil {
				return errResp
			}
			return rq.listResponse(k, navPath, items)
		case http.MethodPost:
			body, errResp := rq.decodeEntity(k)
			if errResp != nil {
				return errResp
			}
			return create(body)
		}
		return rq.methodNotAllowed()
	}
	a := t.dir.Assignments[nav.key]
	if a == nil || !match(a) || !t.visible(a) {
		return rq.notFound(nav.key)
	}
	switch rq.method {
	case http.MethodGet:
		if !t.canReadAssignments(rq) {
			return rq.denied()
		}
		return rq.entityResponse(http.StatusOK, k, navPath, a)
	case http.MethodDelete:
		if !rq.caller.can("AppRoleAssignment.ReadWrite.All") {
			return rq.denied()
		}
		delete(t.dir.Assignments, a.id())
		return noContent()
	}
	return rq.methodNotAllowed()
}

func (t *Tenant) matchingAssignments(match func(*entry) bool) []*entry {
	var out []*entry
	for _, a := range t.visibleItems(t.dir.Assignments) {
		if match(a) {
			out = append(out, a)
		}
	}
	return out
}

func (t *Tenant) canReadAssignments(rq *request) bool {
	return rq.caller.can("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All",
		"AppRoleAssignment.ReadWrite.All", "User.Read.All", "Group.Read.All")
}

// createAssignment validates and stores an app role assignment. fixedResource / fixedPrincipal
// are the ids the URL pins (appRoleAssignedTo pins the resource, appRoleAssignments the principal).
func (t *Tenant) createAssignment(rq *request, body map[string]any, fixedResource, fixedPrincipal, navPath string) *response {
	// The read permission is needed to resolve the resource SP (docs issue #3476).
	if !rq.caller.can("AppRoleAssignment.ReadWrite.All") ||
		!rq.caller.can("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All") {
		return rq.denied()
	}
	principalID, resourceID, roleID := strings.ToLower(str(body["principalId"])), strings.ToLower(str(body["resourceId"])), strings.ToLower(str(body["appRoleId"]))
	for name, v := range map[string]string{"principalId": principalID, "resourceId": resourceID, "appRoleId": roleID} {
		if _, err := uuid.Parse(v); err != nil {
			return rq.badRequest(fmt.Sprintf("Invalid value specified for property '%s' of resource 'AppRoleAssignment'.", name))
		}
	}
	if (fixedResource != "" && resourceID != fixedResource) || (fixedPrincipal != "" && principalID != fixedPrincipal) {
		return rq.badRequest(msgNotValidReference)
	}
	resource := t.dir.ServicePrincipals[resourceID]
	if resource == nil {
		return rq.notFound(resourceID)
	}
	if !t.visible(resource) {
		return rq.badRequest(msgNotValidReference)
	}
	principal, principalType, memberType := t.principal(principalID)
	if principal == nil {
		return rq.notFound(principalID)
	}
	if !t.visible(principal) {
		return rq.badRequest(msgNotValidReference)
	}
	if !roleAssignable(resource, roleID, memberType) {
		return rq.badRequest(fmt.Sprintf("Permission being assigned was not found on application '%s'.", str(resource.Props["appId"])))
	}
	for _, a := range t.dir.Assignments {
		if str(a.Props["principalId"]) == principalID && str(a.Props["resourceId"]) == resourceID && str(a.Props["appRoleId"]) == roleID {
			return rq.badRequest(msgDuplicateRole)
		}
	}
	a := t.dir.add(t.dir.Assignments, t.assignmentProps(principal, principalType, resource, roleID, rq.now), rq.now)
	return rq.entityResponse(http.StatusCreated, t.kinds.assignment, navPath, a)
}

// principal finds a user, group or service principal by object id, with its principalType and
// the allowedMemberTypes value that applies to it.
func (t *Tenant) principal(id string) (*entry, string, string) {
	if u := t.dir.Users[id]; u != nil {
		return u, "User", "User"
	}
	if g := t.dir.Groups[id]; g != nil {
		return g, "Group", "User"
	}
	if sp := t.dir.ServicePrincipals[id]; sp != nil {
		return sp, "ServicePrincipal", "Application"
	}
	return nil, "", ""
}

// roleAssignable: the role is an enabled app role of the resource allowing the member type, or
// the default-access role when the resource declares no role for that member type.
func roleAssignable(resource *entry, roleID, memberType string) bool {
	declares := false
	for _, r := range asList(resource.Props["appRoles"]) {
		m := asMap(r)
		allows := false
		for _, mt := range strList(m["allowedMemberTypes"]) {
			if mt == memberType {
				allows = true
			}
		}
		if !allows {
			continue
		}
		declares = true
		if strings.EqualFold(str(m["id"]), roleID) && m["isEnabled"] != false {
			return true
		}
	}
	return roleID == defaultAccessRole && !declares
}

func (t *Tenant) assignmentProps(principal *entry, principalType string, resource *entry, roleID string, now time.Time) map[string]any {
	return map[string]any{
		"id":                   assignmentID(principal.id()),
		"deletedDateTime":      nil,
		"appRoleId":            roleID,
		"createdDateTime":      timestamp(now),
		"principalDisplayName": principal.Props["displayName"],
		"principalId":          principal.id(),
		"principalType":        principalType,
		"resourceDisplayName":  resource.Props["displayName"],
		"resourceId":           resource.id(),
	}
}

// assignRole stores an assignment without the checks of the API, for seeding and test set-up.
func (t *Tenant) assignRole(principal, resource *entry, roleID string, created time.Time) *entry {
	_, principalType, _ := t.principal(principal.id())
	return t.dir.add(t.dir.Assignments, t.assignmentProps(principal, principalType, resource, roleID, created), created)
}

// assignmentID mints an id the way the service does: base64url of the principal id (.NET byte
// order) followed by 16 bytes unique to the assignment, 43 characters unpadded.
func assignmentID(principalID string) string {
	b := make([]byte, 32)
	copy(b, guidBytesLE(principalID))
	_, _ = rand.Read(b[16:])
	return base64.RawURLEncoding.EncodeToString(b)
}

// guidBytesLE is a GUID in .NET's little-endian byte order (uuid.bytes_le).
func guidBytesLE(id string) []byte {
	u, err := uuid.Parse(id)
	if err != nil {
		return make([]byte, 16)
	}
	b := u[:]
	return []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]}
}
