package provision

import (
	"context"
	"errors"
	"fmt"

	abstractions "github.com/microsoft/kiota-abstractions-go"
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

// applyConsentBatch applies a run of consent changes with one $batch round trip per
// graph.MaxBatchSize changes (see batchWrites). An item the batch could not settle
// (replication lag behind a service principal created moments ago, a grant that exists, a
// refusal) is applied again alone through applyChange, in plan order, as a sequential run
// would: a failure skips the application's later changes. Results come in plan order and
// progress is called for each.
func (e *Engine) applyConsentBatch(ctx context.Context, cs []Change, states map[string]*appState, progress func(ChangeResult)) []ChangeResult {
	results := make([]ChangeResult, len(cs))
	sts := make([]*appState, len(cs))
	for i := range cs {
		sts[i] = stateOf(states, cs[i].Target)
		results[i] = ChangeResult{Address: cs[i].Address, Kind: cs[i].Kind, Action: cs[i].Action}
		if ctx.Err() != nil || sts[i].failed {
			results[i].Err = ErrSkipped
		}
	}
	settled := make([]bool, len(cs))
	e.batchWrites(ctx, cs, 1, func(i int) (*abstractions.RequestInformation, error) {
		if results[i].Err != nil {
			return nil, nil
		}
		return e.consentRequest(ctx, &cs[i], sts[i])
	}, func(i int, id string) {
		results[i].ID, settled[i] = id, true
	})
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
		return grants.ByOAuth2PermissionGrantId(c.Target.ID).ToPatchRequestInformation(ctx, grantScopeBody(c.Target.Scope), nil)
	case c.Kind == KindDelegatedGrant && c.Action == Create:
		if st.spID == "" {
			return nil, errors.New("service principal id unknown")
		}
		return grants.ToPostRequestInformation(ctx, grantBody(st.spID, c.Target.ResourceID, c.Target.Scope), nil)
	}
	if c.Action == Delete || c.Action == Create {
		return e.appRoleAssignmentRequest(ctx, c, c.Target.ResourceID, st.spID)
	}
	return nil, fmt.Errorf("no batched form for %s of %s", c.Action, c.Kind)
}
