package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"

	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/internal/sets"
	"github.com/provisionhq/provision/provision/rights"
)

// KindDelegatedGrant is a tenant-wide delegated permission grant (an oauth2PermissionGrant of
// consentType AllPrincipals): admin consent to one API's delegated permissions.
const KindDelegatedGrant Kind = "delegated_grant"

// delegatedGrantKind manages the admin consent to delegated permissions; see consent.go.
//
// Observe: round 3, the grants whose client is the service principal.
// Plan: with adminConsent, one AllPrincipals grant per API carrying exactly the listed scopes
// (created, its scope updated in place, duplicates and grants for unlisted APIs removed);
// the consent warnings.
// Apply: POST, PATCH of the scope, DELETE. A create that meets a grant already there (an
// earlier run's create whose answer was lost, or observe's read on a replica that had not
// seen it) finds it and sets its scope. Batched; stage 3, with the application permissions.
type delegatedGrantKind struct{}

func (delegatedGrantKind) name() Kind { return KindDelegatedGrant }

func (delegatedGrantKind) traits() traits {
	return traits{stage: 3, needs: []Kind{KindApplication, KindServicePrincipal}, operations: []rights.Operation{rights.OpReadGrants, rights.OpGrantDelegated}}
}

// Grant is an oauth2PermissionGrant: delegated permissions consented for a client.
type Grant struct {
	ID          string
	ClientID    string
	ResourceID  string
	ConsentType string // AllPrincipals or Principal
	PrincipalID string
	Scope       string // space-separated scope values
}

// grantSpec is what a grant change writes.
type grantSpec struct {
	ResourceID string // the resource service principal
	Scope      string // the full space-separated scope list
}

func grantFromModel(m models.OAuth2PermissionGrantable) Grant {
	return Grant{ID: str(m.GetId()), ClientID: str(m.GetClientId()), ResourceID: str(m.GetResourceId()),
		ConsentType: str(m.GetConsentType()), PrincipalID: str(m.GetPrincipalId()), Scope: str(m.GetScope())}
}

func (delegatedGrantKind) observe(ctx context.Context, n int, r *round) {
	if n != 3 {
		return
	}
	for _, o := range r.obs {
		if o.ServicePrincipal == nil {
			continue
		}
		f := eqFilter("clientId", o.ServicePrincipal.ID)
		r.graph(func(ctx context.Context, res graph.BatchResponse) error {
			gs, err := decodeList[models.OAuth2PermissionGrantCollectionResponseable](ctx, r.e, res, models.CreateOAuth2PermissionGrantCollectionResponseFromDiscriminatorValue, grantFromModel)
			if err != nil {
				return fmt.Errorf("read permission grants: %w", rights.ExplainDenied(err, rights.OpReadGrants))
			}
			o.Grants = gs
			return nil
		})(r.e.Graph.Graph.Oauth2PermissionGrants().ToGetRequestInformation(ctx,
			&oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration{
				QueryParameters: &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetQueryParameters{Filter: &f, Top: pageSize()}}))
	}
}

func (delegatedGrantKind) plan(d *docPlan) {
	if !d.want.PermissionsManaged {
		return
	}
	c := consentOf(d)
	if d.opts.Destroy {
		if d.want.AdminConsent {
			for _, gs := range c.grants {
				name := resourceLabel(d.obs.Resources, gs[0].ResourceID, "")
				for _, g := range gs {
					d.change(deleteGrant(grantAddress(d.want, name), g, "destroy"))
				}
			}
		}
		return
	}
	d.warn(consentWarnings(d, c)...)
	if !d.want.AdminConsent {
		return
	}
	want := d.want
	handled := map[string]bool{}
	for _, api := range d.apis {
		res := strings.ToLower(api.Resource.ID)
		handled[res] = true
		addr := grantAddress(want, api.Name)
		scopes := make([]string, len(api.Delegated))
		for i, p := range api.Delegated {
			scopes[i] = p.Value
		}
		scopes = sets.Sorted(scopes)
		have := c.grants[res]
		switch {
		case len(scopes) == 0:
			for _, g := range have {
				d.change(deleteGrant(addr, g, "no delegated permissions listed for this api"))
			}
		case len(have) == 0:
			d.change(Change{
				Address: addr, Kind: KindDelegatedGrant, Action: Create,
				Attrs: []AttrChange{
					{Name: "consentType", After: allPrincipals},
					{Name: "scope", After: scopes},
				},
				Source: api.Source,
				Target: Target{Spec: &grantSpec{ResourceID: api.Resource.ID, Scope: strings.Join(scopes, " ")}},
			})
		default:
			if current := strings.Fields(have[0].Scope); !sets.Same(current, scopes) {
				d.change(Change{
					Address: addr, Kind: KindDelegatedGrant, Action: Update,
					Attrs:  []AttrChange{{Name: "scope", Before: sets.Sorted(current), After: scopes}},
					Source: api.Source,
					Target: Target{ID: have[0].ID, Spec: &grantSpec{ResourceID: api.Resource.ID, Scope: strings.Join(scopes, " ")}},
				})
			}
			for _, g := range have[1:] {
				d.change(deleteGrant(addr, g, "duplicate tenant-wide grant for the same api"))
			}
		}
	}
	for res, gs := range c.grants {
		if handled[res] {
			continue
		}
		name := resourceLabel(d.obs.Resources, gs[0].ResourceID, "")
		for _, g := range gs {
			d.change(deleteGrant(grantAddress(want, name), g, "api not in the manifest"))
		}
	}
}

// grantAddress is the plan address of the delegated consent to one API.
func grantAddress(want Desired, api string) string {
	return fmt.Sprintf("%s.consent[%q].delegated", want.Address, api)
}

// deleteGrant is the removal of a tenant-wide grant.
func deleteGrant(addr string, g Grant, reason string) Change {
	return Change{
		Address: addr, Kind: KindDelegatedGrant, Action: Delete, Reason: reason,
		Attrs:  []AttrChange{{Name: "scope", Before: sets.Sorted(strings.Fields(g.Scope))}},
		Target: Target{ID: g.ID, Spec: &grantSpec{ResourceID: g.ResourceID}},
	}
}

// grantBody is the request body of a tenant-wide (AllPrincipals) delegated grant to the
// service principal clientID of scope on resourceID.
func grantBody(clientID, resourceID, scope string) models.OAuth2PermissionGrantable {
	body := models.NewOAuth2PermissionGrant()
	consent := allPrincipals
	body.SetClientId(&clientID)
	body.SetConsentType(&consent)
	body.SetResourceId(&resourceID)
	body.SetScope(&scope)
	return body
}

// grantScopeBody is the request body that sets a grant's scope.
func grantScopeBody(scope string) models.OAuth2PermissionGrantable {
	body := models.NewOAuth2PermissionGrant()
	body.SetScope(&scope)
	return body
}

// apply creates, updates (in place, the scope string) or deletes a tenant-wide delegated
// permission grant.
func (delegatedGrantKind) apply(ctx context.Context, e *Engine, c *Change, st *appState) (string, error) {
	client := e.Graph.Graph
	spec, ok := c.Target.Spec.(*grantSpec)
	if !ok {
		return "", errors.New("apply permission grant: the change carries no grant")
	}
	switch c.Action {
	case Delete:
		id := c.Target.ID
		err := e.retry(ctx, false, func(ctx context.Context) error {
			return client.Oauth2PermissionGrants().ByOAuth2PermissionGrantId(id).Delete(ctx, nil)
		})
		if err != nil && !graph.IsNotFound(err) {
			return "", fmt.Errorf("delete permission grant: %w", rights.ExplainDenied(err, rights.OpGrantDelegated))
		}
		return id, nil
	case Update:
		return c.Target.ID, patchGrantScope(ctx, e, c.Target.ID, spec.Scope, false)
	}
	if st.spID == "" {
		return "", errors.New("create permission grant: the service principal's id is unknown")
	}
	clientID, resourceID, scope := st.spID, spec.ResourceID, spec.Scope
	body := grantBody(clientID, resourceID, scope)
	var g models.OAuth2PermissionGrantable
	err := e.create(ctx, st.freshSP, func(ctx context.Context) error {
		var err error
		if g, err = client.Oauth2PermissionGrants().Post(ctx, body, nil); err == nil && (g == nil || str(g.GetId()) == "") {
			return errAnswerLost
		}
		return err
	})
	if graph.IsAlreadyExists(err) {
		// A grant for this client and resource exists (a create whose answer was lost, or a
		// plan made on a replica that had not seen it): find it and set its scope, rather
		// than failing or duplicating.
		id, ferr := findGrant(ctx, e, clientID, resourceID)
		if ferr != nil {
			return "", fmt.Errorf("create permission grant: %w", ferr)
		}
		return id, patchGrantScope(ctx, e, id, scope, true)
	}
	if err != nil {
		return "", fmt.Errorf("create permission grant: %w", rights.ExplainDenied(err, rights.OpGrantDelegated))
	}
	return str(g.GetId()), nil
}

// patchGrantScope sets the scope of grant id; fresh says the grant was only just made or
// found, so a 404 is replication lag for the whole budget (see Engine.lagging).
func patchGrantScope(ctx context.Context, e *Engine, id, scope string, fresh bool) error {
	body := grantScopeBody(scope)
	err := e.write(ctx, fresh, func(ctx context.Context) error {
		_, err := e.Graph.Graph.Oauth2PermissionGrants().ByOAuth2PermissionGrantId(id).Patch(ctx, body, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("update permission grant: %w", rights.ExplainDenied(err, rights.OpGrantDelegated))
	}
	return nil
}

// findGrant returns the id of the AllPrincipals grant of clientID on resourceID, which Graph
// said exists: a list that does not show it yet is replication lag, ridden out.
func findGrant(ctx context.Context, e *Engine, clientID, resourceID string) (string, error) {
	f := eqFilter("clientId", clientID)
	var found string
	err := e.retry(ctx, true, func(ctx context.Context) error {
		page, err := e.Graph.Graph.Oauth2PermissionGrants().Get(ctx, &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration{
			QueryParameters: &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetQueryParameters{Filter: &f, Top: pageSize()}})
		if err != nil {
			return err
		}
		if page != nil {
			for _, g := range page.GetValue() {
				if str(g.GetConsentType()) == allPrincipals && strings.EqualFold(str(g.GetResourceId()), resourceID) {
					found = str(g.GetId())
				}
			}
		}
		if found == "" {
			return errNotVisible
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("find permission grant of client %s on %s, which Graph says exists: %w", clientID, resourceID, err)
	}
	return found, nil
}

// batchRequest builds the request of a grant change for a $batch.
func (delegatedGrantKind) batchRequest(ctx context.Context, e *Engine, c *Change, st *appState) (*abstractions.RequestInformation, error) {
	spec, ok := c.Target.Spec.(*grantSpec)
	if !ok {
		return nil, nil
	}
	grants := e.Graph.Graph.Oauth2PermissionGrants()
	switch c.Action {
	case Delete:
		return grants.ByOAuth2PermissionGrantId(c.Target.ID).ToDeleteRequestInformation(ctx, nil)
	case Update:
		return grants.ByOAuth2PermissionGrantId(c.Target.ID).ToPatchRequestInformation(ctx, grantScopeBody(spec.Scope), nil)
	}
	if st.spID == "" {
		return nil, nil
	}
	return grants.ToPostRequestInformation(ctx, grantBody(st.spID, spec.ResourceID, spec.Scope), nil)
}

// settled: a success, or the removal of a grant gone already. A grant that exists already is
// not settled here: apply finds it and sets its scope.
func (delegatedGrantKind) settled(c *Change, r graph.BatchResponse) (string, bool) {
	return settledWrite(c, r, false)
}
