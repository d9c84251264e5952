package provision

import (
	"context"
	"encoding/json"
	"strconv"

	abstractions "github.com/microsoft/kiota-abstractions-go"

	"github.com/provisionhq/provision/provision/graph"
)

// batchWrites sends the writes of cs in $batch calls of graph.MaxBatchSize, at most bound
// calls at once, so many changes cost few round trips; graph.Client.Batch retries the items
// throttled. build returns the request of cs[i] as its one-by-one path would send it, or nil
// to leave the change out. settle is called (concurrently when bound > 1) for each change a
// call carried out or found done already: see batchSettled. Everything else (a change left
// out or whose request did not build, replication lag behind a service principal made
// moments ago, a refusal, a call that failed as a whole) is left to the caller's one-by-one
// path, which knows how to wait, reconcile and explain: batching saves round trips and never
// changes an outcome.
func (e *Engine) batchWrites(ctx context.Context, cs []Change, bound int, build func(i int) (*abstractions.RequestInformation, error), settle func(i int, id string)) {
	var reqs []graph.BatchRequest
	index := map[string]int{}
	for i := range cs {
		ri, err := build(i)
		if err != nil || ri == nil {
			continue // applied alone, where the error is reported in context
		}
		id := strconv.Itoa(i)
		req, err := e.Graph.BatchRequestFrom(id, ri)
		if err != nil {
			continue
		}
		reqs = append(reqs, req)
		index[id] = i
	}
	var calls [][]graph.BatchRequest
	for len(reqs) > 0 {
		n := min(len(reqs), graph.MaxBatchSize)
		calls, reqs = append(calls, reqs[:n]), reqs[n:]
	}
	_ = forEachBounded(context.WithoutCancel(ctx), len(calls), bound, func(ctx context.Context, k int) error {
		resps, err := e.Graph.Batch(ctx, calls[k])
		if err != nil {
			return nil // a call that failed as a whole leaves its items to the one-by-one path
		}
		for _, r := range resps {
			i := index[r.ID]
			if id, ok := batchSettled(&cs[i], r); ok {
				settle(i, id)
			}
		}
		return nil
	})
}

// batchSettled says whether a batched write of c left it done, and with which id: a success
// (the created object's id, or the planned one for an answer without a body), the removal of
// something gone already, or the creation of an assignment that exists already, which the
// one-by-one path also takes as done without an id. A delegated grant that exists already is
// not settled here: the one-by-one path finds it and sets its scope.
func batchSettled(c *Change, r graph.BatchResponse) (string, bool) {
	switch {
	case r.Status >= 200 && r.Status < 300:
		var created struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(r.Body, &created) // a 204 has no body; the id stays as planned
		if created.ID == "" {
			created.ID = c.Target.ID
		}
		return created.ID, true
	case c.Action == Delete && graph.IsNotFound(r.Err()):
		return c.Target.ID, true
	case c.Action == Create && c.Kind != KindDelegatedGrant && graph.IsAlreadyExists(r.Err()):
		return "", true
	}
	return "", false
}

// stateOf returns the state of t's application, made on first use, having learnt t's ids.
func stateOf(states map[string]*appState, t Target) *appState {
	st := states[t.App]
	if st == nil {
		st = &appState{}
		states[t.App] = st
	}
	st.learn(t)
	return st
}
