package simtenant

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults are the misbehaviours the tenant injects. Randomness is seeded, so a run with the same
// Faults and the same requests fails the same way.
type Faults struct {
	// Latency delays every Graph and Exchange request, on the real clock (for benchmarks).
	Latency time.Duration
	// ThrottleRate is the share of operations answered 429; ThrottleEvery throttles every Nth.
	ThrottleRate  float64
	ThrottleEvery int
	// RetryAfter is sent with each 429, in whole seconds as the service does (0 sends "0").
	RetryAfter time.Duration
	// ServerErrorRate is the share of operations answered with a 500, 502, 503 or 504.
	ServerErrorRate float64
	// DropRate is the share of HTTP requests whose connection is closed without an answer.
	DropRate float64
	// ReplicationLag is how long a new object stays invisible to reads and to writes that
	// reference it, measured on the tenant's clock.
	ReplicationLag time.Duration
	// Seed seeds the fault randomness; 0 means 1.
	Seed uint64
}

// ParseFaults reads a fault specification such as
// "latency=50ms,throttle=0.1,retry-after=1s,5xx=0.05,drop=0.01,lag=2s" (also "throttle-every=5",
// "seed=7"), the value of PROVISION_SIMULATE_FAULTS.
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return Faults{}, fmt.Errorf("parse faults: %q is not key=value", part)
		}
		var err error
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "latency":
			f.Latency, err = time.ParseDuration(v)
		case "throttle":
			f.ThrottleRate, err = parseRate(v)
		case "throttle-every":
			f.ThrottleEvery, err = strconv.Atoi(v)
		case "retry-after":
			f.RetryAfter, err = time.ParseDuration(v)
		case "5xx":
			f.ServerErrorRate, err = parseRate(v)
		case "drop":
			f.DropRate, err = parseRate(v)
		case "lag":
			f.ReplicationLag, err = time.ParseDuration(v)
		case "seed":
			f.Seed, err = strconv.ParseUint(v, 10, 64)
		default:
			return Faults{}, fmt.Errorf("parse faults: unknown fault %q (want latency, throttle, throttle-every, retry-after, 5xx, drop, lag, seed)", k)
		}
		if err != nil {
			return Faults{}, fmt.Errorf("parse faults: %s: %w", k, err)
		}
	}
	return f, nil
}

func parseRate(v string) (float64, error) {
	r, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, err
	}
	if r < 0 || r > 1 {
		return 0, fmt.Errorf("rate %v is not between 0 and 1", r)
	}
	return r, nil
}

// failRule makes the next n operations matching method and path prefix fail with status.
type failRule struct {
	method, prefix string
	remaining      int
	status         int
}

type faultState struct {
	mu    sync.Mutex
	f     Faults
	rng   *rand.Rand
	count int
	rules []*failRule
}

func (s *faultState) set(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seed := f.Seed
	if seed == 0 {
		seed = 1
	}
	s.f, s.rng, s.count = f, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), 0
}

func (s *faultState) get() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

// SetFaults switches the injected faults (and reseeds their randomness).
func (t *Tenant) SetFaults(f Faults) { t.faults.set(f) }

// FailNext makes the next n requests whose method matches (empty matches any) and whose path
// (as sent, e.g. "/v1.0/servicePrincipals") starts with pathPrefix fail with status. Status 0
// drops the connection instead. Inner requests of a $batch match with their /v1.0 path too.
func (t *Tenant) FailNext(method, pathPrefix string, n, status int) {
	t.faults.mu.Lock()
	defer t.faults.mu.Unlock()
	t.faults.rules = append(t.faults.rules, &failRule{method: method, prefix: pathPrefix, remaining: n, status: status})
}

// faultsLag returns the replication lag in force.
func (t *Tenant) faultsLag() time.Duration { return t.faults.get().ReplicationLag }

// matchRule consumes a matching FailNext rule: a drop rule when drop is set, else a status rule.
func (s *faultState) matchRule(method, path string, drop bool) (status int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rules {
		if r.remaining <= 0 || (r.method != "" && !strings.EqualFold(r.method, method)) || !strings.HasPrefix(path, r.prefix) {
			continue
		}
		if (r.status == 0) != drop {
			continue
		}
		r.remaining--
		return r.status, true
	}
	return 0, false
}

func (s *faultState) roll(rate float64) bool {
	if rate <= 0 {
		return false
	}
	return s.rng.Float64() < rate
}

// outerFaults applies the faults of a whole HTTP round trip: latency and dropped connections.
// It reports whether the request was dropped.
func (t *Tenant) outerFaults(w http.ResponseWriter, r *http.Request, rq *request) bool {
	f := t.faults.get()
	if f.Latency > 0 {
		_ = realSleep(r.Context(), f.Latency)
	}
	_, ruled := t.faults.matchRule(rq.method, r.URL.Path, true)
	t.faults.mu.Lock()
	drop := ruled || t.faults.roll(f.DropRate)
	t.faults.mu.Unlock()
	if !drop {
		return false
	}
	t.record(rq, &response{status: 0}, false, true)
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return true
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2 or a recorder: abort the stream instead
}

// operationFault decides whether one operation is throttled or fails, as each inner request of
// a $batch is throttled on its own.
func (t *Tenant) operationFault(rq *request) *response {
	f := t.faults.get()
	if status, ok := t.faults.matchRule(rq.method, rq.prefix+rq.path, false); ok {
		return t.faultResponse(rq, status, f)
	}
	t.faults.mu.Lock()
	t.faults.count++
	throttle := (f.ThrottleEvery > 0 && t.faults.count%f.ThrottleEvery == 0) || t.faults.roll(f.ThrottleRate)
	serverError := !throttle && t.faults.roll(f.ServerErrorRate)
	var status int
	if serverError {
		status = []int{500, 502, 503, 504}[t.faults.rng.IntN(4)]
	}
	t.faults.mu.Unlock()
	switch {
	case throttle:
		return t.faultResponse(rq, http.StatusTooManyRequests, f)
	case serverError:
		return t.faultResponse(rq, status, f)
	}
	return nil
}

func (t *Tenant) faultResponse(rq *request, status int, f Faults) *response {
	switch {
	case status == http.StatusTooManyRequests:
		resp := rq.graphError(status, "TooManyRequests", "Too many requests. Please retry after the time given in the Retry-After header.")
		resp.header.Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
		resp.header.Set("x-ms-throttle-scope", "Tenant_Application/ReadWrite/"+clientOf(rq)+"/"+t.TenantID())
		resp.header.Set("x-ms-throttle-information", "ResourceUnitLimitExceeded")
		return resp
	case status == http.StatusServiceUnavailable:
		resp := rq.graphError(status, "serviceNotAvailable", "The service is temporarily unavailable. Please retry later.")
		resp.header.Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
		return resp
	case status >= 500:
		return rq.graphError(status, "UnknownError", "An internal server error occurred.")
	}
	switch status {
	case http.StatusNotFound:
		return rq.graphError(status, codeNotFound, "Resource does not exist or one of its queried reference-property objects are not present.")
	case http.StatusForbidden:
		return rq.denied()
	case http.StatusConflict:
		return rq.graphError(status, "Directory_ConcurrencyViolation", "Another operation is modifying this object; retry the request.")
	}
	return rq.graphError(status, codeBadRequest, http.StatusText(status))
}

func clientOf(rq *request) string {
	if rq.caller == nil {
		return ""
	}
	return rq.caller.clientID
}

// realSleep waits on the wall clock: latency is for benchmarks, where real time is the point.
func realSleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// visible reports whether an object has replicated, i.e. whether reads may see it yet.
func (t *Tenant) visible(e *entry) bool {
	lag := t.faultsLag()
	return lag <= 0 || !t.clock.Now().Before(e.Created.Add(lag))
}
