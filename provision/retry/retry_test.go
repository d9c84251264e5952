package retry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/clock"
)

func epoch() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }

func TestParseRetryAfter(t *testing.T) {
	now := epoch()
	type result struct {
		Wait time.Duration
		OK   bool
	}
	cases := []struct {
		reason string
		value  string
		want   result
	}{
		{reason: "absent header: no server wait", value: "", want: result{}},
		{reason: "delay seconds", value: "7", want: result{Wait: 7 * time.Second, OK: true}},
		{reason: "fractional seconds, padded", value: " 0.5 ", want: result{Wait: 500 * time.Millisecond, OK: true}},
		{reason: "zero is a wait of zero, still sent", value: "0", want: result{OK: true}},
		{reason: "negative delay counts as zero", value: "-3", want: result{OK: true}},
		{reason: "HTTP date in the future", value: "Sun, 22 Nov 2026 12:00:30 GMT", want: result{Wait: 30 * time.Second, OK: true}},
		{reason: "HTTP date in the past counts as zero", value: "Sun, 22 Nov 2026 11:00:00 GMT", want: result{OK: true}},
		{reason: "garbage is not a Retry-After", value: "soon", want: result{}},
	}
	for _, c := range cases {
		t.Run(c.reason, func(t *testing.T) {
			wait, ok := ParseRetryAfter(c.value, now)
			if diff := cmp.Diff(c.want, result{Wait: wait, OK: ok}); diff != "" {
				t.Errorf("ParseRetryAfter(%q) (-want +got):\n%s", c.value, diff)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		reason string
		policy Policy
		n      int
		full   time.Duration // the un-jittered wait; the result lies in [full/2, full]
	}{
		{reason: "first retry waits about base", policy: Policy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}, n: 1, full: 100 * time.Millisecond},
		{reason: "each attempt doubles by default", policy: Policy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}, n: 3, full: 400 * time.Millisecond},
		{reason: "capped at MaxDelay", policy: Policy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}, n: 5, full: time.Second},
		{reason: "a huge attempt number does not overflow past the cap", policy: Policy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}, n: 200, full: time.Second},
		{reason: "a gentler multiplier grows by it", policy: Policy{BaseDelay: 200 * time.Millisecond, MaxDelay: time.Minute, Multiplier: 1.5}, n: 3, full: 450 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.reason, func(t *testing.T) {
			for range 50 {
				got := c.policy.Backoff(c.n)
				if got < c.full/2 || got > c.full {
					t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", c.n, got, c.full/2, c.full)
				}
			}
		})
	}
}

func TestOr(t *testing.T) {
	d := Policy{MaxAttempts: 6, BaseDelay: time.Second, MaxDelay: 30 * time.Second, MaxElapsed: 3 * time.Minute, Multiplier: 2}
	got := Policy{BaseDelay: 200 * time.Millisecond, MaxAttempts: -1}.Or(d)
	want := Policy{MaxAttempts: -1, BaseDelay: 200 * time.Millisecond, MaxDelay: 30 * time.Second, MaxElapsed: 3 * time.Minute, Multiplier: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Or kept the set fields and filled the rest (-want +got):\n%s", diff)
	}
}

// throttled is an error with a server wait, as graph.Error and exchange.Error are.
type throttled struct{ after time.Duration }

func (e throttled) Error() string { return fmt.Sprintf("throttled, retry after %s", e.after) }

func (e throttled) ServerWait(time.Time) (time.Duration, bool) { return e.after, true }

func TestDo(t *testing.T) {
	transient := errors.New("transient")
	fatal := errors.New("fatal")
	policy := Policy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, MaxElapsed: 10 * time.Second}
	cases := []struct {
		reason    string
		policy    Policy
		errs      []error // one per attempt, then success
		always    error   // fail every attempt with this instead
		wantCalls int
		wantErr   string // substring; empty means success
		// the fake time Do waited lies in [minWait, maxWait]
		minWait, maxWait time.Duration
	}{
		{reason: "success at once waits nothing", policy: policy, wantCalls: 1},
		{reason: "two transient failures, then success, with backoff between",
			policy: policy, errs: []error{transient, transient}, wantCalls: 3,
			minWait: 150 * time.Millisecond, maxWait: 300 * time.Millisecond},
		{reason: "a server wait replaces the backoff", policy: policy,
			errs: []error{fmt.Errorf("wrapped: %w", throttled{after: 3 * time.Second})}, wantCalls: 2,
			minWait: 3 * time.Second, maxWait: 3 * time.Second},
		{reason: "an error retryable rejects stops at once", policy: policy, errs: []error{fatal}, wantCalls: 1, wantErr: "fatal"},
		{reason: "attempts are bounded", policy: Policy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second},
			always: transient, wantCalls: 3, wantErr: "gave up after 3 attempts",
			minWait: 150 * time.Millisecond, maxWait: 300 * time.Millisecond},
		{reason: "a server wait past the budget is not made", policy: policy,
			always: throttled{after: time.Minute}, wantCalls: 1, wantErr: "gave up after 1 attempts"},
		{reason: "the total wait stays within MaxElapsed", policy: policy, always: transient,
			wantErr: "gave up", minWait: 5 * time.Second, maxWait: 10 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			clk := clock.NewFake(epoch())
			calls := 0
			err := Do(context.Background(), clk, tc.policy, func(context.Context) error {
				calls++
				if tc.always != nil {
					return tc.always
				}
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			}, func(err error) bool { return !errors.Is(err, fatal) })
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Do: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Do error = %v, want one containing %q", err, tc.wantErr)
			}
			if tc.wantCalls != 0 && calls != tc.wantCalls {
				t.Errorf("op ran %d times, want %d", calls, tc.wantCalls)
			}
			if waited := clk.Now().Sub(epoch()); waited < tc.minWait || waited > tc.maxWait {
				t.Errorf("Do waited %s, want within [%s, %s]", waited, tc.minWait, tc.maxWait)
			}
		})
	}
}

func TestDoStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Do(ctx, clock.NewFake(epoch()), Policy{BaseDelay: time.Second}, func(context.Context) error {
		calls++
		cancel()
		return errors.New("transient")
	}, func(error) bool { return true })
	if err == nil || calls != 1 {
		t.Errorf("Do after cancellation: err %v after %d calls, want the last error after 1", err, calls)
	}
}

func TestThrottledAttemptsDoNotCountAgainstMaxAttempts(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	calls := 0
	// Ten throttled answers, then two failures, then success: the failures are what the
	// three attempts of MaxAttempts are for; the service's waits are bounded by time only.
	err := Do(context.Background(), clk, Policy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxElapsed: time.Minute}, func(context.Context) error {
		calls++
		switch {
		case calls <= 10:
			return throttled{after: time.Second}
		case calls <= 12:
			return errors.New("500")
		}
		return nil
	}, func(error) bool { return true })
	if err != nil || calls != 13 {
		t.Errorf("Do = %v after %d calls, want success after 13 (10 throttled, 2 failed, 1 ok)", err, calls)
	}
	calls = 0
	err = Do(context.Background(), clk, Policy{MaxAttempts: 3, MaxElapsed: 5 * time.Second}, func(context.Context) error {
		calls++
		return throttled{after: time.Second}
	}, func(error) bool { return true })
	if err == nil || calls != 6 {
		t.Errorf("Do under endless throttling = %v after %d calls, want to give up at the 5 s budget, after 6", err, calls)
	}
}
