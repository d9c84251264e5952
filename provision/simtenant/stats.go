package simtenant

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Stats counts the traffic a tenant served since New or the last ResetStats.
type Stats struct {
	// RoundTrips counts HTTP requests to Graph and Exchange (a $batch is one round trip).
	RoundTrips int
	// Operations counts Graph and Exchange operations: each request, and each inner request
	// of a $batch (the $batch envelope itself is not an operation).
	Operations int
	// TokenRequests counts requests to the identity platform.
	TokenRequests int
	// ByRoute counts operations (and $batch round trips) by method and path template, e.g.
	// "GET /v1.0/applications/{id}" or "POST /v1.0/servicePrincipals(appId='{appId}')/appRoleAssignedTo".
	ByRoute map[string]int
}

// LogEntry is one line of the request log. Paths never carry secrets or tokens (query values
// that could are redacted), bodies and headers are not kept.
type LogEntry struct {
	Method string
	Path   string // with its query
	Status int    // 0 for a dropped connection
	Batch  bool   // an inner request of a $batch
}

type statsState struct {
	mu  sync.Mutex
	s   Stats
	log []LogEntry
}

func (s *statsState) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.s = Stats{ByRoute: map[string]int{}}
	s.log = nil
}

// Stats returns a copy of the counters.
func (t *Tenant) Stats() Stats {
	t.stats.mu.Lock()
	defer t.stats.mu.Unlock()
	out := t.stats.s
	out.ByRoute = maps.Clone(out.ByRoute)
	return out
}

// ResetStats zeroes the counters and the request log.
func (t *Tenant) ResetStats() { t.stats.reset() }

// RequestLog returns the requests served, oldest first.
func (t *Tenant) RequestLog() []LogEntry {
	t.stats.mu.Lock()
	defer t.stats.mu.Unlock()
	return slices.Clone(t.stats.log)
}

// record counts one request: an operation (op), a round trip (outer), or both.
func (t *Tenant) record(rq *request, resp *response, inBatch, outer bool) {
	t.stats.mu.Lock()
	defer t.stats.mu.Unlock()
	isBatch := rq.path == "/$batch"
	if outer {
		t.stats.s.RoundTrips++
	}
	if !isBatch || inBatch {
		t.stats.s.Operations++
	}
	route := rq.prefix + routeTemplate(rq.path)
	if isExchangePath(rq.prefix + rq.path) {
		route = rq.prefix + "/adminapi/beta/{tenant}/InvokeCommand"
	}
	t.stats.s.ByRoute[rq.method+" "+route]++
	p := rq.prefix + rq.path
	if len(rq.query) > 0 {
		p += "?" + redactQuery(rq.query)
	}
	t.stats.log = append(t.stats.log, LogEntry{Method: rq.method, Path: p, Status: resp.status, Batch: inBatch})
}

func (t *Tenant) recordToken() {
	t.stats.mu.Lock()
	defer t.stats.mu.Unlock()
	t.stats.s.TokenRequests++
}

func redactQuery(q url.Values) string {
	r := url.Values{}
	for k, v := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "secret") || strings.Contains(lk, "token") && lk != "$skiptoken" || strings.Contains(lk, "assertion") || strings.Contains(lk, "password") {
			r[k] = []string{"REDACTED"}
			continue
		}
		r[k] = v
	}
	return encodeQuery(r)
}

// routeTemplate replaces ids and keys in a path with placeholders, for counting.
func routeTemplate(path string) string {
	segs := splitPath(path)
	for i, s := range segs {
		if open := strings.IndexByte(s, '('); open > 0 && strings.HasSuffix(s, ")") {
			segs[i] = s[:open] + keyTemplate(s[open+1:len(s)-1])
			continue
		}
		if i > 0 && isCollection(segs[i-1]) && !strings.HasPrefix(s, "$") && !isAction(s) {
			segs[i] = "{id}"
		}
	}
	return "/" + strings.Join(segs, "/")
}

func keyTemplate(key string) string {
	if prop, _, ok := strings.Cut(key, "="); ok {
		return "(" + prop + "='{" + prop + "}')"
	}
	return "('{id}')"
}
