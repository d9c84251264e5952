package provision

import (
	"context"
	"errors"
	"time"

	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/retry"
)

// errAnswerLost marks a write that Graph answered with success but without the object it
// made (an empty body): whether, and which, object exists is for a read to say.
var errAnswerLost = errors.New("Graph answered the write without the object")

// errNotVisible marks a read of an object Graph said exists that answered without it; it
// counts as replication lag (a 404).
var errNotVisible = &graph.Error{Status: 404, Code: "Request_ResourceNotFound", Message: "the object is not readable yet"}

// outcomeUnknown reports whether a failed write may nonetheless have been carried out: a
// server error, a success without the object, or no answer at all (a connection that broke
// or timed out once the request was sent). It is not a refusal: the write is looked up or
// sent again, never reported as failed on this alone.
func outcomeUnknown(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, errAnswerLost) {
		return true
	}
	if e, ok := graph.AsError(err); ok {
		return e.Status >= 500
	}
	return true
}

// createAttempts bounds the sends of a create whose outcome stayed unknown.
const createAttempts = 4

// create sends a create that the directory refuses to repeat (a service principal per appId,
// a grant per client and resource, an app role assignment per principal, role and resource):
// when the outcome of a send is unknown (a 5xx, a lost answer) it is sent again, and the
// answer "already exists" then says the first send did land, for the caller to look up and
// reconcile. Replication lag behind the object it refers to is ridden out as by write.
func (e *Engine) create(ctx context.Context, fresh bool, post func(context.Context) error) error {
	unknown := 0
	lagging := e.lagging(fresh)
	err := e.Graph.Retry(ctx, post, func(err error) bool {
		if outcomeUnknown(err) && unknown < createAttempts-1 {
			unknown++
			return true
		}
		return lagging(err)
	})
	if errors.Is(err, errAnswerLost) {
		// Sent again and again without ever an object: the object may exist; the caller's
		// lookup (IsAlreadyExists) decides.
		return &graph.Error{Status: 409, Code: "Request_MultipleObjectsWithSameKeyValue", Message: errAnswerLost.Error()}
	}
	return graph.Wrap(err)
}

// write runs op, a write that refers to an object (updates it, or adds to it), riding out the
// replication lag of that object as lagging(fresh) says. Other errors come back at once.
func (e *Engine) write(ctx context.Context, fresh bool, op func(context.Context) error) error {
	return graph.Wrap(e.Graph.Retry(ctx, op, e.lagging(fresh)))
}

// lagging returns the replication-lag predicate of one write that refers to an object. Behind
// an object created in this run (fresh), lag is waited out for the whole replication budget.
// Behind one the plan observed, it is waited out for visibleWithin: that object may have been
// made moments ago by an earlier run (one that failed, or was interrupted, before waiting for
// the directory), and a write landing on a replica that has not seen it yet gets the same
// answers (404, "not a valid reference") as one behind a fresh object; an object that is
// really gone still fails the write soon.
func (e *Engine) lagging(fresh bool) func(error) bool {
	start := e.now()
	return func(err error) bool {
		return graph.IsReplicationLag(err) && (fresh || e.now().Sub(start) < visibleWithin)
	}
}

// probe runs read, one cheap read of an object created moments ago, until it answers
// otherwise than with replication lag, so that the writes referring to the object are not
// sent into its replication (each refused write counts against the tenant's write budget, and
// hundreds of them would each be retried). A probe that never succeeds changes nothing: the
// writes then meet the lag and are retried. Being a read, it polls often (every 150 to 300
// ms) rather than with the replication backoff, which is made for writes and overshoots by up
// to its last wait, over a second on a 2 s lag: the writes it holds back, and everything after
// them, go out soon after the object shows. It returns nil once the object has answered.
func (e *Engine) probe(ctx context.Context, read func(context.Context) error) error {
	policy := retry.Policy{BaseDelay: probePoll, MaxDelay: 2 * probePoll, MaxElapsed: graph.ReplicationPolicy().MaxElapsed}
	return retry.Do(ctx, e.clock(), policy, func(ctx context.Context) error { return graph.Wrap(read(ctx)) }, graph.IsReplicationLag)
}

// visibleWithin is how long a read looks for an object whose create may have happened (its
// answer lost) before concluding it did not: longer than the replication a real directory
// shows on a slow day.
const visibleWithin = 30 * time.Second
