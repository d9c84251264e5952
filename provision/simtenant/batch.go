package simtenant

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
)

const maxBatchRequests = 20

type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// batch serves POST /$batch: each inner request is its own operation (own faults, own count),
// dependents of a failed request get 424, and the envelope answers 200 once it parses.
func (t *Tenant) batch(rq *request) *response {
	if rq.method != http.MethodPost {
		return rq.methodNotAllowed()
	}
	var in struct {
		Requests []batchItem `json:"requests"`
	}
	if err := json.Unmarshal(rq.body, &in); err != nil || in.Requests == nil {
		return rq.graphError(http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
	}
	if len(in.Requests) > maxBatchRequests {
		return rq.graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Number of requests in the batch exceeds the limit of %d.", maxBatchRequests))
	}
	seen := map[string]bool{}
	for _, it := range in.Requests {
		id := strings.ToLower(it.ID)
		if it.ID == "" || it.Method == "" || it.URL == "" {
			return rq.graphError(http.StatusBadRequest, "BadRequest", "Each batch request must have an id, a method and a url.")
		}
		if seen[id] {
			return rq.graphError(http.StatusBadRequest, "BadRequest", "Batch request contains duplicate request ids: '"+it.ID+"'.")
		}
		seen[id] = true
		if hasBody(it.Body) && headerValue(it.Headers, "Content-Type") == "" {
			return rq.graphError(http.StatusBadRequest, "BadRequest", "Write request id : "+it.ID+" does not contain Content-Type header or body.")
		}
	}
	for _, it := range in.Requests {
		for _, d := range it.DependsOn {
			if !seen[strings.ToLower(d)] {
				return rq.graphError(http.StatusBadRequest, "BadRequest", "Request dependsOn an unknown id: '"+d+"'.")
			}
		}
	}
	statuses := map[string]int{}
	var out []any
	pending := in.Requests
	// Run in request order, a request whose dependencies have not run yet waits for them.
	for len(pending) > 0 {
		var later []batchItem
		progressed := false
		for _, it := range pending {
			ready, failed := true, false
			for _, d := range it.DependsOn {
				s, done := statuses[strings.ToLower(d)]
				if !done {
					ready = false
				} else if s >= 400 {
					failed = true
				}
			}
			if !ready {
				later = append(later, it)
				continue
			}
			progressed = true
			var resp *response
			inner := t.innerRequest(rq, it)
			if failed {
				resp = inner.graphError(http.StatusFailedDependency, "FailedDependency", "The request could not be performed because a request it depends on failed.")
				t.record(inner, resp, true, false)
			} else {
				resp = t.operation(inner, false)
			}
			statuses[strings.ToLower(it.ID)] = resp.status
			out = append(out, batchResponse(it.ID, inner, resp))
		}
		if !progressed {
			return rq.graphError(http.StatusBadRequest, "BadRequest", "Batch dependsOn forms a cycle.")
		}
		pending = later
	}
	return jsonResponse(http.StatusOK, map[string]any{"responses": out})
}

func hasBody(b json.RawMessage) bool {
	s := strings.TrimSpace(string(b))
	return s != "" && s != "null"
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// innerRequest turns a batch item into a request relative to /v1.0, with the outer caller.
func (t *Tenant) innerRequest(outer *request, it batchItem) *request {
	u := it.URL
	if parsed, err := url.Parse(u); err == nil && parsed.IsAbs() {
		u = strings.TrimPrefix(parsed.RequestURI(), "/v1.0")
	}
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	p, rawQuery, _ := strings.Cut(u, "?")
	if dec, err := url.PathUnescape(p); err == nil {
		p = dec
	}
	q, _ := url.ParseQuery(rawQuery)
	h := http.Header{}
	for k, v := range it.Headers {
		h.Set(k, v)
	}
	h.Set("Authorization", outer.header.Get("Authorization"))
	var body []byte
	if hasBody(it.Body) {
		body = it.Body
		// A string body is base64 per the batch format; JSON bodies are inline objects.
		var s string
		if json.Unmarshal(it.Body, &s) == nil {
			body = []byte(s)
		}
	}
	return &request{
		method: strings.ToUpper(it.Method), prefix: outer.prefix, path: p, query: q, header: h, body: body,
		base: outer.base, now: outer.now, requestID: uuid.NewString(), clientRequestID: outer.clientRequestID,
		pageSize: outer.pageSize, caller: outer.caller,
	}
}

func batchResponse(id string, rq *request, resp *response) map[string]any {
	headers := map[string]any{}
	for k, v := range resp.header {
		headers[k] = strings.Join(v, ",")
	}
	m := map[string]any{"id": id, "status": resp.status, "headers": headers}
	switch {
	case resp.body != nil:
		headers["Content-Type"] = jsonContentType
		m["body"] = resp.body
	case resp.text != "":
		m["body"] = resp.text
	}
	return m
}
