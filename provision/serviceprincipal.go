package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/rights"
)

// KindServicePrincipal is the application's service principal (the enterprise app): what
// consent is granted to and users are assigned to.
const KindServicePrincipal Kind = "service_principal"

// servicePrincipalKind manages the enterprise app of the registration.
//
// Observe: round 2, the matched registration's service principal, by appId.
// Plan: create it when missing; set appRoleAssignmentRequired when the manifest says.
// Apply: POST, or PATCH; a create that meets one already there (made by an earlier run whose
// answer was lost, or in the portal) takes it and sets what the manifest says. Produces
// st.spID and st.freshSP. Stage 2, one at a time.
type servicePrincipalKind struct{}

func (servicePrincipalKind) name() Kind { return KindServicePrincipal }

func (servicePrincipalKind) traits() traits {
	return traits{stage: 2, needs: []Kind{KindApplication}, operations: []rights.Operation{rights.OpReadServicePrincipals,
		rights.OpCreateServicePrincipal, rights.OpUpdateServicePrincipal}}
}

// ObservedServicePrincipal is the enterprise app of a registration.
type ObservedServicePrincipal struct {
	ID                        string
	AppID                     string
	AppRoleAssignmentRequired bool
	Tags                      []string
}

// servicePrincipalSpec is what a service principal change writes.
type servicePrincipalSpec struct {
	// AssignmentRequired is appRoleAssignmentRequired to write; nil leaves it.
	AssignmentRequired *bool
}

func servicePrincipalFields() []string {
	return []string{"id", "appId", "appRoleAssignmentRequired", "tags"}
}

func servicePrincipalFromModel(m models.ServicePrincipalable) ObservedServicePrincipal {
	return ObservedServicePrincipal{ID: str(m.GetId()), AppID: str(m.GetAppId()),
		AppRoleAssignmentRequired: flag(m.GetAppRoleAssignmentRequired()), Tags: m.GetTags()}
}

func (servicePrincipalKind) observe(ctx context.Context, n int, r *round) {
	if n != 2 {
		return
	}
	for i, w := range r.wants {
		app := matchedApp(w, r.obs[i])
		if app == nil {
			continue
		}
		o, appID := r.obs[i], app.AppID
		r.graph(func(_ context.Context, res graph.BatchResponse) error {
			sp, err := decodeOne(r.e, res, models.CreateServicePrincipalFromDiscriminatorValue, servicePrincipalFromModel)
			if err != nil {
				return fmt.Errorf("read service principal of %s: %w", appID, rights.ExplainDenied(err, rights.OpReadServicePrincipals))
			}
			o.ServicePrincipal = sp
			return nil
		})(r.e.Graph.Graph.ServicePrincipalsWithAppId(&appID).ToGetRequestInformation(ctx,
			&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
				QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: servicePrincipalFields()}}))
	}
}

// plan makes sure the registration has its enterprise app, with appRoleAssignmentRequired as
// the manifest says when it says; it also tells later kinds which service principal the
// document's consent and assignments are about.
func (servicePrincipalKind) plan(d *docPlan) {
	if d.app != nil {
		d.sp = d.obs.ServicePrincipal
	}
	want, app, sp := d.want, d.app, d.sp
	address := want.Address + ".service_principal"
	if d.opts.Destroy {
		if sp != nil && d.removesApplication() {
			d.change(Change{Address: address, Kind: KindServicePrincipal, Action: Delete,
				Reason: "its application is deleted", Attrs: []AttrChange{{Name: "id", Before: sp.ID}},
				Target: Target{ID: sp.ID, AppID: sp.AppID}})
		}
		return
	}
	spec := &servicePrincipalSpec{AssignmentRequired: want.AssignmentRequired}
	if sp == nil {
		appID := AttrChange{Name: "appId", KnownAfterApply: true}
		t := Target{Spec: spec}
		if app != nil {
			appID = AttrChange{Name: "appId", After: app.AppID}
			t.AppID = app.AppID
		}
		attrs := []AttrChange{appID}
		if want.AssignmentRequired != nil {
			attrs = append(attrs, AttrChange{Name: "appRoleAssignmentRequired", After: *want.AssignmentRequired})
		}
		attrs = append(attrs, AttrChange{Name: "id", KnownAfterApply: true})
		d.change(Change{Address: address, Kind: KindServicePrincipal, Action: Create, Attrs: attrs,
			Source: want.pos("application"), Target: t})
		return
	}
	if want.AssignmentRequired == nil || *want.AssignmentRequired == sp.AppRoleAssignmentRequired {
		return
	}
	d.change(Change{
		Address: address, Kind: KindServicePrincipal, Action: Update,
		Attrs:  []AttrChange{{Name: "appRoleAssignmentRequired", Before: sp.AppRoleAssignmentRequired, After: *want.AssignmentRequired}},
		Source: want.pos("application.assignments.required"),
		Target: Target{ID: sp.ID, AppID: sp.AppID, Spec: spec},
	})
}

// apply creates or updates the enterprise app.
func (servicePrincipalKind) apply(ctx context.Context, e *Engine, c *Change, st *appState) (string, error) {
	client := e.Graph.Graph
	spec, _ := c.Target.Spec.(*servicePrincipalSpec)
	if spec == nil {
		spec = &servicePrincipalSpec{}
	}
	body := models.NewServicePrincipal()
	if r := spec.AssignmentRequired; r != nil {
		body.SetAppRoleAssignmentRequired(r)
	}
	if c.Action == Delete {
		id := c.Target.ID
		err := e.retry(ctx, false, func(ctx context.Context) error {
			return client.ServicePrincipals().ByServicePrincipalId(id).Delete(ctx, nil)
		})
		if err != nil && !graph.IsNotFound(err) {
			return "", fmt.Errorf("delete service principal: %w", rights.ExplainDenied(err, rights.OpUpdateServicePrincipal))
		}
		return id, nil
	}
	if c.Action == Update {
		id := c.Target.ID
		if err := e.write(ctx, false, func(ctx context.Context) error {
			_, err := client.ServicePrincipals().ByServicePrincipalId(id).Patch(ctx, body, nil)
			return err
		}); err != nil {
			return "", fmt.Errorf("update service principal: %w", rights.ExplainDenied(err, rights.OpUpdateServicePrincipal))
		}
		return id, nil
	}
	if st.appID == "" {
		return "", errors.New("create service principal: the application's appId is unknown")
	}
	appID := st.appID
	body.SetAppId(&appID)
	var sp models.ServicePrincipalable
	post := func(ctx context.Context) error {
		var err error
		if sp, err = client.ServicePrincipals().Post(ctx, body, nil); err == nil && (sp == nil || str(sp.GetId()) == "") {
			return errAnswerLost
		}
		return err
	}
	probe := st.freshApp && st.objectID != ""
	err := e.create(ctx, st.freshApp, func(ctx context.Context) error {
		err := post(ctx)
		if probe && graph.IsReplicationLag(graph.Wrap(err)) {
			// The application made moments ago is unknown where the create landed: read it
			// until it shows rather than sending more creates into its replication (each one
			// a write against the tenant's budget), then create.
			probe = false
			id := st.objectID
			_ = e.probe(ctx, func(ctx context.Context) error { // if it never shows, the create below meets the lag
				_, err := client.Applications().ByApplicationId(id).Get(ctx, &applications.ApplicationItemRequestBuilderGetRequestConfiguration{
					QueryParameters: &applications.ApplicationItemRequestBuilderGetQueryParameters{Select: []string{"id"}}})
				return err
			})
			err = post(ctx)
		}
		return err
	})
	if graph.IsAlreadyExists(err) {
		// Made by a previous run, by this one (an answer lost), or in the portal meanwhile:
		// take it and set what the manifest says on it.
		if sp, err = findServicePrincipal(ctx, e, appID); err == nil && spec.AssignmentRequired != nil {
			id := str(sp.GetId())
			patch := models.NewServicePrincipal()
			patch.SetAppRoleAssignmentRequired(spec.AssignmentRequired)
			err = e.retry(ctx, true, func(ctx context.Context) error {
				_, err := client.ServicePrincipals().ByServicePrincipalId(id).Patch(ctx, patch, nil)
				return err
			})
		}
	}
	if err != nil {
		return "", fmt.Errorf("create service principal: %w", rights.ExplainDenied(err, rights.OpCreateServicePrincipal))
	}
	st.spID, st.freshSP = str(sp.GetId()), true
	return st.spID, nil
}

// findServicePrincipal reads the service principal of appID, which Graph said exists: a 404
// is replication lag, ridden out.
func findServicePrincipal(ctx context.Context, e *Engine, appID string) (models.ServicePrincipalable, error) {
	var sp models.ServicePrincipalable
	err := e.retry(ctx, true, func(ctx context.Context) error {
		var err error
		sp, err = e.Graph.Graph.ServicePrincipalsWithAppId(&appID).Get(ctx, &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: servicePrincipalFields()}})
		if err == nil && (sp == nil || str(sp.GetId()) == "") {
			return errNotVisible
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read service principal of %s: %w", appID, err)
	}
	return sp, nil
}
