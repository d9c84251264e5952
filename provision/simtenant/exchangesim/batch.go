package exchangesim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

// maxBatch is how many InvokeCommand requests one $batch carries; CIPP splits its batches at
// 10 (exchange.md §1.1), the real limit is not documented.
const maxBatch = 10

func isBatchPath(path string) bool {
	return strings.HasSuffix(strings.TrimSuffix(path, "/"), "/$batch")
}

// batchRequest is one InvokeCommand inside a $batch, as CIPP sends it: an absolute or relative
// InvokeCommand URL, its own headers (anchor, cmdlet name) and the CmdletInput body.
type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// batchResponse is the OData JSON batch answer of one request.
type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// serveBatch answers POST .../adminapi/beta/{tenantId}/$batch: each request runs as if sent
// alone by the same caller, and the answers come back together with their own statuses. The
// gateway faults apply to the batch as a whole.
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request, caller Caller) {
	if s.Faults().NoBatch {
		writeODataError(w, http.StatusNotFound, "NotFound", "The requested resource does not exist.", nil)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	var body struct {
		Requests []batchRequest `json:"requests"`
	}
	if err != nil || json.Unmarshal(raw, &body) != nil {
		writeODataError(w, http.StatusBadRequest, "BadRequest", "The batch request body is not valid JSON.", nil)
		return
	}
	if len(body.Requests) == 0 || len(body.Requests) > maxBatch {
		writeODataError(w, http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("A batch request must contain between 1 and %d requests; it contains %d.", maxBatch, len(body.Requests)), nil)
		return
	}
	out := make([]batchResponse, 0, len(body.Requests))
	for _, item := range body.Requests {
		out = append(out, s.serveBatchItem(r, item, caller))
	}
	s.mu.Lock()
	s.stats.Batches++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]any{"responses": out})
}

// serveBatchItem runs one request of a batch through the single-request path.
func (s *Server) serveBatchItem(outer *http.Request, item batchRequest, caller Caller) batchResponse {
	resp := batchResponse{ID: item.ID}
	target, err := url.Parse(item.URL)
	if err != nil || !strings.EqualFold(item.Method, http.MethodPost) || !strings.HasSuffix(target.Path, "/InvokeCommand") {
		resp.Status = http.StatusBadRequest
		resp.Body, _ = json.Marshal(map[string]any{"error": map[string]any{"code": "BadRequest",
			"message": "Each batch request must POST to InvokeCommand."}})
		return resp
	}
	sub := outer.Clone(outer.Context())
	sub.URL = &url.URL{Path: target.Path, RawQuery: target.RawQuery}
	sub.Header = outer.Header.Clone()
	for k, v := range item.Headers {
		sub.Header.Set(k, v)
	}
	sub.Header.Del("Content-Encoding")
	sub.Body = io.NopCloser(bytes.NewReader(item.Body))
	rec := httptest.NewRecorder()
	if in, problem := readInput(sub); problem != "" {
		writeODataError(rec, http.StatusBadRequest, "BadRequest", problem, nil)
	} else {
		s.serveCmdlet(rec, sub, in, caller)
	}
	resp.Status = rec.Code
	resp.Headers = map[string]string{}
	for _, h := range []string{"Content-Type", "X-ExceptionType", "x-ms-diagnostics"} {
		if v := rec.Header().Get(h); v != "" {
			resp.Headers[h] = v
		}
	}
	// A NUL-filled 403 is no JSON value; the batch carries the status alone.
	if b := bytes.TrimSpace(rec.Body.Bytes()); json.Valid(b) {
		resp.Body = b
	}
	return resp
}
