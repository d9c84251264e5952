package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/graph"
)

// DefaultAccessRoleID is the app role of a plain assignment to an enterprise app ("default
// access"), valid when the application declares no app role for users.
const DefaultAccessRoleID = "00000000-0000-0000-0000-000000000000"

// DesiredAssignments are the users and groups a manifest assigns to the enterprise app.
type DesiredAssignments struct {
	Users  []DesiredName // UPN or mail, as written
	Groups []DesiredName // display name or object id, as written
}

// desiredAssignments reads application.assignments. The list is managed (authoritative, for
// users and groups alike) when the manifest writes a users or groups key; a block with only
// `required` leaves assignments as they are.
func desiredAssignments(d *manifests.Document) *DesiredAssignments {
	a := d.Application.Assignments
	if a == nil || (a.Users == nil && a.Groups == nil &&
		!d.Source.Has("application.assignments.users") && !d.Source.Has("application.assignments.groups")) {
		return nil
	}
	out := &DesiredAssignments{Users: []DesiredName{}, Groups: []DesiredName{}}
	for i, u := range a.Users {
		out.Users = append(out.Users, DesiredName{Name: strings.TrimSpace(u), Path: fmt.Sprintf("application.assignments.users[%d]", i)})
	}
	for i, g := range a.Groups {
		out.Groups = append(out.Groups, DesiredName{Name: strings.TrimSpace(g), Path: fmt.Sprintf("application.assignments.groups[%d]", i)})
	}
	return out
}

// Assignment is an app role assignment on the enterprise app as a resource: a user, group or
// service principal allowed to use the application.
type Assignment struct {
	ID                   string
	AppRoleID            string
	PrincipalID          string
	PrincipalType        string // User, Group or ServicePrincipal
	PrincipalDisplayName string
}

// AssignmentFromModel converts an app role assignment made on the service principal (a user
// or group assigned to the application).
func AssignmentFromModel(m models.AppRoleAssignmentable) Assignment {
	return Assignment{ID: str(m.GetId()), AppRoleID: uuidStr(m.GetAppRoleId()), PrincipalID: uuidStr(m.GetPrincipalId()),
		PrincipalType: str(m.GetPrincipalType()), PrincipalDisplayName: str(m.GetPrincipalDisplayName())}
}

// assignedToRequest reads the assignments on the service principal spID, in pages as large
// as Graph gives.
func assignedToRequest(ctx context.Context, e *Engine, b *batch, key, spID string) {
	top := int32(999)
	b.add(key)(e.Graph.Graph.ServicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo().ToGetRequestInformation(ctx,
		&serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetQueryParameters{Top: &top}}))
}

// readAssignedTo decodes what assignedToRequest asked under key.
func readAssignedTo(ctx context.Context, e *Engine, res batchResults, key string) ([]Assignment, error) {
	as, err := getList[models.AppRoleAssignmentCollectionResponseable](ctx, e, res, key,
		models.CreateAppRoleAssignmentCollectionResponseFromDiscriminatorValue, AssignmentFromModel)
	if err != nil {
		return nil, fmt.Errorf("read users and groups assigned: %w", graph.ExplainDenied(err, graph.OpReadServicePrincipals))
	}
	return as, nil
}

// assignee is a manifest user or group matched to its directory object.
type assignee struct {
	name DesiredName
	obj  DirectoryObject
}

// resolveAssignees matches the manifest's users and groups to directory objects. An unknown
// or ambiguous name is a diagnostic at its line; a disabled user is a warning (the assignment
// is harmless and the account may come back).
func resolveAssignees(want Desired, dir *Directory) ([]assignee, []Warning, manifests.Diagnostics) {
	if want.Assignments == nil {
		return nil, nil, nil
	}
	var out []assignee
	var warnings []Warning
	var probs manifests.Diagnostics
	for _, u := range want.Assignments.Users {
		obj := dir.user(u.Name)
		if obj == nil {
			probs = append(probs, want.problem(u.Path, fmt.Errorf("no user with userPrincipalName or mail %q in the tenant", u.Name)))
			continue
		}
		if !obj.AccountEnabled {
			warnings = append(warnings, Warning{Address: assignmentAddress(want, PrincipalUser, u.Name), Source: want.pos(u.Path),
				Message: fmt.Sprintf("user %s is disabled: the assignment is kept, but the user cannot sign in", u.Name)})
		}
		out = append(out, assignee{name: u, obj: *obj})
	}
	for _, g := range want.Assignments.Groups {
		found := dir.groupsNamed(g.Name)
		switch len(found) {
		case 0:
			probs = append(probs, want.problem(g.Path, fmt.Errorf("no group with display name or object id %q in the tenant", g.Name)))
		case 1:
			out = append(out, assignee{name: g, obj: found[0]})
		default:
			ids := make([]string, len(found))
			for i, f := range found {
				ids[i] = f.ID
			}
			slices.Sort(ids)
			probs = append(probs, want.problem(g.Path, fmt.Errorf("%d groups are named %q (ids %s): write the object id of the one meant",
				len(found), g.Name, strings.Join(ids, ", "))))
		}
	}
	return out, warnings, probs
}

// assignmentAddress is the plan address of the assignment of a user or group.
func assignmentAddress(want Desired, principalType, name string) string {
	return fmt.Sprintf("%s.assignment.%s[%q]", want.Address, strings.ToLower(principalType), name)
}

// planAssignments diffs the users and groups assigned to the enterprise app (sp, nil when it
// does not exist yet) against the manifest. Assignments are authoritative: a user or group
// assigned but not listed is removed. Assignments to other service principals (apps allowed
// to call this one) are not users or groups and are left alone, and so are the application
// permissions this app holds on other APIs (consent, another kind).
func planAssignments(want Desired, sp *ObservedServicePrincipal, assignees []assignee, existing []Assignment) []Change {
	if want.Assignments == nil {
		return nil
	}
	have := map[string]bool{}
	var changes []Change
	if sp != nil {
		wanted := map[string]bool{}
		for _, a := range assignees {
			wanted[strings.ToLower(a.obj.ID)] = true
		}
		for _, a := range existing {
			if a.PrincipalType != PrincipalUser && a.PrincipalType != PrincipalGroup {
				continue
			}
			id := strings.ToLower(a.PrincipalID)
			if wanted[id] {
				have[id] = true
				continue
			}
			changes = append(changes, Change{
				Address: assignmentAddress(want, a.PrincipalType, a.PrincipalDisplayName),
				Kind:    KindUserAssignment, Action: Delete, Reason: "not in the manifest",
				Attrs:  []AttrChange{{Name: "principalId", Before: a.PrincipalID}, {Name: "appRoleId", Before: a.AppRoleID}},
				Target: Target{ID: a.ID, PrincipalID: a.PrincipalID},
			})
		}
	}
	for _, a := range assignees {
		id := strings.ToLower(a.obj.ID)
		if have[id] {
			continue
		}
		have[id] = true // a user listed twice (by UPN and by mail) is assigned once
		changes = append(changes, Change{
			Address: assignmentAddress(want, a.obj.Type, a.name.Name),
			Kind:    KindUserAssignment, Action: Create,
			Attrs: []AttrChange{
				{Name: "principalId", After: a.obj.ID},
				{Name: "principalType", After: a.obj.Type},
				{Name: "appRoleId", After: DefaultAccessRoleID},
			},
			Source: want.pos(a.name.Path),
			Target: Target{PrincipalID: a.obj.ID, AppRoleID: DefaultAccessRoleID},
		})
	}
	return changes
}

// applyUserAssignment assigns a user or group to the enterprise app, or removes it: an app
// role assignment of the principal on the service principal.
func (e *Engine) applyUserAssignment(ctx context.Context, c *Change, st *appState) (string, error) {
	if st.spID == "" {
		return "", errors.New("assign: the service principal's id is unknown")
	}
	return e.writeAppRoleAssignment(ctx, c, st, appRoleWrite{resourceID: st.spID, principalID: c.Target.PrincipalID,
		op: graph.OpAssignUsers, create: "assign", remove: "remove assignment"})
}

// appRoleWrite says which app role assignment a change writes, and how its errors read.
type appRoleWrite struct {
	resourceID  string // the service principal whose app role is assigned
	principalID string // who receives it
	op          graph.Operation
	create      string // the verbs of the errors
	remove      string
}

// writeAppRoleAssignment creates or deletes the app role assignment c targets, the one write
// behind both a consented application permission and a user or group assignment. Both are
// idempotent: an assignment that exists already, or is gone already, is success.
func (e *Engine) writeAppRoleAssignment(ctx context.Context, c *Change, st *appState, w appRoleWrite) (string, error) {
	assignedTo := e.Graph.Graph.ServicePrincipals().ByServicePrincipalId(w.resourceID).AppRoleAssignedTo()
	if c.Action == Delete {
		err := graph.Wrap(assignedTo.ByAppRoleAssignmentId(c.Target.ID).Delete(ctx, nil))
		if err != nil && !graph.IsNotFound(err) {
			return "", fmt.Errorf("%s: %w", w.remove, graph.ExplainDenied(err, w.op))
		}
		return c.Target.ID, nil
	}
	body, err := assignmentBody(w.principalID, w.resourceID, c.Target.AppRoleID)
	if err != nil {
		return "", fmt.Errorf("%s: %w", w.create, err)
	}
	var a models.AppRoleAssignmentable
	err = e.retry(ctx, st.freshSP, func(ctx context.Context) error {
		var err error
		a, err = assignedTo.Post(ctx, body, nil)
		return err
	})
	if graph.IsAlreadyExists(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", w.create, graph.ExplainDenied(err, w.op))
	}
	return str(a.GetId()), nil
}

// appRoleAssignmentRequest builds the request of c as writeAppRoleAssignment sends it, for a
// $batch.
func (e *Engine) appRoleAssignmentRequest(ctx context.Context, c *Change, resourceID, principalID string) (*abstractions.RequestInformation, error) {
	assignedTo := e.Graph.Graph.ServicePrincipals().ByServicePrincipalId(resourceID).AppRoleAssignedTo()
	if c.Action == Delete {
		return assignedTo.ByAppRoleAssignmentId(c.Target.ID).ToDeleteRequestInformation(ctx, nil)
	}
	body, err := assignmentBody(principalID, resourceID, c.Target.AppRoleID)
	if err != nil {
		return nil, err
	}
	return assignedTo.ToPostRequestInformation(ctx, body, nil)
}

// assignmentBody is the request body that assigns principalID the app role roleID of the
// service principal resourceID: a user or group assigned to the application, or the
// application's own service principal granted an API's application permission.
func assignmentBody(principalID, resourceID, roleID string) (models.AppRoleAssignmentable, error) {
	principal, err1 := uuid.Parse(principalID)
	resource, err2 := uuid.Parse(resourceID)
	role, err3 := uuid.Parse(roleID)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	body := models.NewAppRoleAssignment()
	body.SetPrincipalId(&principal)
	body.SetResourceId(&resource)
	body.SetAppRoleId(&role)
	return body, nil
}
