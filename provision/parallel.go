package provision

import (
	"context"
	"errors"
	"fmt"
	"sync"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// DefaultConcurrency bounds the Graph writes apply runs at once for independent changes
// (user and group assignments). Graph throttles writes per app and tenant (3,000 per
// 2 min 30 s); eight in flight stays well within it at real latencies, and the client's
// retry middleware waits out a 429 if a burst still meets one.
const DefaultConcurrency = 8

func (e *Engine) concurrency() int {
	if e.Concurrency > 0 {
		return e.Concurrency
	}
	return DefaultConcurrency
}

// parallelBound says how many changes of kind k may run at once; 1 for the kinds whose
// changes depend on one another (an application before its service principal, ...).
func (e *Engine) parallelBound(k Kind) int {
	switch k {
	case KindUserAssignment:
		return e.concurrency()
	case KindSendAs:
		return e.exchangeConcurrency()
	}
	return 1
}

// parallelRun counts the changes at the head of cs that may run together: consecutive
// changes of one kind that runs in parallel. The kinds keep their order: the run ends at
// the first change of another kind.
func (e *Engine) parallelRun(cs []Change) int {
	if len(cs) == 0 || e.parallelBound(cs[0].Kind) <= 1 {
		return 0
	}
	n := 1
	for n < len(cs) && cs[n].Kind == cs[0].Kind {
		n++
	}
	return n
}

// forEachBounded calls f(ctx, i) for i in [0, n), at most bound at a time, and returns the
// first error; after an error, calls not yet started are not made.
func forEachBounded(ctx context.Context, n, bound int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, max(bound, 1))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(ctx, i); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return context.Cause(ctx)
}

// applyParallel runs cs, changes of one kind independent of one another, at most
// parallelBound at a time, and returns their results in plan order. Assignments go first in
// $batch calls (see batchWrites); what a batch did not settle, and every Send-As grant,
// is applied one change per request. A failure does not stop its siblings (they do not depend
// on it) but marks the application failed, so the kinds after it are skipped as in a
// sequential run. progress is called as each change finishes, never concurrently.
func (e *Engine) applyParallel(ctx context.Context, cs []Change, states map[string]*appState, progress func(ChangeResult)) []ChangeResult {
	results := make([]ChangeResult, len(cs))
	sts := make([]*appState, len(cs))
	skip := make([]bool, len(cs)) // a sibling's failure does not skip the others
	for i := range cs {
		sts[i] = stateOf(states, cs[i].Target)
		skip[i] = sts[i].failed || ctx.Err() != nil
	}
	var mu sync.Mutex // guards appState.failed, done and progress
	done := make([]bool, len(cs))
	finish := func(i int, r ChangeResult) {
		mu.Lock()
		defer mu.Unlock()
		if r.Err != nil && !errors.Is(r.Err, ErrSkipped) {
			sts[i].failed = true
		}
		results[i], done[i] = r, true
		if progress != nil {
			progress(r)
		}
	}
	if cs[0].Kind == KindUserAssignment {
		// Assignments go in $batch calls, several at once (the Graph bound), so 2,000 of them
		// cost about a hundred round trips instead of 2,000.
		e.batchWrites(ctx, cs, e.concurrency(), func(i int) (*abstractions.RequestInformation, error) {
			if skip[i] || sts[i].spID == "" {
				return nil, nil
			}
			return e.appRoleAssignmentRequest(ctx, &cs[i], sts[i].spID, cs[i].Target.PrincipalID)
		}, func(i int, id string) {
			finish(i, ChangeResult{Address: cs[i].Address, Kind: cs[i].Kind, Action: cs[i].Action, ID: id})
		})
	}
	var rest []int
	for i := range cs {
		if !done[i] {
			rest = append(rest, i)
		}
	}
	// Changes start until ctx is cancelled; those in flight finish (see Apply).
	_ = forEachBounded(context.WithoutCancel(ctx), len(rest), e.parallelBound(cs[0].Kind), func(_ context.Context, k int) error {
		i := rest[k]
		c := &cs[i]
		r := ChangeResult{Address: c.Address, Kind: c.Kind, Action: c.Action}
		switch {
		case ctx.Err() != nil, skip[i]:
			// The run's error says why (the failure, or the cancellation).
			r.Err = ErrSkipped
		default:
			r.ID, r.Err = e.applyChange(context.WithoutCancel(ctx), c, sts[i])
			if r.Err != nil {
				r.Err = fmt.Errorf("%s: %w", c.Address, r.Err)
			}
		}
		finish(i, r)
		return nil
	})
	return results
}
