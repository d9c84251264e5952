package provision

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"

	"github.com/provisionhq/provision/provision/graph"
)

// errLagging is what one pass of batchWrites returns while items still meet replication lag,
// so the replication retry loop waits and sends them again.
var errLagging = &graph.Error{Status: 404, Code: "Request_ResourceNotFound", Message: "batched writes still meet replication lag"}

// batchWrites sends the writes of the changes whose kind batches (see batcher) in $batch calls
// of graph.MaxBatchSize, at most bound calls at once, so many changes cost few round trips;
// graph.Client.Batch retries the items throttled. leave(i) leaves a change out (skipped, or
// its application failed). settle is called (concurrently when bound > 1) for each change a
// call carried out or found done already, as its kind's settled says.
//
// Items that meet replication lag behind an object created moments ago are sent again
// together, in batches, with the replication backoff, not one request each; and before
// writes that reference a service principal created in this run fan out, one read probes
// that it answers. Everything else (a change left out or whose request did not build, a
// refusal, a call that failed as a whole, lag that outlasts the budget) is left to the
// caller's one-by-one path, which knows how to wait, reconcile and explain: batching saves
// round trips and never changes an outcome.
func (e *Engine) batchWrites(ctx context.Context, cs []Change, sts []*appState, bound int, leave func(i int) bool, settle func(i int, id string)) {
	ctx = context.WithoutCancel(ctx) // writes started finish; see Apply
	type item struct {
		i   int
		req graph.BatchRequest
		b   batcher
	}
	var pending []item
	probes := map[string]*appState{} // fresh service principals not yet seen to answer
	for i := range cs {
		b, ok := kindNamed(cs[i].Kind).(batcher)
		if !ok || leave(i) {
			continue
		}
		ri, err := b.batchRequest(ctx, e, &cs[i], sts[i])
		if err != nil || ri == nil {
			continue // applied alone, where the error is reported in context
		}
		req, err := e.Graph.BatchRequestFrom(strconv.Itoa(i), ri)
		if err != nil {
			continue
		}
		pending = append(pending, item{i, req, b})
		if st := sts[i]; st.freshSP && !st.spAnswered && cs[i].Action != Delete {
			probes[st.spID] = st
		}
	}
	if len(pending) == 0 {
		return
	}
	for id, st := range probes {
		// Once it has answered, a later stage's writes go straight out: an item that still
		// lands on a lagging replica is sent again below, batched.
		st.spAnswered = e.probeServicePrincipal(ctx, id) == nil
	}
	var mu sync.Mutex
	_ = e.Graph.Retry(ctx, func(ctx context.Context) error {
		var calls [][]item
		for _, s := range chunk(len(pending), graph.MaxBatchSize) {
			calls = append(calls, pending[s.from:s.from+s.n])
		}
		var lagging []item
		_ = bounded(ctx, callsOf(calls, func(call []item) func(context.Context) error {
			return func(ctx context.Context) error {
				reqs := make([]graph.BatchRequest, len(call))
				for k, it := range call {
					reqs[k] = it.req
				}
				resps, err := e.Graph.Batch(ctx, reqs)
				if err != nil {
					return nil // a call that failed as a whole leaves its items to the one-by-one path
				}
				for k, r := range resps {
					it := call[k]
					if id, ok := it.b.settled(&cs[it.i], r); ok {
						settle(it.i, id)
						continue
					}
					if sts[it.i].freshSP && graph.IsReplicationLag(r.Err()) {
						mu.Lock()
						lagging = append(lagging, it)
						mu.Unlock()
					}
				}
				return nil
			}
		}), bound)
		pending = lagging
		if len(pending) > 0 {
			return errLagging
		}
		return nil
	}, func(err error) bool { return errors.Is(err, errLagging) })
}

// callsOf turns each call into the function that sends it.
func callsOf[T any](calls []T, send func(T) func(context.Context) error) []func(context.Context) error {
	out := make([]func(context.Context) error, len(calls))
	for i, c := range calls {
		out[i] = send(c)
	}
	return out
}

// probeServicePrincipal reads the service principal id until it answers (see Engine.probe).
func (e *Engine) probeServicePrincipal(ctx context.Context, id string) error {
	return e.probe(ctx, func(ctx context.Context) error {
		_, err := e.Graph.Graph.ServicePrincipals().ByServicePrincipalId(id).Get(ctx, &serviceprincipals.ServicePrincipalItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ServicePrincipalItemRequestBuilderGetQueryParameters{Select: []string{"id"}}})
		return err
	})
}

// settledWrite is the settled of the kinds whose batched writes are plain: a success (the
// created object's id, or the planned one for an answer without a body), the removal of
// something gone already, and, when existsIsDone, the creation of something that exists
// already, which the one-by-one path also takes as done.
func settledWrite(c *Change, r graph.BatchResponse, existsIsDone bool) (string, bool) {
	switch {
	case r.Status >= 200 && r.Status < 300:
		var created struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(r.Body, &created) // a 204 has no body; the id stays as planned
		if created.ID == "" {
			if c.Action == Create {
				return "", false // a create answered without its object: apply finds out
			}
			created.ID = c.Target.ID
		}
		return created.ID, true
	case c.Action == Delete && graph.IsNotFound(r.Err()):
		return c.Target.ID, true
	case c.Action == Create && existsIsDone && graph.IsAlreadyExists(r.Err()):
		return "", true
	}
	return "", false
}
