package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/applicationswithuniquename"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"

	"github.com/provisionhq/provision/provision/graph"
)

// ChangeResult is the outcome of one change of a plan.
type ChangeResult struct {
	Address string
	Kind    Kind
	Action  Action
	// ID is the object's id after the change (a created object's new id), when it has one.
	ID string
	// Err is why the change failed; nil on success. Skipped changes carry ErrSkipped.
	Err error
}

// ErrSkipped marks a change not attempted because an earlier change of the same
// application failed or the run was cancelled; the next apply picks it up.
var ErrSkipped = errors.New("skipped")

// ApplyResult is what an apply did, change by change, in plan order.
type ApplyResult struct {
	Results []ChangeResult
}

// Counts returns how many changes were applied, failed and skipped.
func (r *ApplyResult) Counts() (applied, failed, skipped int) {
	for _, c := range r.Results {
		switch {
		case c.Err == nil:
			applied++
		case errors.Is(c.Err, ErrSkipped):
			skipped++
		default:
			failed++
		}
	}
	return applied, failed, skipped
}

// appState is what apply knows of one application as its changes run: ids from the plan,
// completed by the ids creates return. fresh marks objects created in this run, whose
// dependants must ride out replication lag.
type appState struct {
	objectID, appID, spID string
	freshApp, freshSP     bool
	failed                bool
}

// Apply carries out p's changes in order: application, service principal, then grants and
// app role assignments. Ids a create produces flow to the changes after it. Every change is
// idempotent (creating what exists reconciles it, deleting what is gone succeeds), so a failed
// or interrupted apply is finished by planning and applying again. When an application's
// change fails, its later changes are skipped; other applications go on. Cancelling ctx
// lets the change in flight finish, then skips the rest. progress, if not nil, is called
// after each change.
func (e *Engine) Apply(ctx context.Context, p *Plan, progress func(ChangeResult)) (*ApplyResult, error) {
	states := map[string]*appState{}
	result := &ApplyResult{}
	for i := 0; i < len(p.Changes); i++ {
		if n := consentRun(p.Changes[i:]); n > 1 {
			// Admin consent changes go together in one $batch round trip.
			result.Results = append(result.Results, e.applyConsentBatch(ctx, p.Changes[i:i+n], states, progress)...)
			i += n - 1
			continue
		}
		if n := e.parallelRun(p.Changes[i:]); n > 1 {
			// Independent changes of one kind (assignments, Send-As) run several at once.
			result.Results = append(result.Results, e.applyParallel(ctx, p.Changes[i:i+n], states, progress)...)
			i += n - 1
			continue
		}
		c := &p.Changes[i]
		st := stateOf(states, c.Target)
		r := ChangeResult{Address: c.Address, Kind: c.Kind, Action: c.Action}
		switch {
		case ctx.Err() != nil, st.failed:
			// The run's error says why (the failure, or the cancellation).
			r.Err = ErrSkipped
		default:
			// The change in flight finishes even if ctx is cancelled meanwhile: stopping
			// between a create and recording its id would leave work for no one.
			r.ID, r.Err = e.applyChange(context.WithoutCancel(ctx), c, st)
			if r.Err != nil {
				st.failed = true
				r.Err = fmt.Errorf("%s: %w", c.Address, r.Err)
			}
		}
		result.Results = append(result.Results, r)
		if progress != nil {
			progress(r)
		}
	}
	applied, failed, skipped := result.Counts()
	if failed > 0 || skipped > 0 {
		var errs []error
		for _, r := range result.Results {
			if r.Err != nil && !errors.Is(r.Err, ErrSkipped) {
				errs = append(errs, r.Err)
			}
		}
		if len(errs) == 0 {
			errs = append(errs, context.Cause(ctx))
		}
		return result, fmt.Errorf("apply: %d applied, %d failed, %d skipped; run apply again to finish: %w",
			applied, failed, skipped, errors.Join(errs...))
	}
	return result, nil
}

// learn records the ids a change's target knows, without overwriting ids created in this run.
func (st *appState) learn(t Target) {
	if st.appID == "" {
		st.appID = t.AppID
	}
	if st.spID == "" {
		st.spID = t.ServicePrincipalID
	}
}

// applyChange runs one change and returns the affected object's id.
func (e *Engine) applyChange(ctx context.Context, c *Change, st *appState) (string, error) {
	switch c.Kind {
	case KindApplication:
		return e.applyApplication(ctx, c, st)
	case KindServicePrincipal:
		return e.applyServicePrincipal(ctx, c, st)
	case KindDelegatedGrant:
		return e.applyGrant(ctx, c, st)
	case KindAppRoleGrant:
		return e.applyAppRoleGrant(ctx, c, st)
	case KindSecret:
		return e.applySecret(ctx, c, st)
	case KindUserAssignment:
		return e.applyUserAssignment(ctx, c, st)
	case KindSendAs:
		return e.applySendAs(ctx, c)
	}
	return "", fmt.Errorf("apply %s: kind %s is not supported by this version", c.Action, c.Kind)
}

// retry runs op, retrying replication-lag answers when fresh says an object it references
// was created moments ago. Other errors come back at once, readable.
func (e *Engine) retry(ctx context.Context, fresh bool, op func(context.Context) error) error {
	err := e.Graph.Retry(ctx, op, func(err error) bool { return fresh && graph.IsReplicationLag(err) })
	return graph.Wrap(err)
}

// applicationBody builds the request body of an application create or update.
func applicationBody(s *ApplicationSpec) (models.Applicationable, error) {
	body := models.NewApplication()
	if s.DisplayName != "" {
		body.SetDisplayName(&s.DisplayName)
	}
	if s.SignInAudience != "" {
		body.SetSignInAudience(&s.SignInAudience)
	}
	if s.Web != nil {
		w := models.NewWebApplication()
		w.SetRedirectUris(*s.Web)
		body.SetWeb(w)
	}
	if s.SPA != nil {
		w := models.NewSpaApplication()
		w.SetRedirectUris(*s.SPA)
		body.SetSpa(w)
	}
	if s.PublicClient != nil {
		w := models.NewPublicClientApplication()
		w.SetRedirectUris(*s.PublicClient)
		body.SetPublicClient(w)
	}
	if s.RequiredResourceAccess != nil {
		rras := []models.RequiredResourceAccessable{}
		for _, r := range *s.RequiredResourceAccess {
			rra := models.NewRequiredResourceAccess()
			rra.SetResourceAppId(&r.ResourceAppID)
			accesses := []models.ResourceAccessable{}
			for _, a := range r.ResourceAccess {
				id, err := uuid.Parse(a.ID)
				if err != nil {
					return nil, fmt.Errorf("permission id %q: %w", a.ID, err)
				}
				ra := models.NewResourceAccess()
				ra.SetId(&id)
				ra.SetTypeEscaped(&a.Type)
				accesses = append(accesses, ra)
			}
			rra.SetResourceAccess(accesses)
			rras = append(rras, rra)
		}
		body.SetRequiredResourceAccess(rras)
	}
	if s.Tags != nil {
		body.SetTags(*s.Tags)
	}
	return body, nil
}

// applyApplication creates, updates or adopts the registration. A create with a uniqueName is
// an upsert (Prefer: create-if-missing), so a create retried after a lost answer does not
// make a second app.
func (e *Engine) applyApplication(ctx context.Context, c *Change, st *appState) (string, error) {
	spec := c.Target.Application
	body, err := applicationBody(spec)
	if err != nil {
		return "", err
	}
	client := e.Graph.Graph
	if c.Action != Create {
		id := c.Target.ID
		err := e.retry(ctx, st.freshApp, func(ctx context.Context) error {
			_, err := client.Applications().ByApplicationId(id).Patch(ctx, body, nil)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("update application: %w", graph.ExplainDenied(err, graph.OpUpdateApplication))
		}
		st.objectID = id
		return id, nil
	}
	var app models.Applicationable
	if spec.UniqueName != "" {
		cfg := &applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderPatchRequestConfiguration{Headers: abstractions.NewRequestHeaders()}
		cfg.Headers.Add("Prefer", "create-if-missing")
		name := spec.UniqueName
		if err := e.retry(ctx, false, func(ctx context.Context) error {
			app, err = client.ApplicationsWithUniqueName(&name).Patch(ctx, body, cfg)
			return err
		}); err != nil {
			return "", fmt.Errorf("create application: %w", graph.ExplainDenied(err, graph.OpCreateApplication))
		}
		if app == nil {
			// 204: it existed already (an earlier apply's create whose answer was lost,
			// or replication hid it from observe) and was updated; read its ids.
			if err := e.retry(ctx, true, func(ctx context.Context) error {
				app, err = client.ApplicationsWithUniqueName(&name).Get(ctx, nil)
				return err
			}); err != nil {
				return "", fmt.Errorf("read application %q: %w", name, err)
			}
		}
	} else {
		// Without a uniqueName a create is a POST, which Graph would happily repeat: first
		// look for the app an earlier run made (its answer lost, or this plan applied
		// twice), recognised by name and ownership tag.
		if app, err = e.findOwnApplication(ctx, spec.DisplayName); err != nil {
			return "", fmt.Errorf("create application: %w", graph.ExplainDenied(err, graph.OpFindApplication))
		}
		if app != nil {
			id := str(app.GetId())
			if err := e.retry(ctx, false, func(ctx context.Context) error {
				_, err := client.Applications().ByApplicationId(id).Patch(ctx, body, nil)
				return err
			}); err != nil {
				return "", fmt.Errorf("update application: %w", graph.ExplainDenied(err, graph.OpUpdateApplication))
			}
		} else if err := e.retry(ctx, false, func(ctx context.Context) error {
			app, err = client.Applications().Post(ctx, body, nil)
			return err
		}); err != nil {
			return "", fmt.Errorf("create application: %w", graph.ExplainDenied(err, graph.OpCreateApplication))
		}
	}
	st.objectID, st.appID, st.freshApp = str(app.GetId()), str(app.GetAppId()), true
	return st.objectID, nil
}

// findOwnApplication returns the one application named name that carries the ownership tag,
// or nil when there is none.
func (e *Engine) findOwnApplication(ctx context.Context, name string) (models.Applicationable, error) {
	f := "displayName eq " + quote(name)
	page, err := e.Graph.Graph.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: &f, Select: []string{"id", "appId", "tags"}}})
	if err != nil {
		return nil, graph.Wrap(err)
	}
	for _, a := range page.GetValue() {
		if slices.Contains(a.GetTags(), ownershipTag) {
			return a, nil
		}
	}
	return nil, nil
}

// applyServicePrincipal creates or updates the enterprise app.
func (e *Engine) applyServicePrincipal(ctx context.Context, c *Change, st *appState) (string, error) {
	client := e.Graph.Graph
	body := models.NewServicePrincipal()
	if r := c.Target.AssignmentRequired; r != nil {
		body.SetAppRoleAssignmentRequired(r)
	}
	if c.Action == Update {
		id := c.Target.ID
		if err := e.retry(ctx, false, func(ctx context.Context) error {
			_, err := client.ServicePrincipals().ByServicePrincipalId(id).Patch(ctx, body, nil)
			return err
		}); err != nil {
			return "", fmt.Errorf("update service principal: %w", graph.ExplainDenied(err, graph.OpUpdateServicePrincipal))
		}
		return id, nil
	}
	if st.appID == "" {
		return "", errors.New("create service principal: the application's appId is unknown")
	}
	appID := st.appID
	body.SetAppId(&appID)
	var sp models.ServicePrincipalable
	err := e.retry(ctx, st.freshApp, func(ctx context.Context) error {
		var err error
		sp, err = client.ServicePrincipals().Post(ctx, body, nil)
		return err
	})
	if graph.IsAlreadyExists(err) {
		// Made by a previous run, or by the portal meanwhile: take it and set what the
		// manifest says on it.
		err = e.retry(ctx, true, func(ctx context.Context) error {
			var err error
			sp, err = client.ServicePrincipalsWithAppId(&appID).Get(ctx, nil)
			return err
		})
		if err == nil && c.Target.AssignmentRequired != nil {
			id := str(sp.GetId())
			patch := models.NewServicePrincipal()
			patch.SetAppRoleAssignmentRequired(c.Target.AssignmentRequired)
			_, err = client.ServicePrincipals().ByServicePrincipalId(id).Patch(ctx, patch, nil)
			err = graph.Wrap(err)
		}
	}
	if err != nil {
		return "", fmt.Errorf("create service principal: %w", graph.ExplainDenied(err, graph.OpCreateServicePrincipal))
	}
	st.spID, st.freshSP = str(sp.GetId()), true
	return st.spID, nil
}

// applyGrant creates, updates (in place, the scope string) or deletes a tenant-wide
// delegated permission grant.
func (e *Engine) applyGrant(ctx context.Context, c *Change, st *appState) (string, error) {
	client := e.Graph.Graph
	switch c.Action {
	case Delete:
		id := c.Target.ID
		err := graph.Wrap(client.Oauth2PermissionGrants().ByOAuth2PermissionGrantId(id).Delete(ctx, nil))
		if err != nil && !graph.IsNotFound(err) {
			return "", fmt.Errorf("delete permission grant: %w", graph.ExplainDenied(err, graph.OpGrantDelegated))
		}
		return id, nil
	case Update:
		return c.Target.ID, e.patchGrantScope(ctx, c.Target.ID, c.Target.Scope)
	}
	if st.spID == "" {
		return "", errors.New("create permission grant: the service principal's id is unknown")
	}
	clientID, resourceID, scope := st.spID, c.Target.ResourceID, c.Target.Scope
	body := grantBody(clientID, resourceID, scope)
	var g models.OAuth2PermissionGrantable
	err := e.retry(ctx, st.freshSP, func(ctx context.Context) error {
		var err error
		g, err = client.Oauth2PermissionGrants().Post(ctx, body, nil)
		return err
	})
	if graph.IsAlreadyExists(err) {
		// A grant for this client and resource exists (a create whose answer was lost):
		// find it and set its scope, rather than failing or duplicating.
		id, ferr := e.findGrant(ctx, clientID, resourceID)
		if ferr != nil {
			return "", fmt.Errorf("create permission grant: %w", ferr)
		}
		return id, e.patchGrantScope(ctx, id, scope)
	}
	if err != nil {
		return "", fmt.Errorf("create permission grant: %w", graph.ExplainDenied(err, graph.OpGrantDelegated))
	}
	return str(g.GetId()), nil
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

func (e *Engine) patchGrantScope(ctx context.Context, id, scope string) error {
	body := grantScopeBody(scope)
	err := e.retry(ctx, false, func(ctx context.Context) error {
		_, err := e.Graph.Graph.Oauth2PermissionGrants().ByOAuth2PermissionGrantId(id).Patch(ctx, body, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("update permission grant: %w", graph.ExplainDenied(err, graph.OpGrantDelegated))
	}
	return nil
}

// findGrant returns the id of the AllPrincipals grant of clientID on resourceID.
func (e *Engine) findGrant(ctx context.Context, clientID, resourceID string) (string, error) {
	f := "clientId eq " + quote(clientID)
	var found string
	err := e.retry(ctx, true, func(ctx context.Context) error {
		page, err := e.Graph.Graph.Oauth2PermissionGrants().Get(ctx, &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration{
			QueryParameters: &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetQueryParameters{Filter: &f}})
		if err != nil {
			return err
		}
		for _, g := range page.GetValue() {
			if str(g.GetConsentType()) == allPrincipals && strings.EqualFold(str(g.GetResourceId()), resourceID) {
				found = str(g.GetId())
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("find permission grant: %w", err)
	}
	if found == "" {
		return "", fmt.Errorf("find permission grant: Graph says one exists for client %s on %s, but none is listed yet", clientID, resourceID)
	}
	return found, nil
}

// applyAppRoleGrant consents (or revokes) one application permission of the service principal:
// an app role assignment of the service principal on the API's.
func (e *Engine) applyAppRoleGrant(ctx context.Context, c *Change, st *appState) (string, error) {
	if c.Action != Delete && st.spID == "" {
		return "", errors.New("create app role assignment: the service principal's id is unknown")
	}
	return e.writeAppRoleAssignment(ctx, c, st, appRoleWrite{resourceID: c.Target.ResourceID, principalID: st.spID,
		op: graph.OpGrantApplicationRoles, create: "create app role assignment", remove: "delete app role assignment"})
}
