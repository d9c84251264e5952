package provision

import (
	"slices"
	"time"

	"github.com/provisionhq/provision/manifests"
)

// PlanOptions tunes planning. The zero value is ready to use.
type PlanOptions struct {
	// Now is the time secret expiry is measured against; zero means unused.
	Now time.Time
	// SecretsOnly plans client secrets and nothing else (provision rotate); the application
	// must exist.
	SecretsOnly bool
	// ForceRotate rotates every managed secret now, whatever its expiry (rotate --force).
	ForceRotate bool
	// Destroy plans the removal of everything the manifests manage, in reverse dependency
	// order (provision destroy, plan --destroy).
	Destroy bool
	// IncludeAdopted lets Destroy delete applications that lack provision's ownership tag
	// (made elsewhere and adopted); without it they, and their service principal, are kept.
	IncludeAdopted bool
	// Targets limits the plan to the changes at these addresses (or under them) and the
	// changes they depend on; empty means everything.
	Targets []string
}

// docPlan is the planning of one document: its inputs, what kinds resolved so far for the
// kinds after them, and what they planned. Kinds plan in registry order (see the kind
// contract).
type docPlan struct {
	want Desired
	obs  *Observed
	opts PlanOptions

	// app is the registration the document means (nil: apply creates it); sp is its service
	// principal (nil: none yet).
	app *ObservedApp
	sp  *ObservedServicePrincipal
	// apis are the document's permissions resolved against the tenant's resource APIs.
	apis []resolvedAPI
	// mailboxes are the document's mailboxes resolved against the directory and Exchange.
	mailboxes []resolvedMailbox

	changes  []Change
	warnings []Warning
	secrets  []SecretStatus
	probs    manifests.Diagnostics
}

// change adds planned changes.
func (d *docPlan) change(cs ...Change) { d.changes = append(d.changes, cs...) }

// warn adds warnings.
func (d *docPlan) warn(ws ...Warning) { d.warnings = append(d.warnings, ws...) }

// problem reports a manifest value the tenant cannot satisfy, at its line.
func (d *docPlan) problem(path string, err error) {
	d.probs = append(d.probs, d.want.problem(path, err))
}

// PlanDocument compares what one manifest document wants with what the tenant holds and
// returns the changes that close the gap, sorted in apply order, plus warnings. It does no
// I/O. The error, when not nil, is a manifests.Diagnostics listing every problem found, each
// at its manifest position.
func PlanDocument(want Desired, o *Observed, opts PlanOptions) ([]Change, []Warning, error) {
	d := planDocument(want, o, opts)
	if len(d.probs) > 0 {
		return nil, nil, d.probs
	}
	return d.changes, d.warnings, nil
}

// planDocument runs every kind's planner over one document; see PlanDocument.
func planDocument(want Desired, o *Observed, opts PlanOptions) *docPlan {
	if o == nil {
		o = &Observed{}
	}
	d := &docPlan{want: want, obs: o, opts: opts}
	for _, k := range kinds() {
		if opts.SecretsOnly && !k.traits().rotation {
			continue
		}
		k.plan(d)
	}
	for i := range d.changes {
		t := &d.changes[i].Target
		t.App = want.Address
		if d.app != nil {
			t.AppID = d.app.AppID
		}
		if d.sp != nil {
			t.ServicePrincipalID = d.sp.ID
		}
	}
	sortPlan(d.changes, opts)
	return d
}

// sortPlan puts changes in apply order: SortChanges, or for a destroy plan the reverse
// dependency order (what refers to an object is removed before the object).
func sortPlan(cs []Change, opts PlanOptions) {
	SortChanges(cs)
	if opts.Destroy {
		slices.SortStableFunc(cs, func(a, b Change) int { return b.Kind.rank() - a.Kind.rank() })
	}
}

// removalReason is why a change removes an object: destroy, or the reason given.
func removalReason(d *docPlan, reason string) string {
	if d.opts.Destroy {
		return "destroy"
	}
	return reason
}
