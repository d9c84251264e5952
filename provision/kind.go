package provision

import (
	"context"

	abstractions "github.com/microsoft/kiota-abstractions-go"

	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/rights"
)

// kind is one sort of object the engine manages: the application, its service principal, a
// delegated grant, a client secret, a user assignment, a Send-As right, ... The engine knows
// nothing of any kind beyond this contract. Each kind lives in its own file (its desired form,
// what it observes, its planner and its apply), and is listed once, in dependency order, in
// kinds(). A kind whose name is "" only reads: it observes something that other kinds resolve
// manifest names against (the resource APIs, the directory's users and groups), and never plans
// a change.
//
// # Observe
//
// observe(ctx, n, r) is called once per observation round, n = 1, 2, ... up to maxRounds, with what
// the earlier rounds found in r (the documents' Desired and Observed so far). The kind queues
// on r the reads it needs in that round, each with the continuation that stores the answer in
// the documents' Observed: Graph reads (r.graph) travel together in $batch calls, so every
// kind's reads of one round cost one Graph round trip whatever the number of kinds and
// documents; Exchange reads (r.exchange) and local reads such as sinks (r.local) run alongside,
// concurrently and bounded. A kind queues nothing in a round it has no reads for; observation
// stops at the first round in which no kind queued anything. Reads depend only on earlier
// rounds: the applications are found in round 1, their service principals in round 2, what
// those hold in round 3. observe never writes.
//
// # Plan
//
// plan(d) is pure: from one document's Desired and Observed, and what earlier kinds resolved
// in d (the matched application, the resolved permissions), it appends the kind's changes,
// warnings and manifest problems (at their manifest line). No I/O, no clock but d.opts.Now.
// Kinds plan in registry order, so a kind may use what an earlier kind's plan resolved.
//
// # Apply
//
// apply(ctx, e, c, st) carries out one change of the kind and returns the object's id. It is
// idempotent: creating what exists reconciles it, deleting what is gone succeeds, and a create
// whose answer was lost (a dropped connection, a 5xx after the write) is looked up before it
// is sent again, so nothing is ever duplicated. Ids flow forward through st, the state of the
// change's application in this run: a kind reads the ids earlier kinds produced (the
// application's object id and appId, the service principal's id) and records the ones it
// produces, with whether the object was created moments ago (then writes that reference it
// ride out replication lag).
//
// # Scheduling
//
// traits().stage places the kind's changes: apply runs the changes of one stage together,
// stages in order, and an application whose change failed has its later stages skipped. Within
// a stage, traits().bound(e) changes run at once (1: one after another, in plan order). A kind
// that implements batcher has its changes sent first in $batch calls; what a batch did not
// settle goes through apply one by one.
//
// # Rights
//
// traits().operations are the operations of package rights the kind's reads and writes
// perform; a refused call is explained with rights.ExplainDenied and the operation's step.
type kind interface {
	// name is the Kind of the changes the kind plans, "" for a kind that only reads.
	name() Kind
	// traits are the kind's static facts: stage, bound, rights.
	traits() traits
	// observe queues the kind's reads of round n; see the kind contract.
	observe(ctx context.Context, n int, r *round)
	// plan appends the kind's changes for one document; pure.
	plan(d *docPlan)
	// apply carries out one change of the kind, idempotently.
	apply(ctx context.Context, e *Engine, c *Change, st *appState) (string, error)
}

// traits are what the scheduler and the rights table need to know of a kind.
type traits struct {
	// stage orders the kinds' changes at apply time: lower stages run first, changes of one
	// stage run together. Kinds whose changes depend on one another have different stages.
	stage int
	// bound is how many changes of the kind may be in flight at once; nil means 1.
	bound func(e *Engine) int
	// rotation marks the kinds provision rotate plans (PlanOptions.SecretsOnly).
	rotation bool
	// operations are the rights operations the kind performs.
	operations []rights.Operation
}

// batcher is implemented by kinds whose writes may travel in $batch calls.
type batcher interface {
	// batchRequest builds the request of c as apply would send it alone, or returns nil to
	// leave c to apply (an id it needs is unknown yet, say).
	batchRequest(ctx context.Context, e *Engine, c *Change, st *appState) (*abstractions.RequestInformation, error)
	// settled says whether a batched answer left c done, and with which id. An answer it does
	// not settle sends c through apply, which knows how to wait, reconcile and explain.
	settled(c *Change, r graph.BatchResponse) (string, bool)
}

// kinds lists every kind in dependency order: an object's kind comes before the kinds of
// objects that refer to it. Kinds() and the plan's order follow it.
func kinds() []kind {
	return []kind{
		resourceKind{},
		directoryKind{},
		applicationKind{},
		servicePrincipalKind{},
		delegatedGrantKind{},
		appRoleGrantKind{},
		secretKind{},
		userAssignmentKind{},
		sendAsKind{},
	}
}

// kindNamed returns the registered kind that plans changes of k, or nil.
func kindNamed(k Kind) kind {
	for _, x := range kinds() {
		if x.name() == k && k != "" {
			return x
		}
	}
	return nil
}

// Kinds returns every kind of change in the order apply runs them: an object is created
// before anything that refers to it.
func Kinds() []Kind {
	var out []Kind
	for _, k := range kinds() {
		if k.name() != "" {
			out = append(out, k.name())
		}
	}
	return out
}

// rank is the position of k in Kinds(); unknown kinds sort last.
func (k Kind) rank() int {
	for i, x := range Kinds() {
		if x == k {
			return i
		}
	}
	return len(Kinds())
}

// stage returns the apply stage of k's changes; unknown kinds run last, alone.
func (k Kind) stage() int {
	if x := kindNamed(k); x != nil {
		return x.traits().stage
	}
	return 1 << 30
}

// boundOf is how many changes of kind k apply runs at once.
func (e *Engine) boundOf(k Kind) int {
	if x := kindNamed(k); x != nil && x.traits().bound != nil {
		return max(x.traits().bound(e), 1)
	}
	return 1
}
