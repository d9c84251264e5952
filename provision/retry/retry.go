// Package retry is the one retry policy and loop provision's clients share (Graph, the
// Exchange admin API, the sign-in check of a new secret): jittered exponential backoff or the
// Retry-After a server sent, bounded by attempts and by a total budget, waiting on an
// injected clock; and the rules saying which failed requests may be sent again.
//
// A request may be repeated when repeating it cannot do twice what the first did: a read, a
// PATCH that sets properties, a DELETE, a PUT, or anything the server said it did not process
// (429, a 503 with Retry-After, a connection that was never made). A POST whose answer was a
// server error or never came may have been applied; it is not repeated here, and the caller
// looks the object up instead.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/provisionhq/provision/provision/clock"
)

// Policy bounds a retry loop. Zero fields take the defaults given to Or.
type Policy struct {
	// MaxAttempts counts the first try; zero or less means no limit (MaxElapsed bounds the loop).
	MaxAttempts int
	// BaseDelay is the first backoff; each later one is Multiplier times the one before, up to
	// MaxDelay. The wait is drawn between half and all of it (jitter), so clients retrying
	// together spread out.
	BaseDelay time.Duration
	// MaxDelay caps one backoff. A server's Retry-After is honoured as sent, up to MaxElapsed.
	MaxDelay time.Duration
	// MaxElapsed caps the total time spent waiting; a wait that would pass it is not made.
	MaxElapsed time.Duration
	// Multiplier is the growth of successive backoffs; values at or below 1 mean 2.
	Multiplier float64
}

// Or returns p with its zero fields taken from d.
func (p Policy) Or(d Policy) Policy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = d.MaxElapsed
	}
	if p.Multiplier <= 1 {
		p.Multiplier = d.Multiplier
	}
	return p
}

// Backoff is the jittered wait after failed attempt n (1-based): BaseDelay grown n-1 times,
// capped at MaxDelay, then drawn between half and all of it.
func (p Policy) Backoff(n int) time.Duration {
	m := p.Multiplier
	if m <= 1 {
		m = 2
	}
	d := float64(p.BaseDelay)
	for i := 1; i < n && d < float64(p.MaxDelay); i++ {
		d *= m
	}
	if p.MaxDelay > 0 {
		d = min(d, float64(p.MaxDelay))
	}
	full := time.Duration(min(d, math.MaxInt64/2))
	half := full / 2
	return half + rand.N(half+1)
}

// exhausted reports whether another wait of wait after attempt attempts is not allowed.
func (p Policy) exhausted(attempt int, elapsed, wait time.Duration) bool {
	return (p.MaxAttempts > 0 && attempt >= p.MaxAttempts) || (p.MaxElapsed > 0 && elapsed+wait > p.MaxElapsed)
}

// Loop is the bookkeeping of one retry loop: attempts made and time spent on its clock. Start
// one per request or operation; it is not safe for concurrent use.
type Loop struct {
	policy  Policy
	clock   clock.Clock
	start   time.Time
	attempt int
	// throttled counts the attempts the server answered with a wait of its own (429 or 503
	// with Retry-After): they say the request was not processed, and MaxElapsed alone bounds
	// them, so a busy service does not use up the attempts meant for failures.
	throttled    int
	serverWaited bool
}

// Start begins a loop under p on clk (nil: the wall clock), before the first attempt.
func (p Policy) Start(clk clock.Clock) *Loop {
	clk = clock.Or(clk)
	return &Loop{policy: p, clock: clk, start: clk.Now(), attempt: 1}
}

// Attempt is the number of the attempt about to be made or just made, from 1.
func (l *Loop) Attempt() int { return l.attempt }

// Elapsed is the time since the loop started.
func (l *Loop) Elapsed() time.Duration { return l.clock.Now().Sub(l.start) }

// Wait is the wait before the next attempt: the server's when it gave one (ok), else the
// policy's backoff for the attempt just made.
func (l *Loop) Wait(server time.Duration, ok bool) time.Duration {
	l.serverWaited = ok
	if ok {
		return max(server, 0)
	}
	return l.policy.Backoff(l.attempt - l.throttled)
}

// Spent reports whether the policy forbids waiting wait for another attempt: the attempts
// are used up (throttled ones do not count), or the wait would pass the total budget.
func (l *Loop) Spent(wait time.Duration) bool {
	counted := l.attempt - l.throttled
	if l.serverWaited {
		counted-- // this attempt was throttled too
	}
	return l.policy.exhausted(max(counted, 0), l.Elapsed(), wait)
}

// Sleep waits wait on the loop's clock and counts the next attempt; it returns ctx's error
// when ctx ends first. Call Spent before.
func (l *Loop) Sleep(ctx context.Context, wait time.Duration) error {
	if err := l.clock.Sleep(ctx, wait); err != nil {
		return err
	}
	if l.serverWaited {
		l.throttled++
	}
	l.attempt++
	return nil
}

// ServerWaiter is implemented by errors that carry the wait a server asked for (Retry-After),
// so Do waits that instead of its backoff.
type ServerWaiter interface {
	ServerWait(now time.Time) (time.Duration, bool)
}

// Do runs op until it succeeds, returns an error retryable rejects, or the policy is spent,
// waiting on clk between attempts (the server's Retry-After when the error carries one, see
// ServerWaiter). The final error wraps the last one, so classifiers still see it.
func Do(ctx context.Context, clk clock.Clock, p Policy, op func(context.Context) error, retryable func(error) bool) error {
	loop := p.Start(clk)
	for {
		err := op(ctx)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		var sw ServerWaiter
		var server time.Duration
		ok := false
		if errors.As(err, &sw) {
			server, ok = sw.ServerWait(loop.clock.Now())
		}
		wait := loop.Wait(server, ok)
		if loop.Spent(wait) {
			return fmt.Errorf("gave up after %d attempts in %s: %w", loop.Attempt(), loop.Elapsed().Round(time.Millisecond), err)
		}
		if serr := loop.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("wait to retry: %w (last error: %w)", serr, err)
		}
	}
}

// ParseRetryAfter reads a Retry-After value, delay seconds or an HTTP date; a negative delay
// or a past date is a wait of zero. ok is false when v is empty or neither form.
func ParseRetryAfter(v string, now time.Time) (wait time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || math.IsNaN(secs) {
			secs = 0
		}
		return time.Duration(min(secs, float64(math.MaxInt64/2)/float64(time.Second)) * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
