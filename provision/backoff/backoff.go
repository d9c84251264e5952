// Package backoff is the wait between two attempts that the Graph and Exchange Online clients
// share: jittered exponential backoff, or the Retry-After a server sent.
package backoff

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Jittered is the wait after failed attempt n (1-based): base doubled n-1 times, capped at
// maxDelay, then drawn between half and all of it, so clients retrying together spread out.
func Jittered(n int, base, maxDelay time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	half := d / 2
	return half + rand.N(half+1)
}

// ParseRetryAfter reads a Retry-After value, delay seconds or an HTTP date; a negative delay
// or a past date is a wait of zero. ok is false when v is empty or neither form.
func ParseRetryAfter(v string, now time.Time) (wait time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 {
			secs = 0
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
