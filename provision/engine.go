package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/clock"
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
	// assignments), and the $batch calls of one observation round; 0 means
	// DefaultConcurrency.
	Concurrency int
	// ExchangeConcurrency bounds Send-As reads and writes in flight; 0 means
	// DefaultExchangeConcurrency. The Exchange client's MaxConcurrency caps it too.
	ExchangeConcurrency int
	// ObserveProgress, when set, is told how far observe's long reads are (what is
	// "send-as": one call per mailbox read from Exchange). Calls never overlap.
	ObserveProgress func(what string, done, total int)

	// locks gives each application one credential writer at a time.
	locks keyedLocks
}

// DefaultConcurrency bounds the Graph writes apply runs at once for independent changes
// (user and group assignments). Graph throttles writes per app and tenant (3,000 per
// 2 min 30 s); eight in flight stays well within it at real latencies, and the client's
// retry middleware waits out a 429 if a burst still meets one.
const DefaultConcurrency = 8

// DefaultExchangeConcurrency bounds the Exchange reads and writes in flight. The Exchange
// admin endpoint's per-tenant budget is unpublished and small; the Exchange client's own
// MaxConcurrency caps this further.
const DefaultExchangeConcurrency = 3

func (e *Engine) concurrency() int {
	if e.Concurrency > 0 {
		return e.Concurrency
	}
	return DefaultConcurrency
}

func (e *Engine) exchangeConcurrency() int {
	if e.ExchangeConcurrency > 0 {
		return e.ExchangeConcurrency
	}
	return DefaultExchangeConcurrency
}

// clock is the clock plans measure expiry against and secrets are dated on: the Graph
// client's, so tests on a fake clock get deterministic plans, retries and dates alike.
func (e *Engine) clock() clock.Clock { return clock.Or(e.Graph.Clock()) }

func (e *Engine) now() time.Time { return e.clock().Now() }

// retry runs op, retrying replication-lag answers when fresh says an object it references
// was created moments ago. Other errors come back at once, readable.
func (e *Engine) retry(ctx context.Context, fresh bool, op func(context.Context) error) error {
	err := e.Graph.Retry(ctx, op, func(err error) bool { return fresh && graph.IsReplicationLag(err) })
	return graph.Wrap(err)
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
	observed, err := e.Observe(ctx, wants, ObserveOptions{SecretsOnly: opts.SecretsOnly})
	if err != nil {
		return nil, fmt.Errorf("observe tenant: %w", err)
	}
	p := &Plan{FormatVersion: FormatVersion, Changes: []Change{}, Warnings: []Warning{}, Secrets: []SecretStatus{}}
	var probs manifests.Diagnostics
	for i, w := range wants {
		d := planDocument(w, observed[i], opts)
		probs = append(probs, d.probs...)
		p.Changes = append(p.Changes, d.changes...)
		p.Warnings = append(p.Warnings, d.warnings...)
		p.Secrets = append(p.Secrets, d.secrets...)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	sortPlan(p.Changes, opts)
	p.Fingerprint = fingerprint(observed)
	if len(opts.Targets) > 0 {
		p.Changes, p.Warnings = target(p.Changes, p.Warnings, opts.Targets)
	}
	return p, nil
}

// fingerprint is a digest of an observation.
func fingerprint(observed []*Observed) string {
	b, err := json.Marshal(observed)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
