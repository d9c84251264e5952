package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"

	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/rights"
)

// KindAppRoleGrant is admin consent to one application permission: an app role assignment
// of the application's service principal on the API's service principal.
const KindAppRoleGrant Kind = "app_role_assignment"

// appRoleGrantKind manages the admin consent to application permissions; see consent.go.
//
// Observe: round 3, the app role assignments the service principal holds.
// Plan: with adminConsent, one assignment per listed application permission; the others
// removed.
// Apply: POST or DELETE on the API's appRoleAssignedTo (see assignedto.go). Batched; stage 3,
// with the delegated grants.
type appRoleGrantKind struct{}

func (appRoleGrantKind) name() Kind { return KindAppRoleGrant }

func (appRoleGrantKind) traits() traits {
	return traits{stage: 3, needs: []Kind{KindApplication, KindServicePrincipal}, operations: []rights.Operation{rights.OpGrantApplicationRoles}}
}

// AppRoleAssignment is an app role held by a principal on a resource.
type AppRoleAssignment struct {
	ID                  string
	AppRoleID           string
	ResourceID          string
	ResourceDisplayName string
	PrincipalID         string
}

func appRoleAssignmentFromModel(m models.AppRoleAssignmentable) AppRoleAssignment {
	return AppRoleAssignment{ID: str(m.GetId()), AppRoleID: uuidStr(m.GetAppRoleId()), ResourceID: uuidStr(m.GetResourceId()),
		ResourceDisplayName: str(m.GetResourceDisplayName()), PrincipalID: uuidStr(m.GetPrincipalId())}
}

func (appRoleGrantKind) observe(ctx context.Context, n int, r *round) {
	if n != 3 {
		return
	}
	for _, o := range r.obs {
		if o.ServicePrincipal == nil {
			continue
		}
		r.graphBelow(func(ctx context.Context, res graph.BatchResponse) error {
			as, err := decodeList[models.AppRoleAssignmentCollectionResponseable](ctx, r.e, res, models.CreateAppRoleAssignmentCollectionResponseFromDiscriminatorValue, appRoleAssignmentFromModel)
			if err != nil {
				return fmt.Errorf("read app role assignments: %w", rights.ExplainDenied(err, rights.OpReadServicePrincipals))
			}
			o.AppRoleAssignments = as
			return nil
		})(r.e.Graph.Graph.ServicePrincipals().ByServicePrincipalId(o.ServicePrincipal.ID).AppRoleAssignments().ToGetRequestInformation(ctx,
			&serviceprincipals.ItemAppRoleAssignmentsRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipals.ItemAppRoleAssignmentsRequestBuilderGetQueryParameters{Top: pageSize()}}))
	}
}

func (appRoleGrantKind) plan(d *docPlan) {
	if !d.want.PermissionsManaged || !d.want.AdminConsent {
		return
	}
	want, c := d.want, consentOf(d)
	wanted := map[string]bool{} // resourceID/appRoleID
	for _, api := range d.apis {
		if d.opts.Destroy {
			break // every role the service principal holds goes
		}
		for _, p := range api.Application {
			wanted[strings.ToLower(api.Resource.ID+"/"+p.ID)] = true
			if c.holds(api.Resource.ID, p.ID) {
				continue
			}
			d.change(Change{
				Address: roleAddress(want, api.Name, p.Value),
				Kind:    KindAppRoleGrant, Action: Create,
				Attrs:  []AttrChange{{Name: "appRoleId", After: p.ID}, {Name: "id", KnownAfterApply: true}},
				Source: p.Source,
				Target: Target{Spec: &appRoleSpec{ResourceID: api.Resource.ID, AppRoleID: p.ID}},
			})
		}
	}
	seen := map[string]bool{}
	for _, a := range c.assignments {
		key := strings.ToLower(a.ResourceID + "/" + a.AppRoleID)
		if wanted[key] || seen[key] {
			// A second assignment of the same role cannot exist in Graph; skipping keeps
			// addresses unique even if a fake returns one.
			continue
		}
		seen[key] = true
		res := ResourceByID(d.obs.Resources, a.ResourceID)
		name := resourceLabel(d.obs.Resources, a.ResourceID, a.ResourceDisplayName)
		d.change(Change{
			Address: roleAddress(want, name, res.PermissionName(a.AppRoleID, AccessRole)),
			Kind:    KindAppRoleGrant, Action: Delete, Reason: removalReason(d, "not in the manifest"),
			Attrs:  []AttrChange{{Name: "appRoleId", Before: a.AppRoleID}},
			Target: Target{ID: a.ID, Spec: &appRoleSpec{ResourceID: a.ResourceID, AppRoleID: a.AppRoleID}},
		})
	}
}

// roleAddress is the plan address of the consent to one application permission.
func roleAddress(want Desired, api, role string) string {
	return fmt.Sprintf("%s.consent[%q].role[%q]", want.Address, api, role)
}

// apply consents (or revokes) one application permission of the service principal.
func (appRoleGrantKind) apply(ctx context.Context, e *Engine, c *Change, st *appState) (string, error) {
	spec, ok := c.Target.Spec.(*appRoleSpec)
	if !ok {
		return "", errors.New("apply app role assignment: the change carries no role")
	}
	if c.Action != Delete && st.spID == "" {
		return "", errors.New("create app role assignment: the service principal's id is unknown")
	}
	return writeAppRoleAssignment(ctx, e, c, st, appRoleWrite{resourceID: spec.ResourceID, principalID: st.spID, roleID: spec.AppRoleID,
		op: rights.OpGrantApplicationRoles, create: "create app role assignment", remove: "delete app role assignment"})
}

func (appRoleGrantKind) batchRequest(ctx context.Context, e *Engine, c *Change, st *appState) (*abstractions.RequestInformation, error) {
	spec, ok := c.Target.Spec.(*appRoleSpec)
	if !ok || (c.Action != Delete && st.spID == "") {
		return nil, nil
	}
	return appRoleAssignmentRequest(ctx, e, c, spec.ResourceID, st.spID, spec.AppRoleID)
}

// settled: a success, the removal of one gone already, or the creation of one that exists.
func (appRoleGrantKind) settled(c *Change, r graph.BatchResponse) (string, bool) {
	return settledWrite(c, r, true)
}
