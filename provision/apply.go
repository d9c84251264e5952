package provision

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
)

// ChangeResult is the outcome of one change of a plan.
type ChangeResult struct {
	Address string
	Kind    Kind
	Action  Action
	// ID is the object's id after the change (a created object's new id), when it has one.
	ID string
	// Err is why the change failed; nil on success. Skipped changes carry ErrSkipped.
	Err error
}

// ErrSkipped marks a change not attempted because an earlier change of the same
// application failed or the run was cancelled; the next apply picks it up.
var ErrSkipped = errors.New("skipped")

// ApplyResult is what an apply did, change by change, in plan order.
type ApplyResult struct {
	Results []ChangeResult
}

// Counts returns how many changes were applied, failed and skipped.
func (r *ApplyResult) Counts() (applied, failed, skipped int) {
	for _, c := range r.Results {
		switch {
		case c.Err == nil:
			applied++
		case errors.Is(c.Err, ErrSkipped):
			skipped++
		default:
			failed++
		}
	}
	return applied, failed, skipped
}

// appState is what apply knows of one application as its changes run: ids from the plan,
// completed by the ids creates return. fresh marks objects created in this run, whose
// dependants must ride out replication lag.
type appState struct {
	objectID, appID, spID string
	freshApp, freshSP     bool
	spAnswered            bool // a read of the fresh service principal answered (see batchWrites)
	failed                bool
}

// learn records the ids a change's target knows, without overwriting ids created in this run.
func (st *appState) learn(t Target) {
	if st.appID == "" {
		st.appID = t.AppID
	}
	if st.spID == "" {
		st.spID = t.ServicePrincipalID
	}
	if st.objectID == "" {
		if spec, ok := t.Spec.(*SecretSpec); ok {
			st.objectID = spec.ApplicationID
		}
	}
}

// Apply carries out p's changes in order, stage by stage (see the kind contract): the
// application, its service principal, consent, secrets, user assignments, Send-As. Ids a
// create produces flow to the changes after it. Every change is idempotent (creating what
// exists reconciles it, deleting what is gone succeeds), so a failed or interrupted apply is
// finished by planning and applying again. When an application's change fails, its later
// changes are skipped; other applications go on. Cancelling ctx lets the changes in flight
// finish, then skips the rest. progress, if not nil, is called after each change, never
// concurrently.
func (e *Engine) Apply(ctx context.Context, p *Plan, progress func(ChangeResult)) (*ApplyResult, error) {
	run := &applyRun{e: e, states: map[string]*appState{}, progress: progress}
	result := &ApplyResult{Results: make([]ChangeResult, len(p.Changes))}
	for from := 0; from < len(p.Changes); {
		n := 1
		for from+n < len(p.Changes) && p.Changes[from+n].Kind.stage() == p.Changes[from].Kind.stage() {
			n++
		}
		run.stage(ctx, p.Changes[from:from+n], result.Results[from:from+n])
		from += n
	}
	applied, failed, skipped := result.Counts()
	if failed > 0 || skipped > 0 {
		var errs []error
		for _, r := range result.Results {
			if r.Err != nil && !errors.Is(r.Err, ErrSkipped) {
				errs = append(errs, r.Err)
			}
		}
		if len(errs) == 0 {
			errs = append(errs, context.Cause(ctx))
		}
		return result, fmt.Errorf("apply: %d applied, %d failed, %d skipped; every change is idempotent, so running the command again finishes the job: %w",
			applied, failed, skipped, errors.Join(errs...))
	}
	return result, nil
}

// applyRun is the scheduler of one Apply: it owns the applications' states, skipping,
// failure, cancellation and progress, for every kind alike.
type applyRun struct {
	e        *Engine
	states   map[string]*appState
	progress func(ChangeResult)
	mu       sync.Mutex // guards appState.failed, the results and progress
}

// stateOf returns the state of t's application, made on first use, having learnt t's ids.
func (run *applyRun) stateOf(t Target) *appState {
	st := run.states[t.App]
	if st == nil {
		st = &appState{}
		run.states[t.App] = st
	}
	st.learn(t)
	return st
}

// stage applies the changes of one stage into results: first in $batch calls for the kinds
// that batch, then one by one (at most the kinds' bound at once) for the rest. A change whose
// application failed in an earlier stage, or that would start after ctx is cancelled, is
// skipped; in a stage that runs one change at a time, a failure also skips the application's
// later changes of the stage.
func (run *applyRun) stage(ctx context.Context, cs []Change, results []ChangeResult) {
	e := run.e
	sts := make([]*appState, len(cs))
	done := make([]bool, len(cs))
	bound := 1
	for i := range cs {
		sts[i] = run.stateOf(cs[i].Target)
		results[i] = ChangeResult{Address: cs[i].Address, Kind: cs[i].Kind, Action: cs[i].Action}
		bound = max(bound, e.boundOf(cs[i].Kind))
	}
	skipped := func(i int) bool { return ctx.Err() != nil || sts[i].failed }
	failedBefore := make([]bool, len(cs))
	for i := range cs {
		failedBefore[i] = sts[i].failed
	}
	finish := func(i int, id string, err error) {
		run.mu.Lock()
		defer run.mu.Unlock()
		if err != nil && !errors.Is(err, ErrSkipped) {
			sts[i].failed = true
			err = fmt.Errorf("%s: %w", cs[i].Address, err)
		}
		results[i].ID, results[i].Err, done[i] = id, err, true
		if run.progress != nil {
			run.progress(results[i])
		}
	}

	e.batchWrites(ctx, cs, sts, bound, func(i int) bool { return failedBefore[i] || ctx.Err() != nil },
		func(i int, id string) { finish(i, id, nil) })

	var rest []int
	for i := range cs {
		if !done[i] {
			rest = append(rest, i)
		}
	}
	one := func(i int) {
		// The change in flight finishes even if ctx is cancelled meanwhile: stopping between
		// a create and recording its id would leave work for no one.
		k := kindNamed(cs[i].Kind)
		if k == nil {
			finish(i, "", fmt.Errorf("apply %s: kind %s is not supported by this version", cs[i].Action, cs[i].Kind))
			return
		}
		var id string
		err := recovered(func() error {
			var err error
			id, err = k.apply(context.WithoutCancel(ctx), e, &cs[i], sts[i])
			return err
		})()
		finish(i, id, err)
	}
	if bound == 1 {
		for _, i := range rest {
			run.mu.Lock()
			skip := skipped(i)
			run.mu.Unlock()
			if skip {
				finish(i, "", ErrSkipped)
				continue
			}
			one(i)
		}
		return
	}
	// Independent changes: a sibling's failure does not skip the others (they do not depend
	// on it), but it marks the application failed for the stages after.
	var g errgroup.Group
	g.SetLimit(bound)
	for _, i := range rest {
		if failedBefore[i] || ctx.Err() != nil {
			finish(i, "", ErrSkipped)
			continue
		}
		g.Go(func() error {
			one(i)
			return nil
		})
	}
	_ = g.Wait()
}
