package provision

import (
	"context"

	abstractions "github.com/microsoft/kiota-abstractions-go"

	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/rights"
)

// kind is one sort of object the engine manages; the package documentation states its
// contract (observe, plan, apply, scheduling, rights) and lists the kinds in order.
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
	// needs are the kinds whose creation, in the same application, a change of the kind
	// depends on: a targeted change (--target) brings them along.
	needs []Kind
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
		mailboxKind{},
		mailboxSMTPAuthKind{},
		exchangeServicePrincipalKind{},
		mailboxFullAccessKind{},
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
