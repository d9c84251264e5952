package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/rights"
)

// KindUserAssignment is a user or group assigned to the enterprise app: an app role
// assignment of the principal on the application's service principal.
const KindUserAssignment Kind = "user_assignment"

// DefaultAccessRoleID is the app role of a plain assignment to an enterprise app ("default
// access"), valid when the application declares no app role for users.
const DefaultAccessRoleID = "00000000-0000-0000-0000-000000000000"

// userAssignmentKind manages the users and groups assigned to the enterprise app.
//
// Observe: round 3, the assignments on the service principal (appRoleAssignedTo), when the
// document lists assignments (or the observation is complete). The users and groups are found
// by the directory kind.
// Plan: authoritative for users and groups: a user or group assigned but not listed is
// removed. Assignments to other service principals (apps allowed to call this one) are left
// alone.
// Apply: POST or DELETE on the service principal's appRoleAssignedTo (see assignedto.go).
// Batched, several $batch calls at once (Engine.Concurrency); stage 5.
type userAssignmentKind struct{}

func (userAssignmentKind) name() Kind { return KindUserAssignment }

func (userAssignmentKind) traits() traits {
	return traits{stage: 5, needs: []Kind{KindApplication, KindServicePrincipal}, bound: func(e *Engine) int { return e.concurrency() },
		operations: []rights.Operation{rights.OpAssignUsers}}
}

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

func (userAssignmentKind) directoryNames(want Desired) directoryNames {
	var n directoryNames
	if want.Assignments == nil {
		return n
	}
	for _, u := range want.Assignments.Users {
		n.users = append(n.users, u.Name)
	}
	for _, g := range want.Assignments.Groups {
		n.groups = append(n.groups, g.Name)
	}
	return n
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

func assignmentFromModel(m models.AppRoleAssignmentable) Assignment {
	return Assignment{ID: str(m.GetId()), AppRoleID: uuidStr(m.GetAppRoleId()), PrincipalID: uuidStr(m.GetPrincipalId()),
		PrincipalType: str(m.GetPrincipalType()), PrincipalDisplayName: str(m.GetPrincipalDisplayName())}
}

func (userAssignmentKind) observe(ctx context.Context, n int, r *round) {
	if n != 3 {
		return
	}
	for i, o := range r.obs {
		if o.ServicePrincipal == nil || (r.wants[i].Assignments == nil && !r.opts.Complete) {
			continue
		}
		r.graphBelow(func(ctx context.Context, res graph.BatchResponse) error {
			as, err := decodeList[models.AppRoleAssignmentCollectionResponseable](ctx, r.e, res, models.CreateAppRoleAssignmentCollectionResponseFromDiscriminatorValue, assignmentFromModel)
			if err != nil {
				return fmt.Errorf("read users and groups assigned: %w", rights.ExplainDenied(err, rights.OpReadServicePrincipals))
			}
			o.AssignedTo = as
			return nil
		})(r.e.Graph.Graph.ServicePrincipals().ByServicePrincipalId(o.ServicePrincipal.ID).AppRoleAssignedTo().ToGetRequestInformation(ctx,
			&serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetQueryParameters{Top: pageSize()}}))
	}
}

// assignee is a manifest user or group matched to its directory object.
type assignee struct {
	name DesiredName
	obj  DirectoryObject
}

// resolveAssignees matches the manifest's users and groups to directory objects. An unknown
// or ambiguous name is a diagnostic at its line; a disabled user is a warning (the assignment
// is harmless and the account may come back).
func resolveAssignees(d *docPlan) []assignee {
	want, dir := d.want, d.obs.Directory
	var out []assignee
	for _, u := range want.Assignments.Users {
		obj := dir.User(u.Name)
		if obj == nil {
			d.problem(u.Path, fmt.Errorf("no user with userPrincipalName or mail %q in the tenant%s", u.Name, dir.suggestUser(u.Name)))
			continue
		}
		if !obj.AccountEnabled {
			d.warn(Warning{Address: assignmentAddress(want, PrincipalUser, u.Name), Source: want.pos(u.Path),
				Message: fmt.Sprintf("user %s is disabled: the assignment is kept, but the user cannot sign in", u.Name)})
		}
		out = append(out, assignee{name: u, obj: *obj})
	}
	for _, g := range want.Assignments.Groups {
		found := dir.groupsNamed(g.Name)
		switch len(found) {
		case 0:
			d.problem(g.Path, fmt.Errorf("no group with display name or object id %q in the tenant%s", g.Name, dir.suggestGroup(g.Name)))
		case 1:
			out = append(out, assignee{name: g, obj: found[0]})
		default:
			ids := make([]string, len(found))
			for i, f := range found {
				ids[i] = f.ID
			}
			slices.Sort(ids)
			d.problem(g.Path, fmt.Errorf("%d groups are named %q (ids %s): write the object id of the one meant",
				len(found), g.Name, strings.Join(ids, ", ")))
		}
	}
	return out
}

// assignmentAddress is the plan address of the assignment of a user or group.
func assignmentAddress(want Desired, principalType, name string) string {
	return fmt.Sprintf("%s.assignment.%s[%q]", want.Address, strings.ToLower(principalType), name)
}

// plan diffs the users and groups assigned to the enterprise app (none when it does not exist
// yet) against the manifest.
func (userAssignmentKind) plan(d *docPlan) {
	want := d.want
	if want.Assignments == nil {
		return
	}
	var assignees []assignee
	if !d.opts.Destroy {
		assignees = resolveAssignees(d)
	}
	have := map[string]bool{}
	if d.sp != nil {
		wanted := map[string]bool{}
		for _, a := range assignees {
			wanted[strings.ToLower(a.obj.ID)] = true
		}
		for _, a := range d.obs.AssignedTo {
			if a.PrincipalType != PrincipalUser && a.PrincipalType != PrincipalGroup {
				continue
			}
			id := strings.ToLower(a.PrincipalID)
			if wanted[id] {
				have[id] = true
				continue
			}
			d.change(Change{
				Address: assignmentAddress(want, a.PrincipalType, a.PrincipalDisplayName),
				Kind:    KindUserAssignment, Action: Delete, Reason: removalReason(d, "not in the manifest"),
				Attrs:  []AttrChange{{Name: "principalId", Before: a.PrincipalID}, {Name: "appRoleId", Before: a.AppRoleID}},
				Target: Target{ID: a.ID, Spec: &appRoleSpec{PrincipalID: a.PrincipalID, AppRoleID: a.AppRoleID}},
			})
		}
	}
	for _, a := range assignees {
		id := strings.ToLower(a.obj.ID)
		if have[id] {
			continue
		}
		have[id] = true // a user listed twice (by UPN and by mail) is assigned once
		d.change(Change{
			Address: assignmentAddress(want, a.obj.Type, a.name.Name),
			Kind:    KindUserAssignment, Action: Create,
			Attrs: []AttrChange{
				{Name: "principalId", After: a.obj.ID},
				{Name: "principalType", After: a.obj.Type},
				{Name: "appRoleId", After: DefaultAccessRoleID},
			},
			Source: want.pos(a.name.Path),
			Target: Target{Spec: &appRoleSpec{PrincipalID: a.obj.ID, AppRoleID: DefaultAccessRoleID}},
		})
	}
}

// apply assigns a user or group to the enterprise app, or removes it.
func (userAssignmentKind) apply(ctx context.Context, e *Engine, c *Change, st *appState) (string, error) {
	spec, ok := c.Target.Spec.(*appRoleSpec)
	if !ok {
		return "", errors.New("apply assignment: the change carries no principal")
	}
	if st.spID == "" {
		return "", errors.New("assign: the service principal's id is unknown")
	}
	return writeAppRoleAssignment(ctx, e, c, st, appRoleWrite{resourceID: st.spID, principalID: spec.PrincipalID, roleID: spec.AppRoleID,
		op: rights.OpAssignUsers, create: "assign", remove: "remove assignment"})
}

func (userAssignmentKind) batchRequest(ctx context.Context, e *Engine, c *Change, st *appState) (*abstractions.RequestInformation, error) {
	spec, ok := c.Target.Spec.(*appRoleSpec)
	if !ok || st.spID == "" {
		return nil, nil
	}
	return appRoleAssignmentRequest(ctx, e, c, st.spID, spec.PrincipalID, spec.AppRoleID)
}

// settled: a success, the removal of one gone already, or the creation of one that exists.
func (userAssignmentKind) settled(c *Change, r graph.BatchResponse) (string, bool) {
	return settledWrite(c, r, true)
}
