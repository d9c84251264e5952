package simtenant

import (
	"context"
	"fmt"
	"io"
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
	// StaleReadRate turns the fixed lag window into replicas chosen at random: each operation
	// (a request, or an item of a $batch) lands on a replica that lags, with this probability,
	// independently of the others; a lagging replica misses every object created within
	// ReplicationLag (lists, $filter, $count, reads by id and key, writes referencing it), an
	// up-to-date one sees them. So an object can be seen, then not, then seen again. Zero keeps
	// the fixed window (every operation within the lag misses the object), as does 1.
	StaleReadRate float64
	// StallRate is the share of HTTP requests the server reads and then never processes nor
	// answers: the handler waits until the client gives up (or ReleaseStalled).
	StallRate float64
	// EmptySuccessRate is the share of successful creates and updates (POST, PATCH, PUT) that
	// are performed and answered with their success status and an empty body.
	EmptySuccessRate float64
	// LostAnswerRate is the share of successful writes (any method but GET) that are performed
	// and then answered 500, 502 or 504, or whose connection is dropped (not for an item of a
	// $batch, which gets a server error); the client cannot tell whether the write happened.
	LostAnswerRate float64
	// Seed seeds the fault randomness; 0 means 1.
	Seed uint64
}

// ParseFaults reads a fault specification such as
// "latency=50ms,throttle=0.1,retry-after=1s,5xx=0.05,drop=0.01,lag=2s" (also "throttle-every=5",
// "stale-reads=0.5", "stall=0.01", "empty-2xx=0.05", "lost-answer=0.05", "seed=7"), the value
// of PROVISION_SIMULATE_FAULTS. Rates are between 0 and 1.
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
		case "stale-reads":
			f.StaleReadRate, err = parseRate(v)
		case "stall":
			f.StallRate, err = parseRate(v)
		case "empty-2xx":
			f.EmptySuccessRate, err = parseRate(v)
		case "lost-answer":
			f.LostAnswerRate, err = parseRate(v)
		case "seed":
			f.Seed, err = strconv.ParseUint(v, 10, 64)
		default:
			return Faults{}, fmt.Errorf("parse faults: unknown fault %q (want latency, throttle, throttle-every, retry-after, 5xx, drop, lag, stale-reads, stall, empty-2xx, lost-answer, seed)", k)
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
	// lagging says whether the operation being dispatched landed on a replica that has not
	// seen the last ReplicationLag of writes; set under Tenant.mu for each operation.
	lagging bool
	counts  FaultCounts
	// stalled counts the handlers waiting now; release ends their wait when closed.
	stalled int
	release chan struct{}
}

func (s *faultState) set(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seed := f.Seed
	if seed == 0 {
		seed = 1
	}
	s.f, s.rng, s.count = f, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), 0
	s.lagging, s.counts = true, FaultCounts{}
	if s.release == nil {
		s.release = make(chan struct{})
	}
}

// FaultCounts counts the faults whose effect a request log does not show as an error status.
type FaultCounts struct {
	// LagMisses counts objects that an operation did not see because replication lagged.
	LagMisses int
	// Stalls counts requests that were never answered.
	Stalls int
	// EmptyAnswers counts creates and updates answered with an empty body.
	EmptyAnswers int
	// LostAnswers counts writes performed whose answer was a server error or a dropped connection.
	LostAnswers int
}

// FaultCounts returns the counts since New (or the last SetFaults).
func (t *Tenant) FaultCounts() FaultCounts {
	t.faults.mu.Lock()
	defer t.faults.mu.Unlock()
	return t.faults.counts
}

// StalledRequests is how many requests are stalled now, their handlers waiting for the client
// to give up. A test ends with none: a stalled request must be abandoned, not leaked.
func (t *Tenant) StalledRequests() int {
	t.faults.mu.Lock()
	defer t.faults.mu.Unlock()
	return t.faults.stalled
}

// ReleaseStalled ends the wait of every request stalled now: their connections are dropped.
// Call it before closing a server whose clients may never give up.
func (t *Tenant) ReleaseStalled() {
	t.faults.mu.Lock()
	defer t.faults.mu.Unlock()
	close(t.faults.release)
	t.faults.release = make(chan struct{})
}

func (s *faultState) get() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

// SetFaults switches the injected faults (and reseeds their randomness and zeroes FaultCounts).
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

// outerFaults applies the faults of a whole HTTP round trip: latency, dropped connections and
// stalls. It reports whether the request was dropped or stalled, and so handled.
func (t *Tenant) outerFaults(w http.ResponseWriter, r *http.Request, rq *request) bool {
	f := t.faults.get()
	if f.Latency > 0 {
		_ = realSleep(r.Context(), f.Latency)
	}
	_, ruled := t.faults.matchRule(rq.method, r.URL.Path, true)
	t.faults.mu.Lock()
	drop := ruled || t.faults.roll(f.DropRate)
	stall := !drop && t.faults.roll(f.StallRate)
	t.faults.mu.Unlock()
	switch {
	case stall:
		t.record(rq, &response{status: 0}, false, true)
		t.stall(w, r)
		return true
	case drop:
		t.record(rq, &response{status: 0}, false, true)
		dropConnection(w)
		return true
	}
	return false
}

// dropConnection closes the connection of w without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2 or a recorder: abort the stream instead
}

// stall holds a request without answering until its client gives up (the server then cancels
// r's context) or ReleaseStalled is called, in which case the connection is dropped.
func (t *Tenant) stall(w http.ResponseWriter, r *http.Request) {
	t.faults.mu.Lock()
	t.faults.stalled++
	t.faults.counts.Stalls++
	release := t.faults.release
	t.faults.mu.Unlock()
	defer func() {
		t.faults.mu.Lock()
		t.faults.stalled--
		t.faults.mu.Unlock()
	}()
	// net/http notices a client that gave up only once the request body has been read to its
	// end, which a gzip reader stops short of.
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-release:
		dropConnection(w)
	}
}

// pickReplica draws the replica the next operation lands on (see Faults.StaleReadRate). The
// caller holds t.mu, so the choice holds for the whole operation.
func (t *Tenant) pickReplica() {
	t.faults.mu.Lock()
	defer t.faults.mu.Unlock()
	rate := t.faults.f.StaleReadRate
	t.faults.lagging = rate <= 0 || t.faults.roll(rate)
}

// answerFault is what becomes of the answer to a performed operation: most often itself; for a
// write, sometimes a lost answer (a server error, or for a whole request a dropped
// connection); for a create or update, sometimes an empty body with the success status.
func (t *Tenant) answerFault(rq *request, resp *response, outer bool) *response {
	if rq.method == http.MethodGet || resp.status < 200 || resp.status > 299 {
		return resp
	}
	t.faults.mu.Lock()
	f := t.faults.f
	lost := t.faults.roll(f.LostAnswerRate)
	empty := !lost && rq.method != http.MethodDelete && (resp.body != nil || resp.text != "") && t.faults.roll(f.EmptySuccessRate)
	ways := 3
	if outer {
		ways = 4 // the fourth is a dropped connection
	}
	way := 0
	switch {
	case lost:
		way = t.faults.rng.IntN(ways)
		t.faults.counts.LostAnswers++
	case empty:
		t.faults.counts.EmptyAnswers++
	}
	t.faults.mu.Unlock()
	switch {
	case lost && way == 3:
		panic(http.ErrAbortHandler) // net/http drops the connection, the answer is never sent
	case lost:
		// Never a 503 with Retry-After: that would tell the client nothing was done.
		return t.faultResponse(rq, []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout}[way], f)
	case empty:
		return &response{status: resp.status, header: http.Header{}}
	}
	return resp
}

// exchangeAnswer returns the writer an Exchange cmdlet answers through: w itself, or, when a
// fault is to replace the answer of a write (see answerFault), a buffer that finishAnswer
// turns into that fault once the cmdlet has run.
func (t *Tenant) exchangeAnswer(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	cmdlet := strings.ToLower(r.Header.Get("X-CmdletName"))
	if strings.HasPrefix(cmdlet, "get-") {
		return w
	}
	t.faults.mu.Lock()
	defer t.faults.mu.Unlock()
	f := t.faults.f
	switch {
	case t.faults.roll(f.LostAnswerRate):
		return &heldAnswer{w: w, header: http.Header{}, lost: true, way: t.faults.rng.IntN(4), t: t}
	case t.faults.roll(f.EmptySuccessRate):
		return &heldAnswer{w: w, header: http.Header{}, t: t}
	}
	return w
}

// heldAnswer buffers a cmdlet's answer so that a fault can replace it.
type heldAnswer struct {
	w      http.ResponseWriter
	header http.Header
	status int
	body   []byte
	lost   bool // else the body is dropped
	way    int  // for a lost answer: 500, 502, 504 or a dropped connection
	t      *Tenant
}

func (h *heldAnswer) Header() http.Header { return h.header }

func (h *heldAnswer) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldAnswer) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	h.body = append(h.body, b...)
	return len(b), nil
}

// finishAnswer sends what a cmdlet answered through w, replaced by its fault if the cmdlet
// succeeded and w is a heldAnswer. Call it once the handler has recorded the operation.
func finishAnswer(w http.ResponseWriter) {
	h, ok := w.(*heldAnswer)
	if !ok {
		return
	}
	if h.status == 0 {
		h.status = http.StatusOK
	}
	success := h.status >= 200 && h.status <= 299
	if success {
		h.t.faults.mu.Lock()
		if h.lost {
			h.t.faults.counts.LostAnswers++
		} else {
			h.t.faults.counts.EmptyAnswers++
		}
		h.t.faults.mu.Unlock()
	}
	for k, v := range h.header {
		h.w.Header()[k] = v
	}
	switch {
	case !success:
		h.w.WriteHeader(h.status)
		_, _ = h.w.Write(h.body)
	case h.lost && h.way == 3:
		dropConnection(h.w)
	case h.lost:
		h.w.Header().Set("Content-Type", "application/json; charset=utf-8")
		h.w.WriteHeader([]int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout}[h.way])
		_, _ = io.WriteString(h.w, `{"error":{"code":"InternalServerError","message":"An internal server error occurred."}}`)
	default:
		h.w.Header().Del("Content-Length")
		h.w.WriteHeader(h.status)
	}
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

// visible reports whether the operation being dispatched sees an object: once it has
// replicated everywhere, always; within the lag, only on an up-to-date replica (see
// Faults.StaleReadRate). The caller holds t.mu.
func (t *Tenant) visible(e *entry) bool {
	lag := t.faultsLag()
	if lag <= 0 || !t.clock.Now().Before(e.Created.Add(lag)) {
		return true
	}
	t.faults.mu.Lock()
	defer t.faults.mu.Unlock()
	if !t.faults.lagging {
		return true
	}
	t.faults.counts.LagMisses++
	return false
}
