package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/rights"
)

// An app role assignment is one Graph write behind two kinds: a consented application
// permission (the application's service principal holds a role of an API's) and a user or
// group assigned to the enterprise app (the principal holds a role of the application's).
// Both are written on the resource's appRoleAssignedTo; this file holds that write.

// appRoleSpec names the app role assignment a change writes.
type appRoleSpec struct {
	ResourceID  string // the service principal whose role is assigned ("" : the application's own)
	PrincipalID string // who receives it ("" : the application's service principal)
	AppRoleID   string
}

// appRoleWrite says which app role assignment a change writes, and how its errors read.
type appRoleWrite struct {
	resourceID  string // the service principal whose app role is assigned
	principalID string // who receives it
	roleID      string
	op          rights.Operation
	create      string // the verbs of the errors
	remove      string
}

// writeAppRoleAssignment creates or deletes the app role assignment c targets. Both are
// idempotent: an assignment that exists already, or is gone already, is success, and a
// create whose answer was lost is sent again (the directory refuses a duplicate).
func writeAppRoleAssignment(ctx context.Context, e *Engine, c *Change, st *appState, w appRoleWrite) (string, error) {
	assignedTo := e.Graph.Graph.ServicePrincipals().ByServicePrincipalId(w.resourceID).AppRoleAssignedTo()
	if c.Action == Delete {
		err := e.retry(ctx, false, func(ctx context.Context) error {
			return assignedTo.ByAppRoleAssignmentId(c.Target.ID).Delete(ctx, nil)
		})
		if err != nil && !graph.IsNotFound(err) {
			return "", fmt.Errorf("%s: %w", w.remove, rights.ExplainDenied(err, w.op))
		}
		return c.Target.ID, nil
	}
	body, err := assignmentBody(w.principalID, w.resourceID, w.roleID)
	if err != nil {
		return "", fmt.Errorf("%s: %w", w.create, err)
	}
	var a models.AppRoleAssignmentable
	err = e.create(ctx, st.freshSP, func(ctx context.Context) error {
		var err error
		if a, err = assignedTo.Post(ctx, body, nil); err == nil && (a == nil || str(a.GetId()) == "") {
			return errAnswerLost
		}
		return err
	})
	if graph.IsAlreadyExists(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", w.create, rights.ExplainDenied(err, w.op))
	}
	return str(a.GetId()), nil
}

// appRoleAssignmentRequest builds the request of c as writeAppRoleAssignment sends it, for a
// $batch.
func appRoleAssignmentRequest(ctx context.Context, e *Engine, c *Change, resourceID, principalID, roleID string) (*abstractions.RequestInformation, error) {
	assignedTo := e.Graph.Graph.ServicePrincipals().ByServicePrincipalId(resourceID).AppRoleAssignedTo()
	if c.Action == Delete {
		return assignedTo.ByAppRoleAssignmentId(c.Target.ID).ToDeleteRequestInformation(ctx, nil)
	}
	body, err := assignmentBody(principalID, resourceID, roleID)
	if err != nil {
		return nil, err
	}
	return assignedTo.ToPostRequestInformation(ctx, body, nil)
}

// assignmentBody is the request body that assigns principalID the app role roleID of the
// service principal resourceID.
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
