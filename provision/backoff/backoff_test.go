package backoff

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
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

func TestJittered(t *testing.T) {
	base, maxDelay := 100*time.Millisecond, time.Second
	cases := []struct {
		reason string
		n      int
		full   time.Duration // the un-jittered wait; the result lies in [full/2, full]
	}{
		{reason: "first retry waits about base", n: 1, full: 100 * time.Millisecond},
		{reason: "each attempt doubles", n: 3, full: 400 * time.Millisecond},
		{reason: "capped at maxDelay", n: 5, full: time.Second},
		{reason: "a huge attempt number does not overflow past the cap", n: 200, full: time.Second},
	}
	for _, c := range cases {
		t.Run(c.reason, func(t *testing.T) {
			for range 50 {
				got := Jittered(c.n, base, maxDelay)
				if got < c.full/2 || got > c.full {
					t.Fatalf("Jittered(%d) = %s, want within [%s, %s]", c.n, got, c.full/2, c.full)
				}
			}
		})
	}
}
