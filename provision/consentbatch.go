package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/provision/graph"
)

// consentRun counts the changes at the head of cs that are admin consent (grants and app
// role assignments): once the service principals exist they depend on nothing but each other's
// absence, so apply sends them together in one $batch.
func consentRun(cs []Change) int {
	n := 0
	for n < len(cs) && (cs[n].Kind == KindDelegatedGrant || cs[n].Kind == KindAppRoleGrant) {
		n++
	}
	return n
}

// applyConsentBatch applies a run of consent changes with one $batch round trip (throttled
// items are retried by graph.Client.Batch). An item the batch could not settle (replication
// lag behind a service principal created moments ago, a duplicate, a refusal) is applied
// again alone through applyChange, which knows how to wait, reconcile and explain; so the
// batch only saves round trips and never changes an outcome. Results come in plan order and
// progress is called for each.
func (e *Engine) applyConsentBatch(ctx context.Context, cs []Change, states map[string]*appState, progress func(ChangeResult)) []ChangeResult {
	results := make([]ChangeResult, len(cs))
	sts := make([]*appState, len(cs))
	var reqs []graph.BatchRequest
	index := map[string]int{}
	for i := range cs {
		c := &cs[i]
		st := states[c.Target.App]
		if st == nil {
			st = &appState{}
			states[c.Target.App] = st
		}
		st.learn(c.Target)
		sts[i] = st
		results[i] = ChangeResult{Address: c.Address, Kind: c.Kind, Action: c.Action}
		if ctx.Err() != nil || st.failed {
			results[i].Err = ErrSkipped
			continue
		}
		ri, err := e.consentRequest(ctx, c, st)
		if err != nil {
			continue // applied alone below, where the error is reported in context
		}
		id := fmt.Sprintf("c%d", i)
		req, err := e.Graph.BatchRequestFrom(id, ri)
		if err != nil {
			continue
		}
		reqs = append(reqs, req)
		index[id] = i
	}
	settled := make([]bool, len(cs))
	if len(reqs) > 0 {
		// A batch that fails as a whole leaves every item to the one-by-one path.
		if resps, err := e.Graph.Batch(context.WithoutCancel(ctx), reqs); err == nil {
			for _, r := range resps {
				i := index[r.ID]
				switch {
				case r.Status >= 200 && r.Status < 300:
					var created struct {
						ID string `json:"id"`
					}
					_ = json.Unmarshal(r.Body, &created) // a 204 has no body; the id stays as planned
					results[i].ID = created.ID
					if results[i].ID == "" {
						results[i].ID = cs[i].Target.ID
					}
					settled[i] = true
				case r.Status == http.StatusNotFound && cs[i].Action == Delete:
					results[i].ID, settled[i] = cs[i].Target.ID, true // already gone
				}
			}
		}
	}
	for i := range cs {
		c := &cs[i]
		if !settled[i] && results[i].Err == nil {
			if sts[i].failed {
				results[i].Err = ErrSkipped
			} else {
				results[i].ID, results[i].Err = e.applyChange(context.WithoutCancel(ctx), c, sts[i])
			}
		}
		if r := &results[i]; r.Err != nil && !errors.Is(r.Err, ErrSkipped) {
			sts[i].failed = true
			r.Err = fmt.Errorf("%s: %w", c.Address, r.Err)
		}
		if progress != nil {
			progress(results[i])
		}
	}
	return results
}

// consentRequest builds the request of one consent change, as applyGrant and
// applyAppRoleGrant would send it.
func (e *Engine) consentRequest(ctx context.Context, c *Change, st *appState) (*abstractions.RequestInformation, error) {
	client := e.Graph.Graph
	grants := client.Oauth2PermissionGrants()
	switch {
	case c.Kind == KindDelegatedGrant && c.Action == Delete:
		return grants.ByOAuth2PermissionGrantId(c.Target.ID).ToDeleteRequestInformation(ctx, nil)
	case c.Kind == KindDelegatedGrant && c.Action == Update:
		body := models.NewOAuth2PermissionGrant()
		scope := c.Target.Scope
		body.SetScope(&scope)
		return grants.ByOAuth2PermissionGrantId(c.Target.ID).ToPatchRequestInformation(ctx, body, nil)
	case c.Kind == KindDelegatedGrant && c.Action == Create:
		if st.spID == "" {
			return nil, errors.New("service principal id unknown")
		}
		body := models.NewOAuth2PermissionGrant()
		clientID, consent, resourceID, scope := st.spID, allPrincipals, c.Target.ResourceID, c.Target.Scope
		body.SetClientId(&clientID)
		body.SetConsentType(&consent)
		body.SetResourceId(&resourceID)
		body.SetScope(&scope)
		return grants.ToPostRequestInformation(ctx, body, nil)
	}
	assignedTo := client.ServicePrincipals().ByServicePrincipalId(c.Target.ResourceID).AppRoleAssignedTo()
	switch c.Action {
	case Delete:
		return assignedTo.ByAppRoleAssignmentId(c.Target.ID).ToDeleteRequestInformation(ctx, nil)
	case Create:
		principal, err1 := uuid.Parse(st.spID)
		resource, err2 := uuid.Parse(c.Target.ResourceID)
		role, err3 := uuid.Parse(c.Target.AppRoleID)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		body := models.NewAppRoleAssignment()
		body.SetPrincipalId(&principal)
		body.SetResourceId(&resource)
		body.SetAppRoleId(&role)
		return assignedTo.ToPostRequestInformation(ctx, body, nil)
	}
	return nil, fmt.Errorf("no batched form for %s of %s", c.Action, c.Kind)
}
