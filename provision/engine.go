package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/graph"
)

// Engine observes a tenant, plans and applies. Graph is required.
type Engine struct {
	// Graph is the Graph client, with its middleware (retry on throttling, redirect,
	// compression) already set up; the engine adds the retries Graph's eventual consistency
	// calls for, through Graph.Retry.
	Graph *graph.Client
	// Secrets delivers and checks new client secrets; only apply uses it.
	Secrets SecretDeps
	// Exchange grants Send-As through the Exchange Online admin API; nil is fine when no
	// manifest has sendAs (planning one without it is an error, ErrNoExchange).
	Exchange *exchange.Client
	// Concurrency bounds the independent Graph writes apply runs at once (user and group
	// assignments); 0 means DefaultConcurrency.
	Concurrency int
	// ExchangeConcurrency bounds Send-As reads and writes in flight; 0 means
	// DefaultExchangeConcurrency. The Exchange client's MaxConcurrency caps it too.
	ExchangeConcurrency int
	// ObserveProgress, when set, is told how far observe's long reads are (what is
	// "send-as": one call per mailbox read from Exchange). Calls never overlap.
	ObserveProgress func(what string, done, total int)

	// locks gives each application one credential writer at a time.
	locks graph.Locks
}

// now is the time plans measure expiry against: the Graph client's clock, so tests on a
// fake clock get deterministic plans.
func (e *Engine) now() time.Time {
	if c := e.Graph.Clock(); c != nil {
		return c.Now()
	}
	return time.Now()
}

// Plan observes the tenant for every document and plans each one. Problems with the
// manifests against this tenant (unknown permission, ambiguous name) come back together as
// one manifests.Diagnostics; other errors are Graph failures.
func (e *Engine) Plan(ctx context.Context, docs []*manifests.Document) (*Plan, error) {
	return e.PlanWith(ctx, docs, PlanOptions{})
}

// PlanWith is Plan with options: SecretsOnly and ForceRotate for provision rotate. A zero
// opts.Now means the Graph client's clock.
func (e *Engine) PlanWith(ctx context.Context, docs []*manifests.Document, opts PlanOptions) (*Plan, error) {
	if opts.Now.IsZero() {
		opts.Now = e.now()
	}
	wants := make([]Desired, len(docs))
	for i, d := range docs {
		wants[i] = DesiredFromDocument(d)
		if opts.SecretsOnly { // rotate reads neither the directory nor Exchange
			wants[i].Assignments, wants[i].SendAs = nil, nil
		}
	}
	if err := e.requireExchange(wants); err != nil {
		return nil, err
	}
	observed, err := e.observe(ctx, wants)
	if err != nil {
		return nil, fmt.Errorf("observe tenant: %w", err)
	}
	if err := e.observeSendAs(ctx, wants, observed); err != nil {
		return nil, fmt.Errorf("observe Send-As: %w", err)
	}
	p := &Plan{FormatVersion: FormatVersion, Changes: []Change{}, Warnings: []Warning{}}
	var probs manifests.Diagnostics
	for i, w := range wants {
		changes, warnings, err := PlanDocument(w, observed[i], opts)
		var d manifests.Diagnostics
		switch {
		case errors.As(err, &d):
			probs = append(probs, d...)
		case err != nil:
			return nil, err
		}
		p.Changes = append(p.Changes, changes...)
		p.Warnings = append(p.Warnings, warnings...)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	SortChanges(p.Changes)
	return p, nil
}
