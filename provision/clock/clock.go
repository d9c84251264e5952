// Package clock lets time be injected: production code reads the wall clock and really
// sleeps, tests use a Fake whose Sleep advances time at once, so retry and replication-lag
// tests run in milliseconds while every component sees the same simulated time.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the time and waits.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep blocks for d or until ctx is done, whichever is first, and returns ctx.Err() in
	// the second case. A Fake returns at once after advancing its time by d.
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is the wall clock.
type Real struct{}

// Or returns c, or the wall clock when c is nil: what every component given an optional
// clock falls back to.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Sleep waits for d or for ctx to be done.
func (Real) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Fake is a manual clock, safe for concurrent use. Sleep advances it instead of waiting.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a Fake that starts at start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the fake time forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// Set moves the fake time to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}

// Sleep advances the fake time by d and returns at once (or ctx.Err() if ctx is done).
func (f *Fake) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		f.Advance(d)
	}
	return nil
}
