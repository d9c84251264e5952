package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/retry"
)

// The directory replicates writes asynchronously: for a while after a write, a read that
// lands on another replica does not show it, and two reads a second apart can disagree. So
// apply returns only once reads show what it wrote: it observes the tenant again until the
// plan of what it just applied is empty, ConfirmReads times in a row, the last of them at
// least ConfirmSpan after the wait began, so after the last write. One clean read is not
// enough (it may have landed on the one replica that had the write); clean reads once every
// write is as old as the replication a directory shows on an ordinary day make it very
// likely that the user's next plan, wherever it lands, agrees too. The span runs from the
// writes, not from the first clean read: a write still replicating when the wait begins is
// confirmed as soon as it shows, a few reads apart, instead of a whole span after.

// Wait defaults. Three clean reads over two seconds cost nine Graph round trips and two
// seconds on an apply that changed something, and nothing on one that did not.
const (
	DefaultWaitTimeout  = 3 * time.Minute
	DefaultConfirmReads = 3
	DefaultConfirmSpan  = 2 * time.Second
	// firstPoll is the first wait between reads that still miss a write; it doubles (with
	// jitter) up to twice itself during the confirmation span, up to maxPoll after it.
	firstPoll = 250 * time.Millisecond
	maxPoll   = 2 * time.Second
	// confirmPoll is the least wait between two clean reads. Once every write is older than
	// the span, what the confirmations test is whether reads landing on other replicas agree,
	// not whether time has passed, so they follow each other closely.
	confirmPoll = firstPoll / 2
	// probePoll is how often a probe reads an object created moments ago (see Engine.probe);
	// it grows to twice itself.
	probePoll = 150 * time.Millisecond
)

// WaitOptions tune AwaitVisible. The zero value uses the defaults.
type WaitOptions struct {
	// Timeout bounds the wait; 0 means DefaultWaitTimeout (callers that do not want to wait
	// do not call AwaitVisible).
	Timeout time.Duration
	// ConfirmReads is how many clean reads in a row end the wait; ConfirmSpan is the least
	// time from the start of the wait to the last of them.
	ConfirmReads int
	ConfirmSpan  time.Duration
	// Progress, when set, is told after each read that still misses something what is still
	// not visible and how long the wait has lasted.
	Progress func(pending []Change, waited time.Duration)
}

// NotVisibleError is returned by AwaitVisible when the bound passed before the directory
// showed every change: the writes were made, and the next plan or apply converges.
type NotVisibleError struct {
	Pending []Change
	Waited  time.Duration
}

// Error names what is still not visible.
func (e *NotVisibleError) Error() string {
	addrs := make([]string, len(e.Pending))
	for i, c := range e.Pending {
		addrs[i] = string(c.Action) + " " + c.Address
	}
	return fmt.Sprintf("the directory still does not show %d change(s) after %s: %s; they were applied, and the next "+
		"plan or apply shows whether they have replicated (raise --wait-timeout to wait longer)",
		len(e.Pending), e.Waited.Round(time.Second), strings.Join(addrs, ", "))
}

// AwaitVisible observes the tenant again after an apply until the plan of docs (with opts,
// but never forcing a rotation) shows none of the changes res applied, as the wait rules
// above say. A change at an applied address, or under one (a credential of an applied
// secret), that the plan still proposes is what is not visible yet. It returns nil at once
// when res applied nothing, a *NotVisibleError when the bound passes, and the error of a
// read that failed for another reason than lag when the bound passes with it.
func (e *Engine) AwaitVisible(ctx context.Context, docs []*manifests.Document, opts PlanOptions, res *ApplyResult, w WaitOptions) error {
	applied := map[string]Kind{}
	for _, r := range res.Results {
		if r.Err == nil {
			applied[r.Address] = r.Kind
		}
	}
	if len(applied) == 0 {
		return nil
	}
	w = w.withDefaults()
	opts.ForceRotate, opts.Now = false, time.Time{}
	clk := e.clock()
	start := clk.Now()
	clean, unclean := 0, 0
	var lastErr error
	var pending []Change
	for {
		p, err := e.PlanWith(ctx, docs, opts)
		switch {
		case err != nil:
			lastErr, clean = err, 0
		default:
			lastErr = nil
			pending = pendingOf(p, applied)
			if len(pending) == 0 {
				clean++
				if clean >= w.ConfirmReads && clk.Now().Sub(start) >= w.ConfirmSpan {
					return nil
				}
			} else {
				clean = 0
				if w.Progress != nil {
					w.Progress(pending, clk.Now().Sub(start))
				}
			}
		}
		var wait time.Duration
		if clean > 0 {
			// Confirmations are spread evenly over what is left of the span, confirmPoll
			// apart at least.
			left := w.ConfirmSpan - clk.Now().Sub(start)
			wait = max(left/time.Duration(max(w.ConfirmReads-clean, 1)), confirmPoll)
		} else {
			// Within the span (an ordinary day's replication) writes are about to show:
			// read again soon, so the wait ends soon after they do. Past it the directory
			// is slow, and reads back off.
			unclean++
			ceiling := maxPoll
			if clk.Now().Sub(start) < w.ConfirmSpan {
				ceiling = 2 * firstPoll
			}
			wait = retry.Policy{BaseDelay: firstPoll, MaxDelay: ceiling}.Backoff(unclean)
		}
		waited := clk.Now().Sub(start)
		if waited+wait > w.Timeout {
			if lastErr != nil && len(pending) == 0 {
				return fmt.Errorf("confirm the applied changes are visible: %w", lastErr)
			}
			if len(pending) == 0 {
				return nil // every read was clean; the bound came before the last confirmation
			}
			return &NotVisibleError{Pending: pending, Waited: waited}
		}
		if err := clk.Sleep(ctx, wait); err != nil {
			if errors.Is(err, context.Canceled) && len(pending) > 0 {
				return &NotVisibleError{Pending: pending, Waited: clk.Now().Sub(start)}
			}
			return err
		}
	}
}

func (w WaitOptions) withDefaults() WaitOptions {
	if w.Timeout <= 0 {
		w.Timeout = DefaultWaitTimeout
	}
	if w.ConfirmReads <= 0 {
		w.ConfirmReads = DefaultConfirmReads
	}
	if w.ConfirmSpan <= 0 {
		w.ConfirmSpan = DefaultConfirmSpan
	}
	return w
}

// pendingOf returns the changes of p at an applied address, or of the same kind under one (a
// credential of a rotated secret).
func pendingOf(p *Plan, applied map[string]Kind) []Change {
	var out []Change
	for _, c := range p.Changes {
		if _, ok := applied[c.Address]; ok || underApplied(c, applied) {
			out = append(out, c)
		}
	}
	return out
}

// underApplied reports whether c lies under an applied address of its own kind
// (a.b["x"] under a.b).
func underApplied(c Change, applied map[string]Kind) bool {
	for a, k := range applied {
		if k == c.Kind && strings.HasPrefix(c.Address, a) && len(c.Address) > len(a) && (c.Address[len(a)] == '.' || c.Address[len(a)] == '[') {
			return true
		}
	}
	return false
}
